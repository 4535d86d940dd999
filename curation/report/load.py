"""Load the report's inputs: the tier table, the rejects table, and optional stage metrics.

Every loader is tolerant of what is optional (a missing rejects table, missing
optional columns, no metrics) and strict about what is not (no tiers table, or
one without the columns the report needs): that raises `ReportInputError` with
a message that says which stage to re-run.  Rows are sorted by `clip_id` so
every summary computed from them is independent of the input row order.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

#: columns the report cannot do without
REQUIRED_TIER_COLUMNS = ("clip_id", "tier", "duration_s", "difficulty")

#: columns used when present; filled with None when a tiers table lacks them
OPTIONAL_TIER_COLUMNS = (
    "clip_path",
    "caption",
    "caption_source",
    "language",
    "tags",
    "excluded_reason",
    "quality",
    "flow_mean",
    "flow_p95",
    "moving_fraction",
    "semantic_change",
    "caption_similarity",
    "spatial_complexity",
    "clip_weights",
    "captioner_weights",
    "is_duplicate",
    "source_path",
)

REJECT_COLUMNS = ("source_path", "source_sha256", "stage", "reason", "detail")

#: metrics files the report itself writes: never read back as inputs
OWN_METRICS = frozenset({"report.json"})


class ReportInputError(RuntimeError):
    """The report's required input is missing or malformed."""


@dataclass
class ReportInputs:
    clips: list[dict[str, Any]]  # one dict per tiers.parquet row, sorted by clip_id
    rejects: list[dict[str, Any]]  # sorted by (source_path, stage, reason)
    stage_metrics: dict[str, Any] = field(default_factory=dict)  # metrics/<name>.json -> parsed JSON
    shard_manifest: dict[str, Any] | None = None


def _clean(value: Any) -> Any:
    """NaN floats become None so that every consumer has one notion of "missing"."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def load_tiers(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise ReportInputError(f"{path}: tiers table not found; run the tier stage first (dvc repro tier)")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise ReportInputError(f"{path}: not a readable parquet file: {exc}") from None
    missing = [c for c in REQUIRED_TIER_COLUMNS if c not in table.column_names]
    if missing:
        raise ReportInputError(f"{path}: missing columns {missing}; re-run the tier stage")
    rows = table.to_pylist()
    out: list[dict[str, Any]] = []
    for r in rows:
        row = {k: _clean(v) for k, v in r.items()}
        for c in OPTIONAL_TIER_COLUMNS:
            row.setdefault(c, None)
        row["clip_id"] = str(row["clip_id"])
        row["tier"] = int(row["tier"]) if row["tier"] is not None else 0
        row["duration_s"] = float(row["duration_s"] or 0.0)
        row["tags"] = [str(t) for t in (row["tags"] or [])]
        out.append(row)
    out.sort(key=lambda r: r["clip_id"])
    return out


def load_rejects(path: str | Path | None) -> list[dict[str, Any]]:
    """The rejects table, or [] when there is none (a clean corpus has no rejects file)."""
    if path is None:
        return []
    path = Path(path)
    if not path.is_file():
        return []
    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as exc:
        raise ReportInputError(f"{path}: not a readable parquet file: {exc}") from None
    out = []
    for r in rows:
        out.append({c: ("" if r.get(c) is None and c != "source_sha256" else r.get(c)) for c in REJECT_COLUMNS})
    out.sort(key=lambda r: (str(r["source_path"]), str(r["stage"]), str(r["reason"]), str(r["detail"])))
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {"error": f"unreadable: {type(exc).__name__}: {exc}"}


def load_stage_metrics(metrics_dir: str | Path | None) -> dict[str, Any]:
    """Top-level metrics/*.json of the other stages, keyed by file stem, sorted."""
    if metrics_dir is None:
        return {}
    d = Path(metrics_dir)
    if not d.is_dir():
        return {}
    out: dict[str, Any] = {}
    for p in sorted(d.glob("*.json")):
        if p.name in OWN_METRICS or not p.is_file():
            continue
        out[p.stem] = _read_json(p)
    return out


def load_shard_manifest(path: str | Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        return None
    data = _read_json(p)
    return data if isinstance(data, dict) else {"manifest": data}


def load_inputs(
    tiers: str | Path,
    rejects: str | Path | None = None,
    metrics_dir: str | Path | None = None,
    shard_manifest: str | Path | None = None,
) -> ReportInputs:
    return ReportInputs(
        clips=load_tiers(tiers),
        rejects=load_rejects(rejects),
        stage_metrics=load_stage_metrics(metrics_dir),
        shard_manifest=load_shard_manifest(shard_manifest),
    )
