"""Summarize the tier table into one plain, JSON-ready dict: the single source of every figure.

The terminal table, the JSON output, the HTML page and the DVC metrics all read
this dict, so they can never disagree.  Its key order is fixed by construction
and every number is rounded, so the same inputs give byte-identical output.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from typing import Any

from curation.config import ReportParams
from curation.report.caption_quality import caption_quality, table_from_rows
from curation.report.load import ReportInputs

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


def _counted(values: list[str], key: str, limit: int | None = None) -> list[dict[str, Any]]:
    items = sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0]))
    if limit is not None:
        items = items[:limit]
    return [{key: k, "clips": n} for k, n in items]


def _difficulty_stats(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    vals = sorted(float(r["difficulty"]) for r in rows if r["difficulty"] is not None)
    if not vals:
        return {"min": None, "median": None, "mean": None, "max": None}
    return {
        "min": _r(vals[0]),
        "median": _r(statistics.median(vals)),
        "mean": _r(sum(vals) / len(vals)),
        "max": _r(vals[-1]),
    }


def _tier_summary(tier: int, rows: list[dict[str, Any]], top_tags: int) -> dict[str, Any]:
    seconds = sum(r["duration_s"] for r in rows)
    tags = [t for r in rows for t in sorted(set(r["tags"]))]
    return {
        "tier": tier,
        "clips": len(rows),
        "hours": _r(seconds / 3600.0),
        "seconds": _r(seconds, 3),
        "difficulty": _difficulty_stats(rows),
        "top_tags": _counted(tags, "tag", top_tags),
        "languages": _counted([str(r["language"] or "und") for r in rows], "language"),
        "captioned": sum(1 for r in rows if (r["caption"] or "").strip()),
        "duplicates": sum(1 for r in rows if r["is_duplicate"]),
    }


def bin_index(difficulty: float, bins: int) -> int:
    d = min(max(float(difficulty), 0.0), 1.0)
    return min(int(d * bins), bins - 1)


def _histogram(rows: list[dict[str, Any]], bins: int) -> dict[str, Any]:
    """Counts of tiered clips per difficulty bin over [0, 1], overall and per tier."""
    per_tier = {t: [0] * bins for t in TIERS}
    for r in rows:
        if r["tier"] in per_tier and r["difficulty"] is not None:
            per_tier[r["tier"]][bin_index(r["difficulty"], bins)] += 1
    edges = [_r(i / bins) for i in range(bins + 1)]
    return {
        "edges": edges,
        "centers": [_r((i + 0.5) / bins) for i in range(bins)],
        "clips": [sum(per_tier[t][i] for t in TIERS) for i in range(bins)],
        "by_tier": {str(t): per_tier[t] for t in TIERS},
    }


def _weights(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    warnings = []
    for col, (model, feeds) in WEIGHT_COLUMNS.items():
        vals = [str(r[col]) if r[col] is not None else "(none)" for r in rows]
        counts = dict(sorted(Counter(vals).items()))
        out[col] = counts
        n_random = sum(1 for v in vals if v.strip().lower() == RANDOM_INIT)
        if n_random:
            warnings.append({"model": model, "column": col, "clips": n_random, "of": len(rows), "affects": feeds})
    out["random_init"] = bool(warnings)
    out["random_init_models"] = warnings
    return out


def _rejects(rejects: list[dict[str, Any]]) -> dict[str, Any]:
    keyed = Counter((str(r["stage"]), str(r["reason"])) for r in rejects)
    reasons = [
        {"stage": s, "reason": reason, "files": n}
        for (s, reason), n in sorted(keyed.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1]))
    ]
    files = [{"source_path": str(r["source_path"]), "stage": str(r["stage"]), "reason": str(r["reason"]), "detail": str(r["detail"])} for r in rejects]
    return {"files": len(rejects), "reasons": reasons, "list": files}


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


def summarize(
    inputs: ReportInputs, params: ReportParams, formula: str | None = None, difficulty_weights: dict[str, float] | None = None
) -> dict[str, Any]:
    """The whole report as a plain dict (fixed key order, rounded numbers)."""
    clips = inputs.clips
    tiered = [r for r in clips if r["tier"] in TIERS]
    excluded = [r for r in clips if r["tier"] not in TIERS]
    tiers = [_tier_summary(t, [r for r in tiered if r["tier"] == t], params.top_tags) for t in TIERS]
    total_s = sum(r["duration_s"] for r in clips)
    excl_s = sum(r["duration_s"] for r in excluded)
    return {
        "schema_version": SCHEMA_VERSION,
        "totals": {
            "clips": len(clips),
            "hours": _r(total_s / 3600.0),
            "tiered_clips": len(tiered),
            "tiered_hours": _r(sum(r["duration_s"] for r in tiered) / 3600.0),
            "excluded_clips": len(excluded),
            "rejected_files": len(inputs.rejects),
        },
        "tiers": tiers,
        "excluded": {
            "clips": len(excluded),
            "hours": _r(excl_s / 3600.0),
            "reasons": _counted([str(r["excluded_reason"] or "unspecified") for r in excluded], "reason"),
        },
        "rejects": _rejects(inputs.rejects),
        "weights": _weights(clips),
        "difficulty_formula": formula,
        "difficulty_weights": dict(difficulty_weights) if difficulty_weights is not None else None,
        "difficulty_histogram": _histogram(clips, params.histogram_bins),
        "stage_metrics": brief(inputs.stage_metrics),
        "shard_manifest": brief(inputs.shard_manifest) if inputs.shard_manifest is not None else None,
        "caption_quality": caption_quality(table_from_rows(clips), params.caption_quality_clips),
    }
