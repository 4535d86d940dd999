"""`run_tier`: clips + captions + scores -> tiers.parquet (one joined row per clip) + metrics/tiers.json.

Columnar from end to end (Arrow columns and numpy arrays; no Python row per clip): the
join aligns tables by clip_id, quality and tiers are array functions, and the metrics are
reductions over the written table.  Re-tiering 60,000 clips takes seconds, so the stage
recomputes everything each run ("processed N, reused 0").
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.config import Params, section_hash
from curation.io.atomic import write_json
from curation.io.tables import write_table
from curation.labels import ALL_TIERS, RANDOM_INIT, TIER_NAMES
from curation.schemas import TIERS
from curation.tier.assign import assign_arrays, exclusions
from curation.tier.join import join_tables
from curation.tier.quality import CLIP_SIMILARITY, quality_arrays


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
        fc = m.get("flagged_content") or {}
        if fc.get("clips"):
            lines.append(f"NOTE: {fc['clips']} clips flagged {fc['by_flag']} never count as tier 5 (tier.flagged_content: {fc['rule']})")
        if m.get("hours_overflow_clips"):
            lines.append(f"NOTE: {m['hours_overflow_clips']} clips overflowed tier 4's hours budget")
        return "\n".join(lines)


def _r(x: float, nd: int = 6) -> float:
    return round(float(x), nd)


def _floats(t: pa.Table, name: str) -> np.ndarray:
    return pc.fill_null(pc.cast(t.column(name), pa.float64()), np.nan).to_numpy(zero_copy_only=False).astype(np.float64)


def _strings(t: pa.Table, name: str) -> list[str | None]:
    return t.column(name).to_pylist()


def tier_metrics(t: pa.Table, params: Params, joined, overflow: int) -> dict[str, Any]:
    """Clips, hours and difficulty range per tier, from the tiers table's columns."""
    tp = params.tier
    tier = t.column("tier").to_numpy(zero_copy_only=False)
    dur = _floats(t, "duration_s")
    diff = _floats(t, "difficulty")
    clips, hours, dmin, dmax = {}, {}, {}, {}
    for k in ALL_TIERS:
        sel = tier == k
        clips[f"tier_{k}"] = int(sel.sum())
        hours[f"tier_{k}"] = _r(float(dur[sel].sum()) / 3600.0)
        ds = diff[sel & np.isfinite(diff)]
        dmin[f"tier_{k}"] = _r(ds.min()) if len(ds) else None
        dmax[f"tier_{k}"] = _r(ds.max()) if len(ds) else None
    weights = sorted(w for w in pc.unique(pc.drop_null(t.column("clip_weights"))).to_pylist())
    methods = t.column("quality_method")
    fallback = pc.and_(pc.not_equal(t.column("tier"), 0), pc.and_(pc.is_valid(methods), pc.not_equal(pc.fill_null(methods, ""), CLIP_SIMILARITY)))
    reasons = sorted(pc.unique(pc.filter(methods, fallback)).to_pylist())
    excl = [r.split(":")[0] for r in pc.drop_null(t.column("excluded_reason")).to_pylist()]
    total = float(dur.sum())
    return {
        "method": tp.method,
        "clip_weights": ",".join(weights) or "none",
        "clip_random_init": RANDOM_INIT in weights,
        "clips": clips,
        "hours": hours,
        "total_hours": _r(total / 3600.0),
        "tiered_hours": _r((total - float(dur[tier == 0].sum())) / 3600.0),
        "total_clips": t.num_rows,
        "excluded": clips["tier_0"],
        "excluded_reasons": dict(sorted(Counter(excl).items())),
        "difficulty_min": dmin,
        "difficulty_max": dmax,
        "quality_fallback_clips": int(pc.sum(pc.cast(fallback, pa.int64())).as_py() or 0),
        "quality_fallback_reason": "; ".join(reasons),
        "hours_overflow_clips": overflow,
        "captions_table_found": joined.captions_found,
        "orphan_scores": joined.orphan_scores,
        "orphan_captions": joined.orphan_captions,
        "params_hash": section_hash(tp),
    }


