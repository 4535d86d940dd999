"""Wall time and peak RSS of the report stage (`write_stage_outputs`) on a synthetic tiers table.

Builds a project-like folder per size: data/tiers.parquet with every column of the real tiers
schema (curation.schemas.TIERS: ~70 columns, among them the list<float32> vectors
clip_embedding (512), thumb_signature (768) and flow_curve (one value per second), which the
report must never read), data/rejects.parquet (a few thousand rows), one real H.264 clip under
data/clips/ that every row's clip_path points at (so the contact sheet decodes real frames),
and a few metrics files.  Each size is measured in a fresh child process: wall seconds of
`write_stage_outputs` and the child's peak RSS (VmHWM), next to its RSS after imports, so
the growth per clip between the small and the large size is visible.

    python benchmarks/bench_report.py                          # 60,000 clips next to 6,000
    python benchmarks/bench_report.py --clips 20000 --small 2000 --rejects 500
    python benchmarks/bench_report.py --keep /tmp/bench_report # keep the folders and the outputs
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
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

from benchmarks._common import FFMPEG, load_line  # noqa: E402

FPS = 16
CLIP_ID_CHARS = 20
WORDS = (
    "a the red blue green small large old young man woman child dog cat car bus train bird tree river road street city "
    "field forest beach sea sky cloud sun rain snow house window door table kitchen room light shadow walks runs jumps "
    "drives flies swims sits stands looks turns moves slowly quickly near under over across through behind beside "
    "camera pans tilts zooms close wide view of on in at with and while people crowd market bridge mountain hill lake"
).split()
TAGS = (
    "animal beach bird boat building car cat child city cloud crowd dog drone food forest grass indoor interior kitchen lake "
    "landscape man mountain night ocean outdoor people portrait rain river road screen sea sky snow sport street sunset text "
    "traffic train tree underwater vehicle water woman"
).split()
LANGUAGES = np.array(["en", "fr", "de", "es", "ja", "zh-cn", "und"])
LANGUAGE_P = [0.62, 0.1, 0.08, 0.08, 0.05, 0.04, 0.03]
CAPTIONER = "captioner:HuggingFaceTB/SmolVLM2-256M-Video-Instruct"
SOURCES = np.array(["sidecar:txt", "sidecar:srt", CAPTIONER, "none"])
SOURCE_P = [0.22, 0.08, 0.62, 0.08]
REJECT_REASONS = [
    ("ingest", "unreadable", "moov atom not found"),
    ("ingest", "zero_length", "file is 0 bytes"),
    ("ingest", "no_video_stream", "only audio"),
    ("ingest", "too_short", "0.4 s < min_clip_seconds 2.0"),
    ("ingest", "decode_error", "invalid NAL unit size"),
]


def _strings(values: list[str], idx: np.ndarray) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(idx))


def _vectors(rng: np.random.Generator, lengths: np.ndarray, scale: float, offset: float = 0.0) -> pa.Array:
    """list<float32> with the given per-row lengths, built from one flat buffer (no per-row Python lists)."""
    offsets = np.zeros(len(lengths) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    values = (rng.random(int(offsets[-1]), dtype=np.float32) * scale + offset).astype(np.float32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))


def _string_lists(rng: np.random.Generator, n: int, vocab: list[str], max_len: int) -> pa.Array:
    """list<string>: 0..max_len sorted unique vocabulary words per row."""
    lengths = rng.integers(0, max_len + 1, n)
    picks = [np.unique(rng.integers(0, len(vocab), k)) for k in lengths]
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum([len(p) for p in picks], out=offsets[1:])
    flat = np.concatenate(picks) if n else np.zeros(0, np.int64)
    return pa.ListArray.from_arrays(pa.array(offsets), _strings(vocab, flat))


def _generic(field: pa.Field, rng: np.random.Generator, n: int) -> pa.Array:
    """Plausible filler for a column the report does not read (still stored, compressed and skipped)."""
    t = field.type
    if pa.types.is_string(t):
        return _strings([f"{field.name}-{k}" for k in range(7)], rng.integers(0, 7, n))
    if pa.types.is_integer(t):
        return pa.array(rng.integers(0, 1000, n)).cast(t)
    if pa.types.is_floating(t):
        return pa.array(rng.random(n)).cast(t)
    if pa.types.is_boolean(t):
        return pa.array(rng.random(n) < 0.5)
    if pa.types.is_list(t) and pa.types.is_string(t.value_type):
        return _string_lists(rng, n, ["motion", "subject", "scene", "style"], 3)
    if pa.types.is_list(t) and pa.types.is_floating(t.value_type):
        return _vectors(rng, np.full(n, 4), 1.0).cast(t)
    raise TypeError(f"no filler for {field.name}: {t}")


def tiers_table(n: int, seed: int, clip_rel: str) -> pa.Table:
    """n rows in the full tiers schema; clip ids in random order (like a real table), ~7.5 s per clip."""
    from curation.schemas import TIERS

    rng = np.random.default_rng(seed)
    ids = rng.choice(2**62, size=n, replace=False)
    clip_id = pa.array([f"{int(v):0{CLIP_ID_CHARS}x}" for v in ids], pa.string())
    frames = rng.integers(2 * FPS, 13 * FPS, n)  # 2..13 s at 16 fps: 7.5 s average
    duration = frames / FPS
    tier = rng.choice(6, size=n, p=[0.06, 0.2, 0.22, 0.22, 0.18, 0.12])
    excluded = tier == 0
    ex_kind = rng.integers(0, 3, n)
    scored = ~(excluded & (ex_kind > 0))  # excluded as duplicate (kind 0): scored; the others: not scored
    difficulty = np.clip((np.maximum(tier, 1) - 1) / 5 + rng.random(n) * 0.22, 0, 1)
    source = rng.choice(len(SOURCES), size=n, p=SOURCE_P)
    captioned = SOURCES[source] != "none"
    words = rng.integers(8, 28, n)
    captions = [
        " ".join(WORDS[j] for j in rng.integers(0, len(WORDS), k)).capitalize() + "." if c else None
        for k, c in zip(words, captioned, strict=True)
    ]
    is_dup = excluded & (ex_kind == 0)
    reasons = np.where(ex_kind == 0, "duplicate_of:" + np.asarray(clip_id.to_numpy(zero_copy_only=False))[rng.integers(0, n, n)],
                       np.where(ex_kind == 1, "score_error: decode failed", "not_scored"))  # fmt: skip
    special = {
        "clip_id": clip_id,
        "clip_path": pa.array(np.full(n, clip_rel), pa.string()),
        "source_path": pa.array([f"videos/source_{i // 40:05d}.mp4" for i in range(n)], pa.string()),
        "num_frames": pa.array(frames, pa.int32()),
        "duration_s": pa.array(duration),
        "fps": pa.array(np.full(n, float(FPS))),
        "caption": pa.array(captions, pa.string()),
        "caption_source": _strings(list(SOURCES), source),
        "language": _strings(list(LANGUAGES), rng.choice(len(LANGUAGES), size=n, p=LANGUAGE_P)),
        "tags": _string_lists(rng, n, TAGS, 6),
        "captioner_weights": pa.array(np.where(SOURCES[source] == CAPTIONER, "pretrained", None), pa.string()),
        "clip_weights": pa.array(np.where(scored, "pretrained:openai", None), pa.string()),
        "clip_embedding": _vectors(rng, np.where(scored, 512, 0), 0.1, -0.05),
        "thumb_signature": _vectors(rng, np.where(scored, 768, 0), 255.0),
        "flow_curve": _vectors(rng, np.where(scored, np.ceil(duration).astype(int), 0), 0.05),
        "caption_similarity": pa.array(np.where(scored & captioned, rng.normal(0.27, 0.04, n), np.nan), from_pandas=True),
        "semantic_change": pa.array(np.where(scored, rng.random(n) * 0.4, np.nan), from_pandas=True),
        "flow_mean": pa.array(np.where(scored, rng.lognormal(-3.5, 0.8, n), np.nan), from_pandas=True),
        "difficulty": pa.array(np.where(scored, difficulty, np.nan), from_pandas=True),
        "is_duplicate": pa.array(is_dup),
        "tier": pa.array(tier, pa.int32()),
        "tier_name": _strings(["excluded", "easy", "medium", "hard", "hardest", "refine"], tier),
        "excluded_reason": pa.array(np.where(excluded, reasons, None), pa.string()),
    }
    arrays = [special[f.name].cast(f.type) if f.name in special else _generic(f, rng, n) for f in TIERS]
    return pa.Table.from_arrays(arrays, schema=TIERS)


def rejects_table(n: int, seed: int) -> pa.Table:
    from curation.schemas import REJECTS

    rng = np.random.default_rng(seed + 1)
    kind = rng.integers(0, len(REJECT_REASONS), n)
    return pa.table(
        {
            "source_path": pa.array([f"incoming/batch_{i % 97:02d}/file_{i:06d}.mp4" for i in range(n)]),
            "source_sha256": pa.array([None if k < 2 else f"{i:064x}" for i, k in enumerate(kind)], pa.string()),
            "stage": pa.array([REJECT_REASONS[k][0] for k in kind]),
            "reason": pa.array([REJECT_REASONS[k][1] for k in kind]),
            "detail": pa.array([REJECT_REASONS[k][2] for k in kind]),
            "params_hash": pa.array(np.full(n, "0" * 16)),
        },
        schema=REJECTS,
    )


def make_project(root: Path, clips: int, rejects: int, seed: int) -> dict[str, float]:
    data = root / "data"
    clip_rel = "data/clips/ab/abcdef0123456789abcd.mp4"
    clip = root / clip_rel
    clip.parent.mkdir(parents=True)
    subprocess.run([*FFMPEG, "-f", "lavfi", "-i", f"testsrc2=size=456x256:rate={FPS}", "-t", "4", "-c:v", "libx264", "-preset", "veryfast",
                    "-pix_fmt", "yuv420p", "-an", str(clip)], check=True)  # fmt: skip
    table = tiers_table(clips, seed, clip_rel)
    pq.write_table(table, data / "tiers.parquet")
    pq.write_table(rejects_table(rejects, seed), data / "rejects.parquet")
    metrics = root / "metrics"
    metrics.mkdir()
    for name in ("ingest", "caption", "score", "tiers", "shards"):
        (metrics / f"{name}.json").write_text(json.dumps({"stage": name, "clips": clips}))
    hours = float(np.sum(table.column("duration_s").to_numpy())) / 3600.0
    return {"hours": hours, "tiers_mib": (data / "tiers.parquet").stat().st_size / 2**20, "in_memory_mib": table.nbytes / 2**20}


def _status_kib(key: str) -> int:
    """A /proc/self/status figure in KiB: VmRSS (now) or VmHWM (peak of this process image)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _peak_kib() -> int:
    """Peak RSS of this process since its exec.  Not ru_maxrss: Linux carries the parent's high-water
    mark into a child started with vfork/exec (subprocess does), i.e. this script's own, with the
    generated table in memory."""
    try:
        return _status_kib("VmHWM")
    except (OSError, KeyError):  # no procfs: the best there is
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(project: Path) -> None:
    """Run the stage once in this (fresh) process and print one JSON line of figures."""
    from curation.config import Params
    from curation.report import write_stage_outputs

    start_rss, start_peak = _status_kib("VmRSS"), _peak_kib()
    t0 = time.perf_counter()
    out = write_stage_outputs(Params(), base_dir=project, progress=False)
    wall = time.perf_counter() - t0
    peak = _peak_kib()
    sizes = {k: p.stat().st_size for k, p in out.items()}
    print(json.dumps({"wall_s": wall, "peak_kib": peak, "start_rss_kib": start_rss, "start_peak_kib": start_peak, "sizes": sizes}))


