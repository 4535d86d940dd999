"""Cost of the curation signals (camera motion, overlays, content flags, black bars) next to the
existing per-clip score cost.

Per-clip signals are timed on exactly the inputs the score pass has in hand (the clip is decoded
once here, like `MeasureStage.measure`: grey flow-pair frames at flow.width and their DIS flow, the
full-size grey of each pair's first frame, the CLIP frames): the figure is the signal's own work,
not a second decode.  The baseline is the score chain on the same clips, one clip at a time:
`MeasureStage.process` (decode + DIS flow + cuts + cheap signals + the three signals + CLIP frames)
then `ClipEmbedStage.process` (ViT-S-32 random-init, 1 torch thread).  The percentages divide by
the score pass WITHOUT the signals (MeasureStage with the three meters replaced by no-ops, + CLIP),
as the figures before the signals were wired in did; the in-stage cost (MeasureStage with minus
without) is printed too.  Black bars are a
per-SOURCE ingest cost (a few seeks + single-frame decodes), shown against the ffmpeg decode floor
of that source.  Also times cv2.estimateAffinePartial2D (RANSAC) on the same flow grid as the
deterministic IRLS fit, for comparison.

    python benchmarks/bench_signals.py                       # 4 clips x 10 s, 456x256 @ 16 fps
    python benchmarks/bench_signals.py --clips 2 --seconds 5 --no-baseline
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import FFMPEG, load_line, null_decode_seconds  # noqa: E402

ENC = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-g", "8", "-pix_fmt", "yuv420p", "-an"]


def make_clips(root: Path, n: int, seconds: float, size: str, fps: int) -> list[Path]:
    """Ingest-shaped clips: a pan over a blob texture with a logo, testsrc2, mandelbrot, a slow tilt."""
    w, h = (int(v) for v in size.split("x"))
    texture = root / "texture.png"
    subprocess.run([*FFMPEG, "-f", "lavfi", "-i", f"color=gray:s=64x36,noise=alls=100:allf=0:all_seed=7,scale={3 * w}x{3 * h}:flags=bicubic", "-frames:v", "1", str(texture)], check=True)
    kinds = [
        ["-loop", "1", "-framerate", str(fps), "-i", str(texture), "-vf", f"crop={w}:{h}:x='t*{w // 5}':y={h},drawbox=x={w - 80}:y=10:w=64:h=30:color=white:t=2"],
        ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}"],
        ["-f", "lavfi", "-i", f"mandelbrot=size={size}:rate={fps}"],
        ["-loop", "1", "-framerate", str(fps), "-i", str(texture), "-vf", f"crop={w}:{h}:x={w}:y='{2 * h}-t*{h // 8}'"],
    ]
    out = []
    for i in range(n):
        p = root / f"clip_{i:02d}.mp4"
        subprocess.run([*FFMPEG, *kinds[i % len(kinds)], "-t", str(seconds), "-r", str(fps), *ENC, str(p)], check=True)
        out.append(p)
    return out


def score_inputs(path: Path, flow_width: int, flow_fps: float, clip_fps: float, max_frames: int, preset: str) -> dict:
    """Decode once, keep what the score pass has per pair / per CLIP frame (benchmark only: kept in lists)."""
    from curation.media.cuts import resize_width
    from curation.score import signals as sig
    from curation.score.flow import make_dis
    from curation.score.frames import ClipVideo, clip_frame_indices, flow_pair_starts

    dis = make_dis(preset)
    pairs, pictures = [], []
    with ClipVideo(path) as video:
        n, fps = video.num_frames, video.avg_fps
        starts, clip_idx = set(flow_pair_starts(n, fps, flow_fps)), set(clip_frame_indices(n, fps, clip_fps, max_frames))
        first = first_full = None
        for i, rgb in video.iter_frames():
            if i in clip_idx:
                pictures.append(rgb.copy())
            if i in starts or (i - 1) in starts:
                full = sig.to_grey(rgb)
                small = resize_width(full, flow_width)
                if (i - 1) in starts and first is not None:
                    pairs.append((first, small, first_full, dis.calc(first, small, None)))
                if i in starts:
                    first, first_full = small, full
    return {"fps": fps, "pairs": pairs, "pictures": pictures}


def time_signals(inp: dict, repeat: int) -> dict[str, float]:
    """Best-of-`repeat` milliseconds per clip of each signal's own work."""
    from curation.score.camera import CameraMotionMeter
    from curation.score.content import ContentMeter, content_flags
    from curation.score.overlay import OverlayDetector

    def camera():
        m = CameraMotionMeter(inp["fps"])
        for first, _, _, flow in inp["pairs"]:
            m.add(flow, first)
        return m.result()

    def overlay():
        d = OverlayDetector()
        for _, _, full, _ in inp["pairs"]:
            d.add(full)
        return d.result()

    def content():
        m = ContentMeter()
        for rgb in inp["pictures"]:
            m.add_picture(rgb)
        for first, second, _, _ in inp["pairs"]:
            m.add_pair(first, second)
        return content_flags(m.summary())

    out = {}
    for name, fn in (("camera", camera), ("overlay", overlay), ("content", content)):
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        out[name] = best * 1000.0
    return out


