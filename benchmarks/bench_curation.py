"""The full curation path (ingest -> score) side by side with an ffmpeg decode floor.

Six 60 s 1280x720 30 fps H.264 inputs made with ffmpeg lavfi (cached in the work
folder): testsrc2, mandelbrot, a near-static colour + text card with light
sensor noise, hard cuts every 10 s (a concat of six different sources), life and
cellauto (both scaled up to 1280x720).  Then:

1. throughput: `run_ingest` (probe, cut split, normalize transcode) and
   `run_score` (DIS flow, cheap signals, open_clip CLIP at score.clip.sample_fps)
   with the params.yaml ingest/score/engine settings, in video-seconds per
   wall-second, next to `ffmpeg -i f -f null -` on the same files with as many
   parallel processes as engine workers (and one at a time).  The caption stage
   is skipped (no sidecars; captions_table absent, so caption_similarity is null).
   CLIP weights: whatever params.yaml loads; offline that is RANDOM-INIT
   (ViT-B-32), which costs the same as real weights.  The output says which.
2. memory: peak RSS per process over the process tree (psutil, every 0.1 s):
   the parent, each engine worker, a worker plus its ffmpeg children, each
   ffmpeg; for the 1-minute inputs (the run above) and for ingesting a
   `--long-minutes` long 720p30 testsrc2 + noise input (made with -preset
   ultrafast, cached; next to one 1-minute input so the engine runs its pool).
3. loader: tiers (run_tier) and shards (write_shard_set) from the curated clips,
   then streaming clips/s per DataLoader worker (bench_loader.stream_rates).

    python benchmarks/bench_curation.py                    # everything (first run makes the inputs)
    python benchmarks/bench_curation.py --long-minutes 0   # skip the long-input memory run
    python benchmarks/bench_curation.py --sources testsrc2 cuts --no-loader
    python benchmarks/bench_curation.py --skip-curation --no-loader  # only the long-input memory run
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import yaml  # noqa: E402
from _common import TreeRSS, cpu_seconds, encode_lavfi, load_line, null_decode_seconds  # noqa: E402

from curation.config import deep_merge, parse_params  # noqa: E402

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
HD = "s=1280x720:r=30"
_SCALE = "scale=1280:720:flags=neighbor,setsar=1"
_CUT_PARTS = [  # six different 10 s shots
    f"testsrc2={HD}",
    f"smptehdbars={HD}",
    f"mandelbrot={HD}",
    f"rgbtestsrc={HD}",
    "color=c=0x884422:" + HD + ",noise=alls=4:allf=t",
    "cellauto=s=320x180:r=30:rule=30," + _SCALE,
]
_CUTS = ";".join(f"{p},trim=duration=10,setpts=PTS-STARTPTS,format=yuv420p,setsar=1[p{i}]" for i, p in enumerate(_CUT_PARTS))
_CUTS += ";" + "".join(f"[p{i}]" for i in range(len(_CUT_PARTS))) + f"concat=n={len(_CUT_PARTS)}:v=1:a=0[out0]"

#: name -> lavfi graph (1280x720, 30 fps)
SOURCES = {
    "testsrc2": f"testsrc2={HD}",
    "mandelbrot": f"mandelbrot={HD}",
    "static": f"color=c=0x2a4d69:{HD},drawtext=fontfile={FONT}:text='Quarterly review':fontsize=72:fontcolor=white:x=120:y=300,noise=alls=2:allf=t",
    "cuts": _CUTS,
    "life": "life=s=320x180:r=30:mold=10:ratio=0.1:death_color=#202020:life_color=#e0e0a0," + _SCALE,
    "cellauto": "cellauto=s=320x180:r=30:rule=110," + _SCALE,
}
LONG = f"testsrc2={HD},noise=alls=3:allf=t"


def make_inputs(folder: Path, names: list[str], seconds: float) -> list[Path]:
    out = []
    for name in names:
        f = folder / f"{name}_{int(seconds)}s.mp4"
        if not f.exists():
            t = time.perf_counter()
            encode_lavfi(f, SOURCES[name], seconds)
            print(f"  made {f} in {time.perf_counter() - t:.0f} s", flush=True)
        out.append(f)
    return out


def link_folder(folder: Path, files: list[Path]) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for f in files:
        (folder / f.name).symlink_to(f.resolve())
    return folder


def stage_params(params_file: str, out: Path, raw: Path, workers: int | None):
    """params.yaml's ingest/score/engine/tier/shard/loader sections, every path under `out`."""
    data = yaml.safe_load(Path(params_file).read_text(encoding="utf-8")) or {}
    keep = {k: data[k] for k in ("ingest", "score", "engine", "tier", "shard", "loader") if k in data}
    paths = {"raw": str(raw), "clips_dir": str(out / "clips"), "metrics_dir": str(out / "metrics"), "shards_dir": str(out / "shards")}
    for name in ("clips_table", "rejects_table", "scores_table", "tiers_table", "captions_table"):
        paths[name] = str(out / f"{name.removesuffix('_table')}.parquet")
    over = {"paths": paths}
    if workers:
        over["engine"] = {"workers": workers}
    return parse_params(deep_merge(keep, over), params_file)


