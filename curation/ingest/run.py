"""`run_ingest`: raw folder -> normalized clips + clips.parquet + rejects.parquet + metrics/ingest.json.

Two per-item stages on the stage driver (`curation.driver`), each with its store of
finished parts under `paths.stores_dir` (a DVC `persist` output):

1. hash (`curation.ingest.hash_stage`): sha256 of every discovered file, reused while
   the file's size / mtime / inode are unchanged;
2. ingest (`curation.ingest.stage`): probe, validate, cut and normalize each distinct
   source, reused while its sha256, the ingest params and the stage version are unchanged.

So a re-run with nothing changed reads and decodes nothing and writes identical bytes,
adding a video processes only it, and a killed run keeps every source it finished.
Decided here without decoding: empty files (zero_length), files that cannot be read
(unreadable) and byte-identical copies of an earlier path (duplicate_source).  Every
input ends up accepted (it has clips) or rejected (one row with a reason), always.
Rows of sources that disappeared are dropped and their clip files removed; temp files
of a killed run are removed at start.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from curation.config import Params, section_hash
from curation.driver import CONTENT, ItemStageSpec, run_items
from curation.engines import light_engine
from curation.ingest.discover import discover_videos
from curation.ingest.hash_stage import HASHES, HashStage, hash_error_rows
from curation.ingest.hash_stage import VERSION as HASH_VERSION
from curation.ingest.naming import clip_file, is_clip_id
from curation.ingest.stage import VERSION, IngestStage, reject_row
from curation.io.atomic import TEMP_MARK, remove_stale_temps, write_json
from curation.io.part_store import PartStore
from curation.io.tables import write_table
from curation.params_base import stable_hash
from curation.schemas import CLIPS, REJECTS
from curation.stage import Row


@dataclass
class IngestSummary:
    videos: int = 0
    accepted: int = 0
    rejected: int = 0
    processed: int = 0  # sources decoded in this run (the rest were reused or decided without decoding)
    reused: int = 0
    hashed: int = 0  # files read for their sha256 in this run
    clips: int = 0
    hours_in: float = 0.0  # total duration of the accepted sources
    hours_out: float = 0.0  # total duration of the written clips
    cuts: int = 0
    dropped_segments: int = 0
    dropped_seconds: float = 0.0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    split_reasons: dict[str, int] = field(default_factory=dict)
    removed_orphans: int = 0
    nodes_note: str = ""
    nodes: dict[str, int] = field(default_factory=dict)  # Ray node (or "local") -> sources ingested there

    def line(self) -> str:
        why = ", ".join(f"{k} {v}" for k, v in sorted(self.rejects_by_reason.items()))
        return (
            f"ingest: {self.videos} videos, {self.accepted} accepted, {self.rejected} rejected"
            + (f" ({why})" if why else "")
            + f"; {self.hours_in:.4f} h in -> {self.clips} clips, {self.hours_out:.4f} h out"
            + f" ({self.dropped_segments} short segments dropped); hashed {self.hashed}{self.nodes_note}; processed {self.processed}, reused {self.reused}"
        )

    def metrics(self) -> dict[str, Any]:
        """Deterministic figures for metrics/ingest.json (no timings, no per-run counters)."""
        return {
            "videos": self.videos,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "rejects_by_reason": dict(sorted(self.rejects_by_reason.items())),
            "clips": self.clips,
            "hours_in": round(self.hours_in, 6),
            "hours_out": round(self.hours_out, 6),
            "hard_cuts": self.cuts,
            "split_reasons": dict(sorted(self.split_reasons.items())),
            "dropped_segments": self.dropped_segments,
            "dropped_seconds": round(self.dropped_seconds, 3),
        }


def ingest_params_hash(params: Params) -> str:
    """The params the clips depend on (lineage column `params_hash`, part of every clip id)."""
    return stable_hash({"ingest": section_hash(params.ingest), "cuts": section_hash(params.cuts)})


def _remove_table_temps(dest: Path) -> None:
    if dest.parent.is_dir():
        for p in dest.parent.glob(f".{dest.name}{TEMP_MARK}*"):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


def _remove_orphans(clips_dir: Path, keep: set[str]) -> int:
    """Delete clip files under `clips_dir` that no row references; returns how many."""
    removed = 0
    if not clips_dir.is_dir():
        return 0
    for sub in sorted(clips_dir.iterdir()):
        if not sub.is_dir() or sub.is_symlink() or len(sub.name) != 2:
            continue
        for f in sorted(sub.iterdir()):
            if f.suffix == ".mp4" and is_clip_id(f.stem) and f"{sub.name}/{f.name}" not in keep:
                f.unlink()
                removed += 1
        with contextlib.suppress(OSError):
            sub.rmdir()  # only when empty
    return removed


def _stale_clip_rows(clips_dir: Path):
    """`validate_reused` hook: sources whose stored clips are not on disk as recorded."""

    def check(store: PartStore, reused: pa.Array) -> pa.Array:
        t = store.read(reused, columns=["_output", "clip_id", "clip_path", "clip_bytes"])
        t = t.filter(pc.equal(t.column("_output"), "clips"))
        stale: list[str] = []
        for batch in t.to_batches(max_chunksize=4096):
            for reuse, cid, path, nbytes in zip(*(batch.column(c).to_pylist() for c in ("_reuse", "clip_id", "clip_path", "clip_bytes")), strict=True):
                if not is_clip_id(str(cid)):
                    stale.append(reuse)
                    continue
                f = clip_file(clips_dir, cid)  # never trust a stored path: derive it from the id
                try:
                    ok = path == f.as_posix() and f.stat().st_size == nbytes
                except OSError:
                    ok = False
                if not ok:
                    stale.append(reuse)
        return pa.array(sorted(set(stale)), pa.string())

    return check


def _stat_sources(raw: Path, sources: list[str], phash: str) -> tuple[pa.Table, list[Row]]:
    """(hash items, rejects decided from the stat alone: unreadable, zero_length)."""
    rel_ok: list[str] = []
    paths: list[str] = []
    content: list[str] = []
    sizes: list[int] = []
    rejects: list[Row] = []
    for rel in sources:
        full = raw / rel
        try:
            st = os.stat(full)
        except OSError as exc:
            rejects.append(reject_row(rel, None, "unreadable", f"{rel}: {exc.strerror or exc}", phash))
            continue
        if st.st_size == 0:
            rejects.append(reject_row(rel, None, "zero_length", f"{rel} is an empty file (0 bytes)", phash))
            continue
        rel_ok.append(rel)
        paths.append(str(full.resolve()))
        content.append(f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}")
        sizes.append(st.st_size)
    return pa.table({"source_path": rel_ok, "path": paths, "bytes": pa.array(sizes, pa.int64()), CONTENT: content}), rejects


def run_ingest(params: Params, progress: bool = True, echo: bool = True) -> IngestSummary:
    """Ingest every video under params.paths.raw; returns the summary (also printed when `echo`)."""
    paths, ing = params.paths, params.ingest
    phash = ingest_params_hash(params)
    raw, clips_dir = Path(paths.raw), Path(paths.clips_dir)
    clips_table, rejects_table = Path(paths.clips_table), Path(paths.rejects_table)
    metrics_path = Path(paths.metrics_dir) / "ingest.json"

    clips_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(clips_dir)
    for t in (clips_table, rejects_table, metrics_path):
        _remove_table_temps(t)

    sources = discover_videos(raw, ing.extensions)
    summary = IngestSummary(videos=len(sources))

    # 1. sha256 of every readable, non-empty file (reused while its stat is unchanged)
    hash_items, pre_rejects = _stat_sources(raw, sources, phash)
    hash_spec = ItemStageSpec(
        name="hash", stages=[HashStage()], key="source_path", outputs={"hashes": HASHES}, params_hash="-", version=HASH_VERSION,
        task_columns=["source_path", "path"], error_rows=hash_error_rows, batch_size=HashStage.batch_size, carry_columns=["source_path"],
    )  # fmt: skip
    # hashing reads files: one local process is as fast as the disk (a pool would only add its start-up);
    # on Ray the hashing spreads over the nodes, next to their disks
    hashed = run_items(hash_spec, hash_items, light_engine(params.engine, hash_spec.stages), paths.store("ingest-hash"), progress=progress)
    summary.hashed = hashed.processed
    h = hashed.outputs["hashes"]

    # 2. one ingest item per distinct sha256 (first path in sorted order); the rest are rejected
    first_seen: dict[str, str] = {}
    items_rel: list[str] = []
    items_path: list[str] = []
    items_sha: list[str] = []
    items_bytes: list[int] = []
    for rel, full, size, sha, err in zip(h.column("source_path").to_pylist(), hash_items.column("path").to_pylist(), hash_items.column("bytes").to_pylist(), h.column("source_sha256").to_pylist(), h.column("hash_error").to_pylist(), strict=True):
        if sha is None:
            pre_rejects.append(reject_row(rel, None, "unreadable", f"{rel}: {err}", phash))
        elif sha in first_seen:
            pre_rejects.append(reject_row(rel, sha, "duplicate_source", f"{rel} has the same sha256 as {first_seen[sha]} (ingested once, under that path)", phash))
        else:
            first_seen[sha] = rel
            items_rel.append(rel)
            items_path.append(full)
            items_sha.append(sha)
            items_bytes.append(size)
    del first_seen
    items = pa.table({"source_path": items_rel, "path": items_path, "source_sha256": items_sha, "bytes": pa.array(items_bytes, pa.int64()), CONTENT: items_sha})

    def internal_error(task: Row, error: str) -> list[Row]:
        return [reject_row(task["source_path"], task["source_sha256"], "internal_error", error.strip()[-1000:], phash)]

    spec = ItemStageSpec(
        name="ingest", stages=[IngestStage(ing, params.cuts, paths.clips_dir, phash)], key="source_path", outputs={"clips": CLIPS, "rejects": REJECTS},
        params_hash=phash, version=VERSION, task_columns=["source_path", "path", "source_sha256"], error_rows=internal_error,
        batch_size=IngestStage.batch_size, carry_columns=["source_path"], validate_reused=_stale_clip_rows(clips_dir),
        cost_column="bytes",  # the biggest sources start first: a 2-hour film never runs alone at the end
    )  # fmt: skip
    run = run_items(spec, items, params.engine, paths.store("ingest"), progress=progress)
    summary.processed, summary.reused, summary.nodes_note, summary.nodes = run.processed, run.reused, run.nodes_note(), dict(run.nodes)

    clips = run.outputs["clips"]
    rejects = pa.concat_tables([run.outputs["rejects"], pa.Table.from_pylist(pre_rejects, schema=REJECTS)])
    rejects = rejects.take(pc.sort_indices(rejects, sort_keys=[("source_path", "ascending")]))
    _summarize(summary, clips, rejects)
    assert summary.videos == summary.accepted + summary.rejected, "every input is either accepted or rejected"

    write_table(clips, clips_table)
    write_table(rejects, rejects_table)
    summary.removed_orphans = _remove_orphans(clips_dir, {f"{c[:2]}/{c}.mp4" for c in clips.column("clip_id").to_pylist()})
    write_json(metrics_path, summary.metrics())
    if echo:
        print(f"inputs {summary.videos} = accepted {summary.accepted} + rejected {summary.rejected}")
        print(summary.line(), flush=True)
    return summary


def _counts(col: pa.ChunkedArray) -> dict[str, int]:
    vc = pc.value_counts(col)
    return {str(v["values"]): int(v["counts"]) for v in vc.to_pylist()}


def _summarize(s: IngestSummary, clips: pa.Table, rejects: pa.Table) -> None:
    per_source = clips.group_by("source_path").aggregate(
        [("source_duration_s", "min"), ("source_cuts", "min"), ("source_dropped_segments", "min"), ("source_dropped_s", "min")]
    )
    s.accepted = per_source.num_rows
    s.rejected = rejects.num_rows
    s.clips = clips.num_rows
    s.hours_in = float(pc.sum(per_source.column("source_duration_s_min")).as_py() or 0.0) / 3600
    s.cuts = int(pc.sum(per_source.column("source_cuts_min")).as_py() or 0)
    s.dropped_segments = int(pc.sum(per_source.column("source_dropped_segments_min")).as_py() or 0)
    s.dropped_seconds = float(pc.sum(per_source.column("source_dropped_s_min")).as_py() or 0.0)
    s.hours_out = float(pc.sum(clips.column("duration_s")).as_py() or 0.0) / 3600
    s.split_reasons = _counts(clips.column("split_reason"))
    s.rejects_by_reason = _counts(rejects.column("reason"))