def time_ransac(inp: dict) -> tuple[float, float]:
    """ms per pair: IRLS fit (ours) vs cv2.estimateAffinePartial2D RANSAC on the same grid points."""
    import cv2
    import numpy as np

    from curation.score.camera import CameraParams, _grid, fit_global_motion

    p = CameraParams()
    irls = ransac = 0.0
    cv2.setRNGSeed(0)
    for first, _, _, flow in inp["pairs"]:
        t = time.perf_counter()
        fit_global_motion(flow, p, first)
        irls += time.perf_counter() - t
        rr, cc, _, _ = _grid(flow.shape[0], flow.shape[1], p.grid_step, p.margin)
        src = np.stack([cc, rr], axis=1).astype(np.float32)
        dst = src + flow[rr, cc]
        t = time.perf_counter()
        cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=p.inlier_px, maxIters=2000, confidence=0.99, refineIters=10)
        ransac += time.perf_counter() - t
    n = max(1, len(inp["pairs"]))
    return irls / n * 1000.0, ransac / n * 1000.0


def _no_signal_meters():
    """Stand-ins for the three meters inside MeasureStage that take every input and measure nothing
    (their results are the empty ones), so the same pass can be timed without the signals."""
    from curation.score.camera import CameraMotionMeter
    from curation.score.content import ContentMeter
    from curation.score.overlay import OverlayDetector

    class NoCamera(CameraMotionMeter):
        def add(self, flow, grey=None):
            return None

    class NoOverlay(OverlayDetector):
        def add(self, grey):
            return None

    class NoContent(ContentMeter):
        def add_picture(self, rgb):
            return {}

        def add_pair(self, first, second):
            return False

    return {"CameraMotionMeter": NoCamera, "OverlayDetector": NoOverlay, "ContentMeter": NoContent}


def baseline(clips: list[Path], fps: int, args) -> dict[str, float]:
    """ms per clip (best of --repeat per clip, mean over clips) of the score chain on one clip:
    MeasureStage.process (decode, flow, cuts, cheap signals, camera / overlay / content, CLIP frames)
    then ClipEmbedStage.process (ViT-S-32 random-init, 1 torch thread), and MeasureStage.process
    again with the three signal meters replaced by no-ops (the score pass as it was without them)."""
    from unittest import mock

    from curation.config import parse_params
    from curation.score import measure as measure_mod
    from curation.score.clip_model import resolve_precision, weights_label
    from curation.score.clip_stage import ClipEmbedStage
    from curation.score.measure import MeasureStage

    params = parse_params({"score": {"clip": {"model": "ViT-S-32", "pretrained": None, "allow_random_init": True, "sample_fps": args.clip_fps,
                                              "max_frames": args.max_frames, "precision": args.precision},
                                     "flow": {"sample_fps": args.flow_fps, "width": args.flow_width, "preset": args.preset}}})  # fmt: skip
    weights, _ = weights_label(params.score.clip)
    measure = MeasureStage(params.score, params.cuts, clips[0].parent, "bench")
    embed = ClipEmbedStage(params.score.clip, weights, resolve_precision(args.precision, "cpu"), threads=1)
    measure.setup()
    embed.setup()
    task = lambda p: {"clip_id": p.stem, "clip_path": str(p), "fps": float(fps)}  # noqa: E731

    def chain(p):
        (row,) = measure.process(task(p))
        assert row["score_error"] is None, row["score_error"]
        embed.process(row)

    def measure_only(p):
        (row,) = measure.process(task(p))
        assert row["score_error"] is None, row["score_error"]

    def measure_without(p):
        with mock.patch.multiple(measure_mod, **_no_signal_meters()):
            measure_only(p)

    chain(clips[0])  # warm-up (CLIP's first forward pass)
    # with and without the signals timed in turns, clip by clip: load from other processes hits both alike
    runs = {"chain": chain, "measure": measure_only, "measure_without": measure_without}
    times: dict[str, list[float]] = {k: [] for k in runs}
    for p in clips:
        best_ms = {k: float("inf") for k in runs}
        for _ in range(args.repeat):
            for k, fn in runs.items():
                t = time.perf_counter()
                fn(p)
                best_ms[k] = min(best_ms[k], (time.perf_counter() - t) * 1000.0)
        for k in runs:
            times[k].append(best_ms[k])
    out: dict = {k: statistics.mean(v) for k, v in times.items()}
    out["clip"] = out["chain"] - out["measure"]
    out["precision"] = embed.precision
    return out