def vps(video_s: float, wall: float, cpu: float | None = None) -> str:
    line = f"{video_s / wall:7.2f} video-s/s ({wall:6.1f} s wall"
    return line + (f", {cpu / video_s:5.3f} CPU-s per video-s)" if cpu is not None else ")")


def timed(fn, *args, **kw):
    """(fn's result, wall seconds, CPU seconds of this process and its children)."""
    c0, t0 = cpu_seconds(), time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0, cpu_seconds() - c0


def run_curation(params):
    from curation.ingest import run_ingest
    from curation.score import run_score

    with TreeRSS() as ing_mem:
        ing = timed(run_ingest, params, progress=False, echo=False)
    with TreeRSS() as sc_mem:
        sc = timed(run_score, params, progress=False)
    return ing, sc, ing_mem.peaks, sc_mem.peaks


def loader_rates(params, out: Path, args) -> None:
    import bench_loader

    from curation.tier.run import run_tier
    from shards.stage import write_shard_set

    run_tier(params, verbose=False)
    shard = parse_params({"shard": {"max_samples": 16, "max_bytes": 64 << 20}}).shard
    shutil.rmtree(out / "shards", ignore_errors=True)
    t = time.perf_counter()
    m = write_shard_set(params.paths.tiers_table, out / "shards", shard, clips_root=params.paths.clips_dir, progress=False)
    dt = time.perf_counter() - t
    mb = m["totals"]["bytes"] / 1e6
    print(f"shards from the curated clips: {m['totals']['shards']} shards, {m['totals']['samples']} samples, {mb:.1f} MB written in {dt:.2f} s")
    lp = parse_params({
        "loader": {"frames": args.loader_frames, "size": args.loader_size, "shuffle_buffer": 8},
        "curriculum": {"phases": [{"tiers": {1: 1, 2: 1, 3: 1, 4: 1, 5: 1}}]},
    })  # fmt: skip
    print(f"loader: phase over tiers 1-5, batch {args.loader_batch}, {args.loader_frames} frames at {args.loader_size}x{args.loader_size}, {args.loader_samples} samples; {load_line()}")
    bench_loader.print_stream_rates(lp, out / "shards", args.loader_batch, args.loader_samples, args.loader_workers, mb / max(1, m["totals"]["samples"]))


def long_memory(params_file: str, work: Path, minutes: float, short: Path, workers: int | None) -> None:
    from curation.ingest import run_ingest

    t = time.perf_counter()
    f = work / "inputs" / f"long_testsrc2_noise_{minutes:g}min.mp4"
    if not f.exists():
        encode_lavfi(f, LONG, minutes * 60, preset="ultrafast")
        print(f"  made {f} in {time.perf_counter() - t:.0f} s", flush=True)
    out = work / "long"
    shutil.rmtree(out, ignore_errors=True)
    params = stage_params(params_file, out, link_folder(work / "raw_long", [f, short]), workers)
    with TreeRSS() as mem:
        s, wall, cpu = timed(run_ingest, params, progress=False, echo=False)
    print(f"ingest {f.name} + {short.name}: {s.clips} clips, {vps(minutes * 60 + 60, wall, cpu)}; {load_line()}")
    print(f"  peak RSS: {mem.peaks.line()}")
    mib = lambda b: f"{b / 2**20:.0f} MiB"  # noqa: E731
    pk = mem.peaks
    print(f"  largest worker + ffmpeg tree: {mib(pk.window_peak(0, 60))} in the first minute, {mib(pk.window_peak(wall / 2, wall))} in the second half "
          f"(flat when these match)")  # fmt: skip
    shutil.rmtree(out, ignore_errors=True)


