"""Ingest throughput and memory, next to a plain ffmpeg decode of the same files.

Makes N synthetic 60 s 1280x720 30 fps H.264 inputs with lavfi (cached in the
work folder), runs `run_ingest` on them with the params.yaml ingest/engine
settings, and prints video-seconds per wall-second, peak RSS (this process and
its children: the engine's workers and their ffmpeg processes), and the time
of `ffmpeg -i f -f null -` for the same files with the ratio.

    python benchmarks/bench_ingest.py            # 3 files
    python benchmarks/bench_ingest.py --files 2  # on a busy machine
    python benchmarks/bench_ingest.py --presets ultrafast superfast veryfast   # x264 presets side by side

With --presets, each x264 preset ingests the same inputs at the same crf: video-s/s, CPU-s
per video-s (this process + its children) and the bytes of the clips written, so speed and
size can be weighed (ingest.preset is part of the ingest params hash: changing it re-encodes).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml  # noqa: E402
from _common import TreeRSS, encode_lavfi, null_decode_seconds  # noqa: E402

from curation.config import deep_merge, parse_params  # noqa: E402
from curation.ingest import run_ingest  # noqa: E402

SOURCES = ["testsrc2", "rgbtestsrc", "smptehdbars"]  # moving / static-ish patterns; light temporal noise like a real sensor


def make_inputs(folder: Path, files: int, seconds: float) -> list[Path]:
    out = []
    for i in range(files):
        src = SOURCES[i % len(SOURCES)]
        graph = f"{src}=s=1280x720:r=30,noise=alls=3:allf=t:all_seed={i},hue=h={i * 40}"
        out.append(encode_lavfi(folder / f"in_v2_{i:02d}_{int(seconds)}s.mp4", graph, seconds))
    return out


def compare_presets(params, presets: list[str], out: Path, video_s: float, t_null: float) -> int:
    from _common import cpu_seconds, load_line

    ing = params.ingest
    print(f"x264 presets at crf {ing.crf}, {ing.fps:g} fps, short side {ing.short_side}, engine x{params.engine.workers}; "
          f"floor (ffmpeg -i f -f null -, one at a time) {video_s / t_null:.1f} video-s/s; {load_line()}")  # fmt: skip
    for preset in presets:
        shutil.rmtree(out, ignore_errors=True)
        p = params.model_copy(update={"ingest": ing.model_copy(update={"preset": preset})})
        c0, t0 = cpu_seconds(), time.perf_counter()
        s = run_ingest(p, progress=False, echo=False)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        mb = sum(f.stat().st_size for f in (out / "clips").rglob("*.mp4")) / 1e6
        print(f"  {preset:<10} {video_s / wall:6.2f} video-s/s ({wall / t_null:.2f}x the one-process floor time)  {cpu / video_s:.3f} CPU-s per video-s  "
              f"{s.clips} clips {mb:7.2f} MB ({mb * 8 / max(s.hours_out * 3600, 1e-9) * 1000:.0f} kbit/s)  {load_line()}")  # fmt: skip
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=3, help="number of 60 s inputs (default 3)")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each input (default 60)")
    ap.add_argument("--params", default="params.yaml", help="ingest/engine settings come from here")
    ap.add_argument("--workers", type=int, help="override engine.workers")
    ap.add_argument("--workdir", default="benchmarks/out/ingest", help="inputs (cached) and outputs")
    ap.add_argument("--presets", nargs="+", help="compare these x264 presets (same inputs, same crf)")
    args = ap.parse_args()

    work = Path(args.workdir)
    inputs = make_inputs(work / "inputs", args.files, args.seconds)
    raw = work / f"raw_{args.files}"
    shutil.rmtree(raw, ignore_errors=True)
    raw.mkdir(parents=True)
    for f in inputs:
        (raw / f.name).symlink_to(f.resolve())
    video_s = args.files * args.seconds

    t_null = null_decode_seconds(inputs, parallel=1)

    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    over = {"paths": {"raw": str(raw), "clips_dir": str(out / "clips"), "clips_table": str(out / "clips.parquet"),
                      "rejects_table": str(out / "rejects.parquet"), "metrics_dir": str(out / "metrics")}}  # fmt: skip
    if args.workers:
        over = deep_merge(over, {"engine": {"workers": args.workers}})
    data = yaml.safe_load(Path(args.params).read_text(encoding="utf-8")) or {}
    # only the sections ingest uses, so a half-edited section elsewhere cannot stop the benchmark
    params = parse_params(deep_merge({k: data[k] for k in ("ingest", "engine") if k in data}, over), args.params)
    if args.presets:
        return compare_presets(params, args.presets, out, video_s, t_null)
    with TreeRSS() as peak:
        t0 = time.perf_counter()
        summary = run_ingest(params, progress=False)
        t_ingest = time.perf_counter() - t0
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    # a second run with nothing changed: the incremental path
    t0 = time.perf_counter()
    again = run_ingest(params, progress=False, echo=False)
    t_rerun = time.perf_counter() - t0

    ing = params.ingest
    print(f"inputs: {args.files} x {args.seconds:g} s 1280x720 30 fps H.264 ({video_s:g} video-s); "
          f"ingest -> {ing.fps:g} fps, short side {ing.short_side}, {ing.preset}, crf {ing.crf}, "
          f"engine {params.engine.name} x{params.engine.workers}, ffmpeg threads {ing.ffmpeg_threads}; {psutil.cpu_count()} CPUs")  # fmt: skip
    print(f"ffmpeg -i f -f null - : {t_null:7.2f} s wall  {video_s / t_null:7.1f} video-s/s")
    print(f"run_ingest            : {t_ingest:7.2f} s wall  {video_s / t_ingest:7.1f} video-s/s  ({summary.clips} clips, {summary.hours_out * 3600:.0f} s out)")
    print(f"ratio ingest/null-decode time: {t_ingest / t_null:.2f}x")
    print(f"peak RSS: sampled tree total {peak.peaks.total / 2**20:.0f} MiB, per process: {peak.peaks.line()}; ru_maxrss self {self_rss:.0f} MiB, largest child {child_rss:.0f} MiB")
    print(f"re-run with nothing changed: {t_rerun:.2f} s (processed {again.processed}, reused {again.reused})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
