"""Summarize the tier table into one plain, JSON-ready dict: the single source of every figure.

The terminal table, the JSON output, the HTML page and the DVC metrics all read
this dict, so they can never disagree.  Its key order is fixed by construction
and every number is rounded, so the same inputs give byte-identical output.

It is computed from the columnar clip table (`load.clip_table`) with per-tier
masks, arrow group-bys and numpy: no Python object per clip, only per distinct
value (tags, languages, reasons) and per reject listed in the JSON.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.config import ReportParams
from curation.report.caption_quality import caption_quality
from curation.report.load import ReportInputs, clip_table, reject_table
from curation.report.signals import signal_summary

TIERS = (1, 2, 3, 4, 5)
RANDOM_INIT = "random-init"
SCHEMA_VERSION = 1

#: which table column records which model's weights, and what its scores feed
WEIGHT_COLUMNS = {
    "clip_weights": (
        "CLIP",
        "semantic_change, caption_similarity, near-duplicate detection and the difficulty score built from them",
    ),
    "captioner_weights": ("captioner", "generated captions (and the caption_similarity / text embeddings built from them)"),
}


def _r(x: float | None, nd: int = 6) -> float | None:
    if x is None or not math.isfinite(float(x)):
        return None
    return round(float(x), nd)


def difficulty_formula() -> str | None:
    """The scorer's formula string (curation.score.difficulty.FORMULA), or None when unavailable."""
    try:
        from curation.score import difficulty  # imported lazily: the report must work without the scorer
    except Exception:
        return None
    formula = getattr(difficulty, "FORMULA", None)
    return str(formula) if formula else None


def _value_counts(values: pa.Array | pa.ChunkedArray) -> dict[str, int]:
    """value -> number of occurrences (values must have no nulls)."""
    vc = pc.value_counts(values)
    return dict(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True))


def _counted(counts: dict[str, int], key: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Most frequent first, ties by value (code-point order), at most `limit`."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if limit is not None:
        items = items[:limit]
    return [{key: k, "clips": n} for k, n in items]


def _sum(values: np.ndarray) -> float:
    """Left-to-right float sum, in table order, from 0 (+ 0.0 turns a -0.0 result into 0.0, as sum() does).

    Bit for bit what the builtin sum() of the row code gave on Python 3.11 (3.12's sum() compensates
    rounding; numpy's sum() is pairwise): the same inputs keep giving the same rounded figures."""
    return float(np.add.accumulate(values)[-1]) + 0.0 if len(values) else 0.0


def _or(col: pa.ChunkedArray, default: str) -> pa.ChunkedArray:
    """Text with null and "" replaced by `default` (the row code's `value or default`)."""
    filled = pc.fill_null(col, default)
    return pc.if_else(pc.equal(filled, ""), default, filled)


@dataclass(frozen=True)
class _Clips:
    """The clip table's columns the fixed part of the summary reads, once, as numpy / arrow."""

    table: pa.Table
    tier: np.ndarray  # int64
    duration: np.ndarray  # float64, no NaN
    difficulty: np.ndarray  # float64, NaN = missing
    tiered: np.ndarray  # bool: tier in 1..5
    captioned: np.ndarray  # bool: a caption with non-blank text
    language: pa.ChunkedArray  # null / "" -> "und"

    @classmethod
    def of(cls, table: pa.Table) -> _Clips:
        tier = table.column("tier").to_numpy()
        caption = pc.fill_null(table.column("caption"), "")
        captioned = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(caption)), 0)  # Python's str.strip() notion of whitespace
        return cls(
            table=table,
            tier=tier,
            duration=table.column("duration_s").to_numpy(),
            difficulty=table.column("difficulty").to_numpy(),
            tiered=np.isin(tier, TIERS),
            captioned=captioned.to_numpy(),
            language=_or(table.column("language"), "und"),
        )


def _difficulty_stats(difficulty: np.ndarray) -> dict[str, float | None]:
    vals = np.sort(difficulty[~np.isnan(difficulty)])
    if not len(vals):
        return {"min": None, "median": None, "mean": None, "max": None}
    n = len(vals)
    median = vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2  # statistics.median
    return {
        "min": _r(vals[0]),
        "median": _r(median),
        "mean": _r(_sum(vals) / n),  # summed in ascending order, as before
        "max": _r(vals[-1]),
    }


def _tag_counts(tags: pa.ChunkedArray, mask: np.ndarray) -> dict[str, int]:
    """tag -> clips that have it (a tag listed twice for one clip counts once)."""
    sub = tags.filter(pa.array(mask))
    pairs = pa.table({"row": pc.list_parent_indices(sub), "tag": pc.list_flatten(sub)})
    return _value_counts(pairs.group_by(["row", "tag"]).aggregate([]).column("tag"))


def _tier_summary(tier: int, c: _Clips, top_tags: int) -> dict[str, Any]:
    mask = c.tier == tier
    seconds = _sum(c.duration[mask])
    return {
        "tier": tier,
        "clips": int(mask.sum()),
        "hours": _r(seconds / 3600.0),
        "seconds": _r(seconds, 3),
        "difficulty": _difficulty_stats(c.difficulty[mask]),
        "top_tags": _counted(_tag_counts(c.table.column("tags"), mask), "tag", top_tags),
        "languages": _counted(_value_counts(c.language.filter(pa.array(mask))), "language"),
        "captioned": int(c.captioned[mask].sum()),
        "duplicates": int(c.table.column("is_duplicate").to_numpy()[mask].sum()),
    }


