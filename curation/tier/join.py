"""Join clips + captions + scores into one row per clip, columnar (the input of tier assignment
and, once tiers are added, the only table the shard writer and the report read).

Rows follow clips.parquet order.  Each other table is aligned to it by `clip_id` with one
`index_in` + `take` per table (no Python rows, no hash join: list columns such as CLIP
embeddings ride along untouched).  A clip without a captions row gets null caption
columns; without a scores row, null score columns (and tier 0 later).  The captions' and
scores' `params_hash` become `caption_params_hash` / `score_params_hash`
(`curation.schemas.tiers_schema`).  Scores or captions rows whose clip_id is not in
clips.parquet (stale tables) are dropped and counted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.io.tables import read_table
from curation.schemas import CAPTIONS, CLIPS, SCORES, TIER_FIELDS, TIERS, TIERS_LEAVE_OUT

log = logging.getLogger(__name__)


@dataclass
class Joined:
    table: pa.Table  # TIERS columns without the tier fields, clips.parquet order
    scored: np.ndarray  # bool per row: the clip has a scores row
    captions_found: bool
    orphan_scores: int
    orphan_captions: int


def _aligned(other: pa.Table, ids: pa.Array, schema: pa.Schema, prefix: str) -> tuple[dict[str, pa.Array], np.ndarray, int]:
    """Columns of `other` (those in `schema`, minus clip_id) taken in `ids` order; found mask; orphans."""
    other_ids = other.column("clip_id").combine_chunks()
    pos = pc.index_in(ids, value_set=other_ids)
    found = pc.is_valid(pos).to_numpy(zero_copy_only=False)
    orphans = int(pc.sum(pc.invert(pc.is_in(other_ids, value_set=ids))).as_py() or 0)
    cols: dict[str, pa.Array] = {}
    for f in schema:
        if f.name == "clip_id" or f.name not in other.column_names or f.name in TIERS_LEAVE_OUT:
            continue
        name = f"{prefix}_params_hash" if f.name == "params_hash" else f.name
        cols[name] = other.column(f.name).combine_chunks().take(pos)
    return cols, found, orphans


def _read(path: Path, schema: pa.Schema) -> pa.Table:
    """Only the columns the tiers table takes (parquet projection: the vectors are never read)."""
    have = set(pq.read_schema(path).names)
    if "clip_id" not in have:
        raise ValueError(f"{path}: no clip_id column; re-run the stage that writes it")
    return pq.read_table(path, columns=[f.name for f in schema if f.name in have and f.name not in TIERS_LEAVE_OUT])


def join_tables(clips_table: str | Path, captions_table: str | Path, scores_table: str | Path) -> Joined:
    clips_path, cap_path, score_path = Path(clips_table), Path(captions_table), Path(scores_table)
    if not clips_path.exists():
        raise FileNotFoundError(f"{clips_path}: clips table not found; run the ingest stage first")
    if not score_path.exists():
        raise FileNotFoundError(f"{score_path}: scores table not found; run the score stage first")
    clips = read_table(clips_path, CLIPS).select(CLIPS.names)
    ids = clips.column("clip_id").combine_chunks()
    cols: dict[str, pa.Array | pa.ChunkedArray] = {name: clips.column(name) for name in CLIPS.names}
    captions_found = cap_path.exists()
    orphan_captions = 0
    if captions_found:
        cap_cols, _, orphan_captions = _aligned(_read(cap_path, CAPTIONS), ids, CAPTIONS, "caption")
        cols.update(cap_cols)
    else:
        log.warning("%s not found: caption columns will be null", cap_path)
    score_cols, scored, orphan_scores = _aligned(_read(score_path, SCORES), ids, SCORES, "score")
    cols.update(score_cols)
    names = [f.name for f in TIERS if f.name not in TIER_FIELDS.names]
    out = {}
    for name in names:
        f = TIERS.field(name)
        out[name] = cols[name] if name in cols else pa.nulls(len(ids), f.type)
    return Joined(pa.table(out), scored, captions_found, orphan_scores, orphan_captions)

