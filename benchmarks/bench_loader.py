"""Throughput of the shard writer and the streaming loader on CPU.

Encodes real H.264 clips with ffmpeg (normalized-clip-like: short side 256, 16 fps,
0.5 s GOP), writes a tiers table, shards it (`shards.write_shard_set`), verifies it,
then streams curriculum phase 1 with DataLoader num_workers 0/1/2 and prints
clips/s, clips/s per worker and MB/s of shard data.  The first batch (worker start-up)
is timed separately from the steady state.

    python benchmarks/bench_loader.py [--clips 24] [--seconds 4] [--frames 8] [--size 64] [--samples 192]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.config import parse_params  # noqa: E402
from shards.decode import decode_window  # noqa: E402
from shards.loader import make_phase_loader  # noqa: E402
from shards.stage import write_shard_set  # noqa: E402
from shards.verify import verify_manifest  # noqa: E402

SOURCES = ["testsrc2", "mandelbrot", "life=s=456x256:mold=10:r=16:ratio=0.5", "cellauto=s=456x256:r=16", "smptehdbars", "rgbtestsrc"]


def make_clip(path: Path, i: int, seconds: float, fps: int) -> None:
    src = SOURCES[i % len(SOURCES)]
    spec = src if "=" in src else f"{src}=size=456x256:rate={fps}"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", spec, "-t", str(seconds), "-r", str(fps),
         "-vf", "scale=456:256,setsar=1", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-g", str(fps // 2),
         "-pix_fmt", "yuv420p", "-an", str(path)],
        check=True,
    )


def build(root: Path, clips: int, seconds: float, fps: int, dim: int) -> tuple[Path, Path, Path]:
    clips_dir = root / "clips"
    clips_dir.mkdir(parents=True)
    rows = []
    for i in range(clips):
        cid = hashlib.sha256(str(i).encode()).hexdigest()[:20]
        path = clips_dir / f"{cid}.mp4"
        make_clip(path, i, seconds, fps)
        n = int(seconds * fps)
        rows.append({
            "clip_id": cid, "tier": 1 + i % 5, "clip_path": str(path), "caption": f"benchmark clip {i}", "language": "en",
            "tags": ["bench"], "embedding_row": i, "difficulty": (i % 5) * 0.2 + 0.19 * i / clips, "quality": 0.5,
            "flow_curve": [0.01] * (n - 1), "duration_s": seconds, "fps": float(fps), "num_frames": n, "width": 456, "height": 256,
            "clip_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        })
    tiers = root / "tiers.parquet"
    pq.write_table(pa.Table.from_pylist(rows), tiers)
    emb = root / "emb.npy"
    np.save(emb, np.random.default_rng(0).standard_normal((clips, dim)).astype(np.float32))
    return clips_dir, tiers, emb


def print_stream_rates(params, shards_dir: Path, batch: int, samples: int, workers: list[int], per_sample_mb: float) -> None:
    """Stream curriculum phase 1 of `params` with each DataLoader worker count; print clips/s (first batch timed apart)."""
    print(f"{'workers':>7} {'startup s':>9} {'clips/s':>8} {'clips/s/worker':>14} {'MB/s':>6}")
    for w in workers:
        loader, _ = make_phase_loader(params, 0, shards_dir, batch_size=batch, num_workers=w)
        nb = max(2, samples // batch)
        t0 = time.perf_counter()
        it = iter(loader)
        next(it)
        t1 = time.perf_counter()
        for _ in range(nb - 1):
            next(it)
        t2 = time.perf_counter()
        del it
        n = (nb - 1) * batch
        rate = n / (t2 - t1)
        print(f"{w:>7} {t1 - t0:>9.2f} {rate:>8.1f} {rate / max(w, 1):>14.1f} {rate * per_sample_mb:>6.1f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--fps", type=int, default=16)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--samples", type=int, default=192, help="samples streamed per worker setting")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()

    print(f"host: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (other work on the machine slows every figure)")
    with tempfile.TemporaryDirectory(prefix="bench_loader_") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        clips_dir, tiers, emb = build(root, args.clips, args.seconds, args.fps, 384)
        print(f"encoded {args.clips} clips ({args.seconds:g} s, 456x256 @ {args.fps} fps) in {time.perf_counter() - t:.1f} s")

        shard = parse_params({"shard": {"max_samples": 4, "max_bytes": 64 << 20}}).shard
        t = time.perf_counter()
        m = write_shard_set(tiers, root / "shards", shard, clips_root=clips_dir, text_embeddings=emb, progress=False)
        dt = time.perf_counter() - t
        mb = m["totals"]["bytes"] / 1e6
        print(f"write: {m['totals']['shards']} shards, {m['totals']['samples']} samples, {mb:.1f} MB in {dt:.2f} s = {mb / dt:.1f} MB/s, {m['totals']['samples'] / dt:.0f} clips/s")
        t = time.perf_counter()
        rep = verify_manifest(root / "shards")
        dt = time.perf_counter() - t
        print(f"verify: ok={rep.ok} {mb:.1f} MB in {dt:.2f} s = {mb / dt:.0f} MB/s")

        per_sample_mb = mb / m["totals"]["samples"]
        clip = next(clips_dir.glob("*.mp4")).read_bytes()
        rng = np.random.default_rng(0)
        t = time.perf_counter()
        for _ in range(20):
            decode_window(clip, frames=args.frames, stride=1, size=args.size, rng=rng)
        print(f"decode only (decord, one clip, {args.frames} frames -> {args.size}px): {(time.perf_counter() - t) / 20 * 1000:.1f} ms/clip")
        params = parse_params({
            "loader": {"frames": args.frames, "size": args.size, "shuffle_buffer": 8},
            "curriculum": {"phases": [{"tiers": {1: 1, 2: 1, 3: 1, 4: 1, 5: 1}}]},
        })
        print(f"\nstream: phase 1 over all tiers, batch {args.batch}, {args.frames} frames at {args.size}x{args.size}, {args.samples} samples")
        print_stream_rates(params, root / "shards", args.batch, args.samples, args.workers, per_sample_mb)
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