def measure(project: Path) -> dict:
    run = subprocess.run([sys.executable, __file__, "--child", str(project)], capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise SystemExit(f"child failed ({run.returncode}):\n{run.stderr[-4000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=60_000, help="clips in the large table (default 60000)")
    ap.add_argument("--small", type=int, default=6_000, help="clips in the small table measured next to it (default 6000; 0: none)")
    ap.add_argument("--rejects", type=int, default=3_000, help="rows of the rejects table (default 3000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", metavar="DIR", help="build the projects under DIR and keep them (default: a temp dir, removed)")
    ap.add_argument("--child", metavar="PROJECT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(Path(args.child))
        return

    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_report-"))
    sizes = [n for n in (args.small, args.clips) if n > 0]
    rows = []
    try:
        for n in sizes:
            project = base / f"clips_{n}"
            if project.exists():
                shutil.rmtree(project)
            info = make_project(project, n, args.rejects, args.seed)
            fig = measure(project)
            rows.append((n, info, fig))
            print(
                f"{n:>7} clips ({info['hours']:.1f} h; tiers.parquet {info['tiers_mib']:.0f} MiB on disk, {info['in_memory_mib']:.0f} MiB as Arrow), "
                f"{args.rejects} rejects: write_stage_outputs {fig['wall_s']:.2f} s, peak RSS {fig['peak_kib'] / 1024:.0f} MiB "
                f"(RSS after imports {fig['start_rss_kib'] / 1024:.0f} MiB); html {fig['sizes']['html'] / 2**20:.2f} MiB, "
                f"json {fig['sizes']['json'] / 2**20:.2f} MiB",
                flush=True,
            )
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    if len(rows) == 2:
        (n0, _, f0), (n1, _, f1) = rows
        per_clip = (f1["peak_kib"] - f0["peak_kib"]) * 1024 / max(1, n1 - n0)
        per_clip_s = (f1["wall_s"] - f0["wall_s"]) / max(1, n1 - n0)
        print(f"growth {n0} -> {n1} clips: {per_clip:.0f} bytes of peak RSS and {per_clip_s * 1e6:.1f} us of wall time per clip")
    print(load_line())


if __name__ == "__main__":
    main()