def bench_blackbars(root: Path, seconds: float, repeat: int) -> list[tuple[str, float, float, object]]:
    """(label, ms per source for detect_black_bars, ms of the ffmpeg null-decode floor, box) on letterboxed sources."""
    from curation.media import probe_media
    from curation.media.blackbars import detect_black_bars

    rows = []
    for label, size, pad in (("720p letterbox", "1280x536", "1280:720:0:92"), ("1080p pillarbox", "1440x1080", "1920:1080:240:0")):
        src = root / f"bars_{size}.mp4"
        subprocess.run([*FFMPEG, "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30", "-t", str(seconds), "-vf", f"pad={pad}:black",
                        "-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-pix_fmt", "yuv420p", str(src)], check=True)  # fmt: skip
        info = probe_media(src)
        best, box = float("inf"), None
        for _ in range(repeat):
            t = time.perf_counter()
            box = detect_black_bars(src, info)
            best = min(best, time.perf_counter() - t)
        floor = null_decode_seconds([src], threads=1)
        rows.append((f"{label} {seconds:g} s", best * 1000.0, floor * 1000.0, box))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each clip (ingest's max_clip_seconds)")
    ap.add_argument("--size", default="456x256")
    ap.add_argument("--fps", type=int, default=16)
    ap.add_argument("--clip-fps", type=float, default=1.0)
    ap.add_argument("--max-frames", type=int, default=16)
    ap.add_argument("--flow-fps", type=float, default=4.0)
    ap.add_argument("--flow-width", type=int, default=160)
    ap.add_argument("--preset", default="fast", help="DIS preset (score.flow.preset)")
    ap.add_argument("--repeat", type=int, default=3, help="best of N timings per signal")
    ap.add_argument("--source-seconds", type=float, default=60.0, help="length of the black-bar sources")
    ap.add_argument("--precision", default="fp32", choices=["auto", "fp32", "bf16"], help="CLIP precision of the baseline (fp32: as before score.clip.precision existed)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the score-chain baseline (loads CLIP)")
    args = ap.parse_args()

    import cv2

    cv2.setNumThreads(1)  # as MeasureStage.setup does
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "clips").mkdir()
        clips = make_clips(root / "clips", args.clips, args.seconds, args.size, args.fps)
        print(f"signals benchmark: {len(clips)} clips x {args.seconds:g} s, {args.size} @ {args.fps} fps; flow {args.flow_fps:g} pairs/s at {args.flow_width} px"
              f" (DIS {args.preset}), CLIP frames {args.clip_fps:g}/s (max {args.max_frames}); 1 thread; {os.cpu_count()} CPUs; {load_line()}")  # fmt: skip
        per = {"camera": [], "overlay": [], "content": []}
        irls, ransac, pairs = [], [], []
        for p in clips:
            inp = score_inputs(p, args.flow_width, args.flow_fps, args.clip_fps, args.max_frames, args.preset)
            for k, v in time_signals(inp, args.repeat).items():
                per[k].append(v)
            a, b = time_ransac(inp)
            irls.append(a)
            ransac.append(b)
            pairs.append(len(inp["pairs"]))
        base = base_rest = b = None
        if not args.no_baseline:
            b = baseline(clips, args.fps, args)
            base_rest = b["measure_without"]  # the score pass without the signals and without CLIP
            base = base_rest + b["clip"]  # ... with CLIP
        total = sum(statistics.mean(v) for v in per.values())
        print(f"\nper clip ({statistics.mean(pairs):.0f} flow pairs, best of {args.repeat}):")
        hdr = f"{'signal':<10} {'ms/clip':>8}"
        if base is not None:
            hdr += f" {'% of score':>11} {'% of score w/o CLIP':>20}"
        print(hdr)
        for k, v in list(per.items()) + [("all three", [total])]:
            ms = statistics.mean(v)
            line = f"{k:<10} {ms:>8.1f}"
            if base is not None:
                line += f" {100 * ms / base:>10.1f}% {100 * ms / base_rest:>19.1f}%"
            print(line)
        if b is not None:
            print(f"baseline: score chain without the signals (MeasureStage, meters no-op + ClipEmbedStage ViT-S-32 random-init {b['precision']}, 1 thread): "
                  f"{base:.0f} ms/clip, without CLIP {base_rest:.0f} ms/clip")
            extra = b["measure"] - b["measure_without"]
            print(f"wired in: MeasureStage.process {b['measure']:.0f} ms/clip with the signals vs {b['measure_without']:.0f} without: +{extra:.0f} ms "
                  f"(+{100 * extra / base:.1f}% of score, +{100 * extra / base_rest:.1f}% without CLIP); whole chain {b['chain']:.0f} ms/clip")  # fmt: skip
        print(f"global-motion fit per pair: IRLS (ours, deterministic) {statistics.mean(irls):.2f} ms; cv2.estimateAffinePartial2D RANSAC {statistics.mean(ransac):.2f} ms")
        print("\nblack bars (per source, ingest):")
        for label, ms, floor, box in bench_blackbars(root, args.source_seconds, args.repeat):
            print(f"  {label:<26} detect {ms:>6.0f} ms = {100 * ms / floor:>5.1f}% of the source's ffmpeg decode floor ({floor:.0f} ms); box {tuple(box) if box else None}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
