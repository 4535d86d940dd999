"""Join clips + captions + scores into one row per clip (the input of tier assignment
and, once tiers are added, the only table the shard writer and the report read).

Rows follow clips.parquet order.  A clip without a captions row gets null caption
columns; without a scores row, null score columns (and tier 0 later).  The
captions' and scores' `params_hash` become `caption_params_hash` /
`score_params_hash` (`curation.schemas.tiers_schema`).  Scores or captions rows
whose clip_id is not in clips.parquet (stale tables) are dropped and counted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curation.io.tables import read_table
from curation.schemas import CAPTIONS, CLIPS, SCORES

log = logging.getLogger(__name__)


@dataclass
class Joined:
    rows: list[dict[str, Any]]
    captions_found: bool
    orphan_scores: int
    orphan_captions: int


def _by_id(path: Path, schema, prefix: str) -> dict[str, dict[str, Any]]:
    table = read_table(path)
    names = [f.name for f in schema if f.name in table.column_names]
    out: dict[str, dict[str, Any]] = {}
    for r in table.select(names).to_pylist():
        cid = str(r.pop("clip_id"))
        if "params_hash" in r:
            r[f"{prefix}_params_hash"] = r.pop("params_hash")
        out[cid] = r
    return out


def join_tables(clips_table: str | Path, captions_table: str | Path, scores_table: str | Path) -> Joined:
    clips_path, cap_path, score_path = Path(clips_table), Path(captions_table), Path(scores_table)
    if not clips_path.exists():
        raise FileNotFoundError(f"{clips_path}: clips table not found; run the ingest stage first")
    if not score_path.exists():
        raise FileNotFoundError(f"{score_path}: scores table not found; run the score stage first")
    clips = read_table(clips_path, CLIPS).select(CLIPS.names).to_pylist()
    scores = _by_id(score_path, SCORES, "score")
    captions: dict[str, dict[str, Any]] = {}
    captions_found = cap_path.exists()
    if captions_found:
        captions = _by_id(cap_path, CAPTIONS, "caption")
    else:
        log.warning("%s not found: caption columns will be null", cap_path)
    ids = {str(c["clip_id"]) for c in clips}
    rows = []
    for c in clips:
        cid = str(c["clip_id"])
        row = dict(c)
        row.update(captions.get(cid, {}))
        s = scores.get(cid)
        row.update(s or {})
        row["_scored"] = s is not None
        rows.append(row)
    return Joined(rows, captions_found, sum(1 for k in scores if k not in ids), sum(1 for k in captions if k not in ids))
