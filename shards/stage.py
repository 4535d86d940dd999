"""The shard stage: tiers table + text embeddings -> one WebDataset shard set per tier.

`run_shard(params)` is the library entry point (pipelines/shard.py and `shards write`
call it); `write_shard_set(...)` is the same with explicit paths.

Output, under `paths.shards_dir`:

    tier{k}/tier{k}-000000.tar ...   shards of tier k (1..5); tier 0 (excluded) is not sharded
    manifest.json                     every shard with sha256/bytes/samples/hours (see shards.manifest)

and `<metrics_dir>/shards.json` (shards / samples / hours / bytes per tier, skipped rows by reason).

Samples inside a tier are ordered by (difficulty, clip_id), so the hardest clips of a
tier are its last ranks: the curriculum loader's replay reads only the last shards.
The whole set is built in a temp directory beside `shards_dir` and swapped in when
complete (manifest last), so readers never see a half-written set, stale shards of
an earlier run disappear, and a killed run leaves only a temp directory that the
next run removes.  The stage is sequential on purpose: it is a single ordered
stream of file copies (I/O bound), not per-clip compute, so it does not use an engine.

Rows that cannot be sharded never stop the run; they are listed in the manifest's
`skipped` with a reason: bad_key, bad_tier, duplicate_clip_id, missing_difficulty,
clip_path_outside_clips_dir, clip_missing, clip_sha256_mismatch, bad_embedding_row.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from tqdm import tqdm

from curation.config import Params, ShardParams, section_hash
from curation.io.atomic import TEMP_MARK, atomic_dir, remove_stale_temps, write_json
from curation.io.hashing import sha256_file
from shards.manifest import TIERS, build_manifest, write_manifest
from shards.samples import encode_sample
from shards.tarformat import valid_key
from shards.writer import ShardInfo, TierShardWriter

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("clip_id", "tier", "clip_path", "difficulty")


class Skip(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def clean_stale_temps(out_dir: Path) -> list[Path]:
    """Remove temp dirs/files a killed shard write left beside or inside `out_dir`."""
    removed: list[Path] = []
    if out_dir.parent.is_dir():
        for p in sorted(out_dir.parent.glob(f".{out_dir.name}{TEMP_MARK}*")):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            removed.append(p)
    if out_dir.is_dir():
        removed += remove_stale_temps(out_dir)
    return removed


def _load_embeddings(path: Path | None) -> np.ndarray | None:
    if path is None or not path.exists():
        return None
    emb = np.load(path, mmap_mode="r", allow_pickle=False)
    if emb.ndim != 2:
        raise ValueError(f"{path}: text embeddings must be a 2-D array [N, D], got shape {emb.shape}")
    return emb


def _sort_key(row: dict[str, Any]) -> tuple[float, str]:
    return (float(row["difficulty"]), str(row["clip_id"]))


def _finite(v: Any) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _resolve_clip(row: dict[str, Any], clips_root: Path) -> Path:
    raw = row.get("clip_path")
    if not isinstance(raw, str) or not raw:
        raise Skip("clip_missing", "no clip_path")
    path = Path(raw).resolve()
    if not path.is_relative_to(clips_root):
        raise Skip("clip_path_outside_clips_dir", f"{raw!r} is not inside {clips_root}")
    if not path.is_file():
        raise Skip("clip_missing", f"{raw!r} does not exist")
    want = row.get("clip_sha256")
    if isinstance(want, str) and want:
        got = sha256_file(path)
        if got != want:
            raise Skip("clip_sha256_mismatch", f"{raw!r} has sha256 {got[:16]}..., table says {want[:16]}...")
    return path


def _embedding(row: dict[str, Any], emb: np.ndarray | None) -> np.ndarray | None:
    r = row.get("embedding_row")
    if r is None or int(r) < 0:
        return None
    r = int(r)
    if emb is None or r >= emb.shape[0]:
        raise Skip("bad_embedding_row", f"embedding_row {r} not in the embeddings file ({0 if emb is None else emb.shape[0]} rows)")
    return np.asarray(emb[r], dtype=np.float32)


def _partition(rows: Iterable[dict[str, Any]]) -> tuple[dict[int, list[dict[str, Any]]], int, list[dict[str, Any]]]:
    """Rows per tier (sorted), count of tier-0 rows, skipped rows."""
    per_tier: dict[int, list[dict[str, Any]]] = {t: [] for t in TIERS}
    skipped: list[dict[str, Any]] = []
    excluded = 0
    seen: set[str] = set()
    for row in sorted(rows, key=lambda r: str(r.get("clip_id"))):
        cid = row.get("clip_id")
        tier = row.get("tier")
        if not valid_key(cid):
            skipped.append({"clip_id": str(cid), "reason": "bad_key", "detail": "clip_id must match [A-Za-z0-9][A-Za-z0-9_-]{0,63}"})
        elif cid in seen:
            skipped.append({"clip_id": cid, "reason": "duplicate_clip_id", "detail": "clip_id appears more than once; first row kept"})
        elif not _finite(tier) or int(tier) != float(tier) or int(tier) not in (0, *TIERS):
            skipped.append({"clip_id": cid, "reason": "bad_tier", "detail": f"tier {tier!r} is not 0..5"})
        elif int(tier) == 0:
            excluded += 1
        elif not _finite(row.get("difficulty")):
            skipped.append({"clip_id": cid, "reason": "missing_difficulty", "detail": f"difficulty {row.get('difficulty')!r}"})
        else:
            per_tier[int(tier)].append(row)
        if isinstance(cid, str):
            seen.add(cid)
    for t in TIERS:
        per_tier[t].sort(key=_sort_key)
    return per_tier, excluded, skipped


def _shard_metrics(manifest: dict[str, Any]) -> dict[str, Any]:
    tiers = {t: {k: v[k] for k in ("shards", "samples", "hours", "bytes")} for t, v in manifest["tiers"].items()}
    reasons = Counter(r["reason"] for r in manifest["skipped"])
    return {
        "tiers": tiers,
        "totals": manifest["totals"],
        "excluded": manifest["excluded"],
        "skipped": len(manifest["skipped"]),
        "skipped_by_reason": dict(sorted(reasons.items())),
        "oversize_shards": sum(1 for s in manifest["shards"] if s["oversize"]),
    }


def write_shard_set(
    tiers_table: str | Path,
    out_dir: str | Path,
    shard: ShardParams,
    *,
    clips_root: str | Path,
    text_embeddings: str | Path | None = None,
    metrics_path: str | Path | None = None,
    text_dim_fallback: int = 384,
    progress: bool = True,
) -> dict[str, Any]:
    """Write the shard set for `tiers_table` into `out_dir`; returns the manifest (also written)."""
    tiers_table, out_dir, clips_root = Path(tiers_table), Path(out_dir), Path(clips_root).resolve()
    emb_path = Path(text_embeddings) if text_embeddings else None
    removed = clean_stale_temps(out_dir)
    if removed:
        log.info("removed %d stale temp file(s) of an interrupted shard write", len(removed))

    table = pq.read_table(tiers_table)
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"{tiers_table}: missing columns {missing}; re-run the tier stage")
    rows = table.to_pylist()
    emb = _load_embeddings(emb_path)
    if emb is None and any(r.get("embedding_row") is not None and int(r["embedding_row"]) >= 0 for r in rows):
        raise FileNotFoundError(f"{emb_path}: text embeddings file not found, but the tiers table references it; re-run the caption stage")
    text_dim = int(emb.shape[1]) if emb is not None else int(text_dim_fallback)

    per_tier, excluded, skipped = _partition(rows)
    params_hash = section_hash(shard)
    shards: list[ShardInfo] = []
    total = sum(len(v) for v in per_tier.values())
    with atomic_dir(out_dir) as tmp, tqdm(total=total, desc="shard", unit="clip", disable=not progress) as bar:
        for tier in TIERS:
            writer = TierShardWriter(tmp, tier, shard.max_bytes, shard.max_samples)
            rank = 0
            for row in per_tier[tier]:
                bar.update(1)
                try:
                    clip = _resolve_clip(row, clips_root)
                    vec = _embedding(row, emb)
                    if vec is not None and vec.shape != (text_dim,):
                        raise Skip("bad_embedding_row", f"embedding has shape {vec.shape}, expected ({text_dim},)")
                except Skip as s:
                    skipped.append({"clip_id": row["clip_id"], "reason": s.reason, "detail": s.detail})
                    continue
                sample = encode_sample(
                    row,
                    clip_file=clip,
                    clip_size=clip.stat().st_size,
                    tier_rank=rank,
                    embedding=vec,
                    text_dim=text_dim,
                    include_flow_curve=shard.include_flow_curve,
                    shard_params_hash=params_hash,
                )
                writer.add(sample)
                rank += 1
            shards += writer.close()
        inputs = {
            "tiers_table": str(tiers_table),
            "tiers_table_sha256": sha256_file(tiers_table),
            "text_embeddings": str(emb_path) if emb_path else None,
            "text_embeddings_sha256": sha256_file(emb_path) if emb is not None and emb_path else None,
            "rows": len(rows),
        }
        manifest = build_manifest(
            shards,
            shard_params=shard.model_dump(mode="json"),
            shard_params_hash=params_hash,
            text_dim=text_dim,
            inputs=inputs,
            excluded=excluded,
            skipped=skipped,
        )
        write_manifest(tmp, manifest)
    if metrics_path is not None:
        write_json(metrics_path, _shard_metrics(manifest))
    return manifest


def run_shard(params: Params, progress: bool = True) -> dict[str, Any]:
    """The shard stage with paths from params; returns the manifest."""
    p = params.paths
    return write_shard_set(
        p.tiers_table,
        p.shards_dir,
        params.shard,
        clips_root=p.clips_dir,
        text_embeddings=p.text_embeddings,
        metrics_path=Path(p.metrics_dir) / "shards.json",
        text_dim_fallback=params.model.backbone.text_dim,
        progress=progress,
    )
