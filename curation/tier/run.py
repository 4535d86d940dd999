"""`run_tier`: clips + captions + scores -> tiers.parquet (one joined row per clip) + metrics/tiers.json."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curation.config import Params, section_hash
from curation.io.atomic import write_json
from curation.io.tables import write_rows
from curation.schemas import TIERS
from curation.tier.assign import TIER_NAMES, assign_tiers
from curation.tier.join import join_tables
from curation.tier.quality import CLIP_SIMILARITY, RANDOM_INIT, clip_quality

ALL_TIERS = (0, 1, 2, 3, 4, 5)


@dataclass
class TierSummary:
    clips: int
    total_hours: float
    metrics: dict[str, Any] = field(default_factory=dict)

    def table(self) -> str:
        m = self.metrics
        lines = [f"{'tier':<5} {'name':<32} {'clips':>6} {'hours':>10} {'difficulty':>17}", "-" * 74]
        for t in ALL_TIERS:
            k = f"tier_{t}"
            lo, hi = m["difficulty_min"].get(k), m["difficulty_max"].get(k)
            rng = f"{lo:.3f}-{hi:.3f}" if lo is not None else "-"
            lines.append(f"{t:<5} {TIER_NAMES[t]:<32} {m['clips'][k]:>6} {m['hours'][k]:>10.4f} {rng:>17}")
        lines.append("-" * 74)
        lines.append(f"{'all':<5} {'':<32} {self.clips:>6} {self.total_hours:>10.4f}   method {m['method']}, CLIP {m['clip_weights']}")
        if m.get("quality_fallback_clips"):
            lines.append(f"NOTE: tier 5 quality used the sharpness x exposure FALLBACK for {m['quality_fallback_clips']} clips ({m['quality_fallback_reason']})")
        if m.get("hours_overflow_clips"):
            lines.append(f"NOTE: {m['hours_overflow_clips']} clips overflowed tier 4's hours budget")
        return "\n".join(lines)


def _r(x: float, nd: int = 6) -> float:
    return round(float(x), nd)


def tier_metrics(rows: list[dict[str, Any]], params: Params, joined, overflow: int) -> dict[str, Any]:
    tp = params.tier
    secs = Counter()
    clips = Counter()
    dmin: dict[str, float | None] = {}
    dmax: dict[str, float | None] = {}
    for r in rows:
        secs[r["tier"]] += float(r["duration_s"])
        clips[r["tier"]] += 1
    for t in ALL_TIERS:
        ds = [r["difficulty"] for r in rows if r["tier"] == t and r.get("difficulty") is not None]
        dmin[f"tier_{t}"] = _r(min(ds)) if ds else None
        dmax[f"tier_{t}"] = _r(max(ds)) if ds else None
    weights = sorted({str(r["clip_weights"]) for r in rows if r.get("clip_weights")})
    fallback = [r for r in rows if r["tier"] != 0 and r.get("quality_method") and r["quality_method"] != CLIP_SIMILARITY]
    reasons = sorted({r["quality_method"] for r in fallback})
    total = sum(secs.values())
    return {
        "method": tp.method,
        "clip_weights": ",".join(weights) or "none",
        "clip_random_init": RANDOM_INIT in weights,
        "clips": {f"tier_{t}": clips[t] for t in ALL_TIERS},
        "hours": {f"tier_{t}": _r(secs[t] / 3600.0) for t in ALL_TIERS},
        "total_hours": _r(total / 3600.0),
        "tiered_hours": _r((total - secs[0]) / 3600.0),
        "total_clips": len(rows),
        "excluded": clips[0],
        "excluded_reasons": dict(sorted(Counter(r["excluded_reason"].split(":")[0] for r in rows if r["excluded_reason"]).items())),
        "difficulty_min": dmin,
        "difficulty_max": dmax,
        "quality_fallback_clips": len(fallback),
        "quality_fallback_reason": "; ".join(reasons),
        "hours_overflow_clips": overflow,
        "captions_table_found": joined.captions_found,
        "orphan_scores": joined.orphan_scores,
        "orphan_captions": joined.orphan_captions,
        "params_hash": section_hash(tp),
    }


def run_tier(params: Params, verbose: bool = True) -> TierSummary:
    """Assign every clip a tier; write `paths.tiers_table` and `<metrics_dir>/tiers.json`; print a table."""
    paths, tp = params.paths, params.tier
    joined = join_tables(paths.clips_table, paths.captions_table, paths.scores_table)
    rows = joined.rows
    for r in rows:
        if r["_scored"] and not r.get("score_error"):
            r["quality"], r["quality_method"], r["_quality_group"] = clip_quality(r)
        else:
            r["quality"], r["quality_method"], r["_quality_group"] = None, None, 9
    assigned = assign_tiers(rows, tp)
    phash = section_hash(tp)
    for r in rows:
        a = assigned[str(r["clip_id"])]
        r.update(tier=a.tier, tier_name=TIER_NAMES[a.tier], tier_reason=a.reason, excluded_reason=a.excluded_reason, tier_method=tp.method, tier_params_hash=phash)
    overflow = sum(1 for a in assigned.values() if a.overflow)
    write_rows(rows, TIERS, paths.tiers_table)
    metrics = tier_metrics(rows, params, joined, overflow)
    write_json(Path(paths.metrics_dir) / "tiers.json", metrics)
    summary = TierSummary(len(rows), metrics["total_hours"], metrics)
    if verbose:
        print(summary.table(), flush=True)
    return summary
