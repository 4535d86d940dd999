"""`run_ingest`: raw folder -> normalized clips + clips.parquet + rejects.parquet + metrics/ingest.json.

Incremental: a source whose (sha256, ingest params hash) was already processed
reuses its rows (clips whose files are still there, or its reject), so a re-run
with nothing changed decodes nothing and writes identical bytes; adding a video
processes only it.  Rows of sources that disappeared are dropped and their clip
files removed; temp files of a killed run are removed at start.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from curation.config import Params, section_hash
from curation.engines import run_stage
from curation.ingest.discover import discover_videos
from curation.ingest.naming import clip_file, clip_relpath, is_clip_id
from curation.ingest.stage import IngestStage, reject_row
from curation.io.atomic import TEMP_MARK, remove_stale_temps, write_json
from curation.io.tables import read_table, write_rows
from curation.media.hashing import sha256_file
from curation.schemas import CLIPS, REJECTS
from curation.stage import Row

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#: reject reasons that depend only on the bytes and the ingest params, so they are reused on re-runs
REUSABLE_REJECTS = {"not_media", "truncated", "probe_failed", "no_video_stream", "bad_dimensions", "zero_duration", "undecodable", "decode_failed", "too_short"}


@dataclass
class IngestSummary:
    videos: int = 0
    accepted: int = 0
    rejected: int = 0
    processed: int = 0  # sources decoded in this run (the rest were reused or skipped)
    reused: int = 0
    clips: int = 0
    hours_in: float = 0.0  # total duration of the accepted sources
    hours_out: float = 0.0  # total duration of the written clips
    cuts: int = 0
    dropped_segments: int = 0
    dropped_seconds: float = 0.0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    split_reasons: dict[str, int] = field(default_factory=dict)
    removed_orphans: int = 0

    def line(self) -> str:
        why = ", ".join(f"{k} {v}" for k, v in sorted(self.rejects_by_reason.items()))
        return (
            f"ingest: {self.videos} videos, {self.accepted} accepted, {self.rejected} rejected"
            + (f" ({why})" if why else "")
            + f"; {self.hours_in:.4f} h in -> {self.clips} clips, {self.hours_out:.4f} h out"
            + f" ({self.dropped_segments} short segments dropped); processed {self.processed}, reused {self.reused}"
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


def _previous_rows(path: Path, schema) -> list[Row]:
    if not path.exists():
        return []
    try:
        return read_table(path, schema).to_pylist()
    except Exception:  # unreadable / old schema: recompute everything
        return []


def _remove_table_temps(dest: Path) -> None:
    if dest.parent.is_dir():
        for p in dest.parent.glob(f".{dest.name}{TEMP_MARK}*"):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


def _reusable_clip_rows(prev_clips: list[Row], clips_dir: Path, params_hash: str) -> dict[str, list[Row]]:
    """source sha256 -> its clip rows, for sources whose every clip file is still in place."""
    by_sha: dict[str, list[Row]] = {}
    for r in prev_clips:
        if r.get("params_hash") == params_hash:
            by_sha.setdefault(r["source_sha256"], []).append(r)
    ok: dict[str, list[Row]] = {}
    for sha, rows in by_sha.items():
        good = True
        for r in rows:
            if not is_clip_id(str(r["clip_id"])):
                good = False
                break
            f = clip_file(clips_dir, r["clip_id"])  # never trust a stored path: derive it from the id
            try:
                good = f.stat().st_size == r["clip_bytes"]
            except OSError:
                good = False
            if not good:
                break
        if good:
            ok[sha] = sorted(rows, key=lambda r: r["start_frame"])
    return ok


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


def run_ingest(params: Params, progress: bool = True, echo: bool = True) -> IngestSummary:
    """Ingest every video under params.paths.raw; returns the summary (also printed when `echo`)."""
    paths, ing = params.paths, params.ingest
    phash = section_hash(ing)
    raw, clips_dir = Path(paths.raw), Path(paths.clips_dir)
    clips_table, rejects_table = Path(paths.clips_table), Path(paths.rejects_table)
    metrics_path = Path(paths.metrics_dir) / "ingest.json"

    clips_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(clips_dir)
    for t in (clips_table, rejects_table, metrics_path):
        _remove_table_temps(t)

    sources = discover_videos(raw, ing.extensions)
    reuse_clips = _reusable_clip_rows(_previous_rows(clips_table, CLIPS), clips_dir, phash)
    reuse_rejects = {
        r["source_sha256"]: r
        for r in _previous_rows(rejects_table, REJECTS)
        if r.get("params_hash") == phash and r.get("reason") in REUSABLE_REJECTS and r.get("source_sha256")
    }

    per_source: dict[str, list[Row]] = {}
    first_seen: dict[str, str] = {}
    tasks: list[Row] = []
    summary = IngestSummary(videos=len(sources))
    for rel in tqdm(sources, desc="hash", unit="video", disable=not progress or not sources, dynamic_ncols=True):
        full = raw / rel
        try:
            sha = sha256_file(full)
        except OSError as exc:
            per_source[rel] = [reject_row(rel, None, "unreadable", f"{rel}: {exc.strerror or exc}", phash)]
            continue
        if sha == EMPTY_SHA256:
            per_source[rel] = [reject_row(rel, sha, "zero_length", f"{rel} is an empty file (0 bytes)", phash)]
            continue
        if sha in first_seen:
            per_source[rel] = [reject_row(rel, sha, "duplicate_source", f"{rel} has the same sha256 as {first_seen[sha]} (ingested once, under that path)", phash)]
            continue
        first_seen[sha] = rel
        if sha in reuse_clips:
            per_source[rel] = [{**r, "kind": "clip", "source_path": rel} for r in reuse_clips[sha]]
            summary.reused += 1
        elif sha in reuse_rejects:
            per_source[rel] = [{**reuse_rejects[sha], "kind": "reject", "source_path": rel, "detail": reuse_rejects[sha]["detail"]}]
            summary.reused += 1
        else:
            tasks.append({"source_path": rel, "path": str(full.resolve()), "source_sha256": sha})

    stage = IngestStage(ing, paths.clips_dir, phash)
    for res in run_stage(stage, tasks, params.engine, progress=progress):
        rel = res.task["source_path"]
        summary.processed += 1
        if res.error is not None:
            per_source[rel] = [reject_row(rel, res.task["source_sha256"], "internal_error", res.error[-1000:], phash)]
        else:
            per_source[rel] = res.rows

    clip_rows: list[Row] = []
    reject_rows: list[Row] = []
    keep: set[str] = set()
    split = Counter()
    for rel in sources:
        rows = per_source.get(rel) or [reject_row(rel, None, "internal_error", f"{rel}: the stage returned no row", phash)]
        clips = [r for r in rows if r.get("kind") == "clip"]
        if clips:
            clips.sort(key=lambda r: r["start_frame"])
            for r in clips:
                r["clip_path"] = (Path(paths.clips_dir) / clip_relpath(r["clip_id"])).as_posix()
                keep.add(clip_relpath(r["clip_id"]))
                split[r["split_reason"]] += 1
            clip_rows.extend(clips)
            summary.accepted += 1
            summary.hours_in += (clips[0].get("source_duration_s") or 0.0) / 3600
            summary.cuts += int(clips[0].get("source_cuts") or 0)
            summary.dropped_segments += int(clips[0].get("source_dropped_segments") or 0)
            summary.dropped_seconds += float(clips[0].get("source_dropped_s") or 0.0)
        else:
            rej = [r for r in rows if r.get("kind") == "reject"][:1] or [reject_row(rel, None, "internal_error", f"{rel}: no clip and no reject row", phash)]
            reject_rows.extend(rej)
            summary.rejected += 1
    assert summary.videos == summary.accepted + summary.rejected, "every input is either accepted or rejected"

    summary.clips = len(clip_rows)
    summary.hours_out = sum(r["duration_s"] for r in clip_rows) / 3600
    summary.split_reasons = dict(split)
    summary.rejects_by_reason = dict(Counter(r["reason"] for r in reject_rows))

    write_rows(clip_rows, CLIPS, clips_table)
    write_rows(reject_rows, REJECTS, rejects_table)
    summary.removed_orphans = _remove_orphans(clips_dir, keep)
    write_json(metrics_path, summary.metrics())
    if echo:
        print(f"inputs {summary.videos} = accepted {summary.accepted} + rejected {summary.rejected}")
        print(summary.line())
    return summary