def bin_index(difficulty: float, bins: int) -> int:
    d = min(max(float(difficulty), 0.0), 1.0)
    return min(int(d * bins), bins - 1)


def bin_indices(difficulty: np.ndarray, bins: int) -> np.ndarray:
    """`bin_index` of each (non-NaN) difficulty."""
    return np.minimum((np.clip(difficulty, 0.0, 1.0) * bins).astype(np.int64), bins - 1)


def _histogram(c: _Clips, bins: int) -> dict[str, Any]:
    """Counts of tiered clips per difficulty bin over [0, 1], overall and per tier."""
    scored = c.tiered & ~np.isnan(c.difficulty)
    b = bin_indices(c.difficulty[scored], bins)
    t = c.tier[scored]
    per_tier = {tier: np.bincount(b[t == tier], minlength=bins).tolist() for tier in TIERS}
    edges = [_r(i / bins) for i in range(bins + 1)]
    return {
        "edges": edges,
        "centers": [_r((i + 0.5) / bins) for i in range(bins)],
        "clips": [sum(per_tier[t][i] for t in TIERS) for i in range(bins)],
        "by_tier": {str(t): per_tier[t] for t in TIERS},
    }


def _weights(clips: pa.Table) -> dict[str, Any]:
    out: dict[str, Any] = {}
    warnings = []
    for col, (model, feeds) in WEIGHT_COLUMNS.items():
        counts = dict(sorted(_value_counts(pc.fill_null(clips.column(col), "(none)")).items()))
        out[col] = counts
        n_random = sum(n for v, n in counts.items() if v.strip().lower() == RANDOM_INIT)
        if n_random:
            warnings.append({"model": model, "column": col, "clips": n_random, "of": clips.num_rows, "affects": feeds})
    out["random_init"] = bool(warnings)
    out["random_init_models"] = warnings
    return out


def _rejects(rejects: pa.Table) -> dict[str, Any]:
    """Counts per (stage, reason), and every rejected file (the JSON lists them all; the HTML the first few)."""
    keyed = rejects.group_by(["stage", "reason"]).aggregate([([], "count_all")]).to_pylist()
    reasons = [
        {"stage": r["stage"], "reason": r["reason"], "files": r["count_all"]}
        for r in sorted(keyed, key=lambda r: (-r["count_all"], r["stage"], r["reason"]))
    ]
    files = rejects.select(["source_path", "stage", "reason", "detail"]).to_pylist()
    return {"files": rejects.num_rows, "reasons": reasons, "list": files}


def brief(obj: Any, depth: int = 3) -> Any:
    """A bounded view of free-form JSON (stage metrics, shard manifest): lists become their length."""
    if isinstance(obj, dict):
        if depth <= 0:
            return f"{{{len(obj)} keys}}"
        return {str(k): brief(v, depth - 1) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, list):
        return f"[{len(obj)} items]"
    if isinstance(obj, float):
        return _r(obj)
    return obj


#: Sections after the fixed part of the summary, in this order: (summary key, builder).  A builder
#: gets the clip table (load.clip_table: the load.CLIP_COLUMNS, sorted by clip_id) and the report
#: params, and returns a JSON-ready dict (rounded numbers, fixed key and row order).  To add one
#: (e.g. a section per curation signal): add the columns it reads to load.CLIP_COLUMNS, append it
#: here, give it a renderer in html_page.SECTIONS, and a line in terminal.summary_lines if wanted.
SECTIONS: tuple[tuple[str, Callable[[pa.Table, ReportParams], dict[str, Any]]], ...] = (
    ("caption_quality", lambda clips, params: caption_quality(clips, params.caption_quality_clips)),
    ("signals", signal_summary),
)


def summarize(
    inputs: ReportInputs, params: ReportParams, formula: str | None = None, difficulty_weights: dict[str, float] | None = None
) -> dict[str, Any]:
    """The whole report as a plain dict (fixed key order, rounded numbers), from the columnar inputs."""
    clips = clip_table(inputs.clips)  # a no-op for loaded inputs
    rejects = reject_table(inputs.rejects)
    c = _Clips.of(clips)
    excluded = ~c.tiered
    excl_s = _sum(c.duration[excluded])
    summary = {
        "schema_version": SCHEMA_VERSION,
        "totals": {
            "clips": clips.num_rows,
            "hours": _r(_sum(c.duration) / 3600.0),
            "tiered_clips": int(c.tiered.sum()),
            "tiered_hours": _r(_sum(c.duration[c.tiered]) / 3600.0),
            "excluded_clips": int(excluded.sum()),
            "rejected_files": rejects.num_rows,
        },
        "tiers": [_tier_summary(t, c, params.top_tags) for t in TIERS],
        "excluded": {
            "clips": int(excluded.sum()),
            "hours": _r(excl_s / 3600.0),
            "reasons": _counted(_value_counts(_or(clips.column("excluded_reason"), "unspecified").filter(pa.array(excluded))), "reason"),
        },
        "rejects": _rejects(rejects),
        "weights": _weights(clips),
        "difficulty_formula": formula,
        "difficulty_weights": dict(difficulty_weights) if difficulty_weights is not None else None,
        "difficulty_histogram": _histogram(c, params.histogram_bins),
        "stage_metrics": brief(inputs.stage_metrics),
        "shard_manifest": brief(inputs.shard_manifest) if inputs.shard_manifest is not None else None,
    }
    for key, build in SECTIONS:
        summary[key] = build(clips, params)
    return summary