def throughput(params, inputs: list[Path], video_s: float) -> None:
    workers = params.engine.workers
    ing, sc = params.ingest, params.score
    print(f"ingest -> {ing.fps:g} fps, short side {ing.short_side}, {ing.preset} crf {ing.crf}, ffmpeg threads {ing.ffmpeg_threads}; "
          f"score: CLIP {sc.clip.model} at {sc.clip.sample_fps:g} fps (max {sc.clip.max_frames}), flow {sc.flow.sample_fps:g} pairs/s at "
          f"{sc.flow.width} px; engine {params.engine.name} x{workers}; caption stage skipped")  # fmt: skip
    _, t_par, c_par = timed(null_decode_seconds, inputs, parallel=workers)
    _, t_one, c_one = timed(null_decode_seconds, inputs, parallel=1)
    (ingest, t_ing, c_ing), (score, t_sc, c_sc), ing_mem, sc_mem = run_curation(params)
    t_tot, c_tot = t_ing + t_sc, c_ing + c_sc
    floor_par, floor_one, total = video_s / t_par, video_s / t_one, video_s / t_tot
    # the same score with score.clip.precision fp32 (its own store entries: precision is in the reuse key)
    from curation.score import run_score

    fp32 = params.model_copy(update={"score": sc.model_copy(update={"clip": sc.clip.model_copy(update={"precision": "fp32"})})})
    with TreeRSS() as sc32_mem:
        score32, t_sc32, c_sc32 = timed(run_score, fp32, progress=False)

    print(f"\nthroughput ({load_line()} after the run; CPU-s: this process and its children, a check on a shared machine)")
    print(f"  ffmpeg -i f -f null -, {workers} at a time : {vps(video_s, t_par, c_par)}")
    print(f"  ffmpeg -i f -f null -, one at a time : {vps(video_s, t_one, c_one)}")
    print(f"  ingest (run_ingest)                  : {vps(video_s, t_ing, c_ing)}  {ingest.clips} clips, {ingest.cuts} cuts, {ingest.rejected} rejected")
    print(f"  score  (run_score)                   : {vps(video_s, t_sc, c_sc)}  {score.scored} scored, {score.failed} failed; CLIP weights: {score.clip_weights}"
          + (" (RANDOM-INIT: speed only, semantic scores meaningless)" if score.clip_weights == "random-init" else ""))  # fmt: skip
    print(f"  total  (ingest + score)              : {vps(video_s, t_tot, c_tot)}")
    print(f"  score with precision fp32            : {vps(video_s, t_sc32, c_sc32)}  (the default above: {score.metrics.get('clip_precision')})")
    print(f"  total with fp32 score                : {vps(video_s, t_ing + t_sc32, c_ing + c_sc32)}")
    print(f"  total / floor: {total / floor_par:.2f}x the {workers}-process floor, {total / floor_one:.2f}x the one-process floor (target >= 0.35x); "
          f"by CPU-s: {c_par / c_tot:.2f}x; with fp32 score {video_s / (t_ing + t_sc32) / floor_par:.2f}x")  # fmt: skip

    print("\npeak RSS, 1-minute inputs")
    for name, pk, wall in (("ingest", ing_mem, t_ing), ("score ", sc_mem, t_sc), ("score fp32", sc32_mem.peaks, t_sc32)):
        print(f"  {name}: {pk.line()}")
        print(f"          largest worker tree {pk.window_peak(0, wall / 2) / 2**20:.0f} MiB in the first half of the run, {pk.window_peak(wall / 2, wall) / 2**20:.0f} MiB in the second")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", nargs="+", choices=list(SOURCES), default=list(SOURCES), help="which inputs (default: all six)")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each input (default 60)")
    ap.add_argument("--params", default="params.yaml", help="ingest/score/engine settings come from here")
    ap.add_argument("--workers", type=int, help="override engine.workers")
    ap.add_argument("--workdir", default="benchmarks/out/curation", help="inputs (cached) and outputs")
    ap.add_argument("--long-minutes", type=float, default=30.0, help="length of the long input for the memory run (0: skip)")
    ap.add_argument("--no-loader", action="store_true", help="skip the tier/shard/loader part")
    ap.add_argument("--skip-curation", action="store_true", help="skip the throughput run (the loader part then reuses the curated clips of an earlier run)")
    ap.add_argument("--loader-frames", type=int, default=8)
    ap.add_argument("--loader-size", type=int, default=64)
    ap.add_argument("--loader-batch", type=int, default=8)
    ap.add_argument("--loader-samples", type=int, default=192)
    ap.add_argument("--loader-workers", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()

    work = Path(args.workdir)
    inputs = make_inputs(work / "inputs", args.sources, args.seconds)
    out = work / "out"
    params = stage_params(args.params, out, work / "raw", args.workers)
    print(f"inputs: {len(inputs)} x {args.seconds:g} s 1280x720 30 fps H.264: {', '.join(args.sources)}; start: {load_line()}", flush=True)
    if not args.skip_curation:
        shutil.rmtree(out, ignore_errors=True)
        link_folder(work / "raw", inputs)
        throughput(params, inputs, len(inputs) * args.seconds)
    if args.long_minutes > 0:
        print(f"\npeak RSS, {args.long_minutes:g}-minute input (ingest)", flush=True)
        long_memory(args.params, work, args.long_minutes, inputs[0], args.workers)
    if not args.no_loader:
        print()
        if (out / "scores.parquet").exists():
            loader_rates(params, out, args)
        else:
            print(f"loader: skipped, no curated clips under {out} (run without --skip-curation first)")
    print(f"\nend: {load_line()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
