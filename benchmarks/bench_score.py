"""Throughput of the score stage on CPU: clips/s and seconds of video per second.

Makes a small corpus of clips shaped like ingest output (H.264 yuv420p, 16 fps,
keyframe every 8 frames, 456x256 by default) with ffmpeg, then scores it with
each CLIP model in-process (one worker, `--threads` torch threads), after a
warm-up clip.  CLIP weights are RANDOM-INIT (seeded): throughput does not
depend on the weight values, and no weights can be downloaded here.  Prints the
settings and a breakdown: decode + flow + signals (MeasureStage) vs CLIP embedding
(ClipEmbedStage), for each model in each precision (fp32, bf16 weights).

    python benchmarks/bench_score.py                     # ViT-B-32 and ViT-S-32
    python benchmarks/bench_score.py --models ViT-B-32 --clips 8 --seconds 10
    python benchmarks/bench_score.py --engine-workers 2  # also time run_score with the local engine
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SOURCES = ["testsrc2", "mandelbrot", "color=c=0x4477aa", "life=mold=10:ratio=0.1:death_color=#202020:life_color=#e0e0a0", "cellauto=rule=30", "rgbtestsrc"]


def make_clips(root: Path, n: int, seconds: float, size: str, fps: int) -> list[Path]:
    out = []
    for i in range(n):
        src = SOURCES[i % len(SOURCES)]
        sep = ":" if "=" in src else "="
        p = root / f"clip_{i:02d}.mp4"
        cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"{src}{sep}size={size}:rate={fps}", "-t", str(seconds)]
        cmd += ["-c:v", "libx264", "-preset", "veryfast", "-g", str(fps // 2), "-pix_fmt", "yuv420p", str(p)]
        subprocess.run(cmd, check=True)
        out.append(p)
    return out


def bench_model(model: str, precision: str, clips: list[Path], fps: int, threads: int, args) -> dict:
    """The score chain in this process: MeasureStage (decode, flow, cuts, signals, CLIP frames)
    then ClipEmbedStage (CLIP vision tower in `precision`), each timed."""
    import torch

    from curation.config import parse_params
    from curation.score.clip_stage import ClipEmbedStage
    from curation.score.measure import MeasureStage

    params = parse_params({"score": {"clip": {"model": model, "pretrained": None, "allow_random_init": True, "sample_fps": args.clip_fps, "max_frames": args.max_frames, "precision": precision},
                                     "flow": {"sample_fps": args.flow_fps}}})  # fmt: skip
    torch.set_num_threads(threads)
    measure = MeasureStage(params.score, params.cuts, clips[0].parent, "bench")
    embed = ClipEmbedStage(params.score.clip, "random-init", precision, threads=threads)
    t = time.perf_counter()
    measure.setup()
    embed.setup()
    load_s = time.perf_counter() - t
    task = lambda p: {"clip_id": p.stem, "clip_path": str(p), "fps": float(fps)}  # noqa: E731
    embed.process_batch(measure.process_batch([task(clips[0])])[0])  # warm-up
    t_measure = t_clip = 0.0
    t, cpu = time.perf_counter(), time.process_time()
    frames = 0
    for p in clips:
        t0 = time.perf_counter()
        rows = measure.process(task(p))
        t1 = time.perf_counter()
        (row,) = embed.process_batch(rows)[0]
        t_clip += time.perf_counter() - t1
        t_measure += t1 - t0
        assert row["score_error"] is None, row["score_error"]
        frames += row["frames_decoded"]
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    return {"model": model, "precision": precision, "load_s": load_s, "wall_s": wall, "cpu_s": cpu, "clip_s": t_clip, "frames": frames}


def bench_engine(model: str, clips: list[Path], fps: int, workers: int, root: Path, args) -> float:
    """run_score end to end (driver model load + worker pool + dedup + parquet)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curation.config import parse_params
    from curation.score import run_score

    n = len(clips)
    rows = {"clip_id": [p.stem for p in clips], "clip_path": [str(p) for p in clips], "clip_sha256": [p.stem for p in clips], "fps": [float(fps)] * n,
            "num_frames": [int(args.seconds * fps)] * n, "duration_s": [args.seconds] * n,
            "source_path": [p.name for p in clips], "start_s": [0.0] * n}  # fmt: skip
    pq.write_table(pa.table(rows), root / "clips.parquet")
    params = parse_params({
        "paths": {"clips_dir": str(clips[0].parent), "clips_table": str(root / "clips.parquet"), "captions_table": str(root / "none.parquet"), "stores_dir": str(root / f"stores{workers}"),
                  "scores_table": str(root / "scores.parquet"), "metrics_dir": str(root / "metrics")},
        "engine": {"workers": workers},
        "score": {"clip": {"model": model, "pretrained": None, "allow_random_init": True, "sample_fps": args.clip_fps, "max_frames": args.max_frames}, "flow": {"sample_fps": args.flow_fps}},
    })  # fmt: skip
    t = time.perf_counter()
    run_score(params, progress=False)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["ViT-B-32", "ViT-S-32"], help="open_clip model names (random init)")
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"], help="score.clip.precision values to compare")
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each clip")
    ap.add_argument("--size", default="456x256", help="clip size (ingest default: short side 256)")
    ap.add_argument("--fps", type=int, default=16)
    ap.add_argument("--clip-fps", type=float, default=1.0, help="score.clip.sample_fps")
    ap.add_argument("--max-frames", type=int, default=16, help="score.clip.max_frames")
    ap.add_argument("--flow-fps", type=float, default=4.0, help="score.flow.sample_fps")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads (default: all cores)")
    ap.add_argument("--engine-workers", type=int, default=0, help="also time run_score with this many local workers (0: skip)")
    args = ap.parse_args()

    import torch

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "clips").mkdir()
        clips = make_clips(root / "clips", args.clips, args.seconds, args.size, args.fps)
        print(f"score benchmark: {len(clips)} clips x {args.seconds:g} s, {args.size} @ {args.fps} fps (H.264, GOP {args.fps // 2});"
              f" CLIP {args.clip_fps:g} frame/s (max {args.max_frames}), flow {args.flow_fps:g} pairs/s, torch {torch.__version__},"
              f" {args.threads} torch threads, {os.cpu_count()} CPUs; CLIP weights RANDOM-INIT (speed only)")  # fmt: skip
        print("wall-clock figures; 'cpu s/clip' is process CPU time (all threads), a check on a shared machine")
        print(f"{'model':<10} {'prec':>5} {'clips/s':>8} {'video s/s':>10} {'s/clip':>7} {'CLIP s/clip':>12} {'rest s/clip':>12} {'cpu s/clip':>11} {'load s':>7}")
        for model in args.models:
            for precision in args.precisions:
                r = bench_model(model, precision, clips, args.fps, args.threads, args)
                n = len(clips)
                print(f"{model:<10} {precision:>5} {n / r['wall_s']:>8.2f} {n * args.seconds / r['wall_s']:>10.2f} {r['wall_s'] / n:>7.2f}"
                      f" {r['clip_s'] / n:>12.2f} {(r['wall_s'] - r['clip_s']) / n:>12.2f} {r['cpu_s'] / n:>11.2f} {r['load_s']:>7.1f}", flush=True)  # fmt: skip
            if args.engine_workers:
                wall = bench_engine(model, clips, args.fps, args.engine_workers, root, args)
                print(f"{'':<10} run_score, local engine, {args.engine_workers} workers: {wall:.1f} s total, {len(clips) / wall:.2f} clips/s (incl. model loads)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