def content_flags(t: pa.Table, counted: list[str]) -> list[list[str]]:
    """The counted content flags of each clip ([] when none, or when the scores table has no flags)."""
    if "content_flags" not in t.column_names:
        return [[] for _ in range(t.num_rows)]
    keep = set(counted)
    return [[f for f in (flags or []) if f in keep] for flags in t.column("content_flags").to_pylist()]


def run_tier(params: Params, verbose: bool = True) -> TierSummary:
    """Assign every clip a tier; write `paths.tiers_table` and `<metrics_dir>/tiers.json`; print a table."""
    paths, tp = params.paths, params.tier
    joined = join_tables(paths.clips_table, paths.captions_table, paths.scores_table)
    t = joined.table
    n = t.num_rows
    diff = _floats(t, "difficulty")
    captioned = np.array([bool((c or "").strip()) for c in _strings(t, "caption")], dtype=bool)
    ok = joined.scored & pc.is_null(t.column("score_error")).to_numpy(zero_copy_only=False)
    quality, method, group = quality_arrays(_strings(t, "clip_weights"), captioned, _floats(t, "caption_similarity"), _floats(t, "sharpness"), _floats(t, "exposure"), _floats(t, "n_temporal_noise"))
    quality = np.where(ok, quality, np.nan)
    method_col: list[str | None] = [m if o else None for m, o in zip(method, ok, strict=True)]
    group = np.where(ok, group, 9)
    dup = pc.fill_null(t.column("is_duplicate"), False).to_numpy(zero_copy_only=False)
    excluded = exclusions(joined.scored, _strings(t, "score_error"), diff, dup, _strings(t, "duplicate_of"))
    flagged = content_flags(t, tp.flags)
    if tp.flagged_content == "exclude":
        excluded = [f"content:{','.join(f)}" if e is None and f else e for e, f in zip(excluded, flagged, strict=True)]
    ids = np.array(t.column("clip_id").to_pylist())
    refine_ok = np.array([not f for f in flagged], dtype=bool)
    a = assign_arrays(ids, _floats(t, "duration_s"), diff, excluded, quality, group, [m or "" for m in method_col], tp, refine_ok=refine_ok)
    for i in np.flatnonzero((a.tier > 0) & ~refine_ok):
        a.reason[i] += f" [content: {', '.join(flagged[i])}: never tier 5 (tier.flagged_content)]"
    phash = section_hash(tp)
    fields = {
        "tier": pa.array(a.tier, pa.int32()),
        "tier_name": pa.array([TIER_NAMES[int(k)] for k in a.tier], pa.string()),
        "tier_reason": pa.array(a.reason, pa.string()),
        "excluded_reason": pa.array(a.excluded_reason, pa.string()),
        "quality": pa.array(quality, pa.float64(), from_pandas=True),
        "quality_method": pa.array(method_col, pa.string()),
        "tier_method": pa.array([tp.method] * n, pa.string()),
        "tier_params_hash": pa.array([phash] * n, pa.string()),
    }
    for name, col in fields.items():
        t = t.append_column(name, col)
    t = t.select(TIERS.names).cast(TIERS)
    write_table(t, paths.tiers_table)
    metrics = tier_metrics(t, params, joined, int(a.overflow.sum()))
    metrics["flagged_content"] = {
        "rule": tp.flagged_content,
        "clips": int((~refine_ok).sum()),
        "by_flag": dict(sorted(Counter(f for fl in flagged for f in fl).items())),
        "by_tier": {f"tier_{k}": int(((a.tier == k) & ~refine_ok).sum()) for k in ALL_TIERS},
    }
    write_json(Path(paths.metrics_dir) / "tiers.json", metrics)
    summary = TierSummary(n, metrics["total_hours"], metrics)
    if verbose:
        print(summary.table(), flush=True)
        print(f"tier: {n} clips, {n - metrics['excluded']} in tiers 1-5, {metrics['excluded']} excluded; processed {n}, reused 0", flush=True)
    return summary
