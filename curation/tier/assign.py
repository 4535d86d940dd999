"""Tier assignment: five curriculum tiers from difficulty and quality.

Seed curriculum:
    1  simple objects & static scenes          (easiest)
    2  compound scenes with simple motion
    3  complex motion & lighting
    4  edge cases & fast motion                 (hardest)
    5  refinement on the highest-quality clips
    0  excluded (near-duplicate, score failed, not scored): `excluded_reason` says which

Order of decisions:
1. Exclusions: clips without a scores row, with `score_error`, without a
   difficulty, or flagged `is_duplicate` get tier 0.
2. Tier 5 first: eligible clips are ranked by quality (`curation.tier.quality`:
   group, then quality descending, then clip_id).  Method "quantile" (and
   "hours" without `refinement_hours`): the top round(refinement_fraction x N)
   clips.  Method "hours" with `refinement_hours`: clips in that order while
   they fit in the budget (stops at the first one that does not).  Clips with no
   quality value are never tier 5.
3. The rest, sorted by (difficulty, clip_id), fill tiers 1-4 in difficulty
   order, so every clip of tier k is at most as difficult as any clip of tier k+1:
   * "quantile": the normalized `quantiles` are cumulative shares of the clip
     count; the clip at rank r goes to the first tier whose cumulative bound
     round(cum_share x N) exceeds r.
   * "hours": `hours` are budgets for tiers 1-4.  A clip goes into the current
     tier if it still fits in that tier's budget; otherwise the next tier
     becomes current.  Tiers 1-3 never exceed their budgets; whatever is left
     when tier 4's budget is used up still goes to tier 4 (overflow, said in the
     tier reason and in metrics) - a corpus larger than the budgets is never
     silently dropped.  With a small corpus the easy tiers take everything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from curation.config import TierParams

TIER_NAMES = {
    0: "excluded",
    1: "simple objects & static scenes",
    2: "compound scenes, simple motion",
    3: "complex motion & lighting",
    4: "edge cases & fast motion",
    5: "refinement (highest quality)",
}


@dataclass(frozen=True)
class Assignment:
    tier: int
    reason: str
    excluded_reason: str | None = None
    overflow: bool = False


def _round(x: float) -> int:
    return int(math.floor(x + 0.5))


def exclusion(row: dict[str, Any]) -> str | None:
    if not row.get("_scored"):
        return "not_scored: no row in scores.parquet (re-run the score stage)"
    if row.get("score_error"):
        return f"score_error: {row['score_error']}"
    if row.get("difficulty") is None or not math.isfinite(row["difficulty"]):
        return "no_difficulty"
    if row.get("is_duplicate"):
        return f"duplicate_of:{row.get('duplicate_of')}"
    return None


def _pick_refinement(eligible: list[dict[str, Any]], p: TierParams) -> list[dict[str, Any]]:
    ranked = sorted((r for r in eligible if r.get("quality") is not None), key=lambda r: (r["_quality_group"], -r["quality"], str(r["clip_id"])))
    if p.method == "hours" and p.refinement_hours is not None:
        budget, used, out = p.refinement_hours * 3600.0, 0.0, []
        for r in ranked:
            if used + r["duration_s"] > budget + 1e-9:
                break
            out.append(r)
            used += r["duration_s"]
        return out
    return ranked[: min(len(ranked), _round(p.refinement_fraction * len(eligible)))]


def _quality_reason(r: dict[str, Any], rank: int, n: int) -> str:
    loud = " [CLIP RANDOM-INIT: quality is NOT caption-video similarity]" if "random-init" in r["quality_method"] else ""
    return f"tier 5 ({TIER_NAMES[5]}): quality {r['quality']:.4f} by {r['quality_method']}, rank {rank}/{n}{loud}"


def _quantile_bounds(p: TierParams, n: int) -> list[int]:
    total = sum(p.quantiles)
    cum, bounds = 0.0, []
    for q in p.quantiles:
        cum += q / total
        bounds.append(_round(cum * n))
    bounds[-1] = n
    return bounds


def assign_tiers(rows: list[dict[str, Any]], p: TierParams) -> dict[str, Assignment]:
    """{clip_id: Assignment} for every row.

    Rows need clip_id, duration_s, difficulty, score_error, is_duplicate, duplicate_of,
    quality, quality_method, `_quality_group` and `_scored` (whether a scores row exists).
    """
    out: dict[str, Assignment] = {}
    eligible = []
    for r in rows:
        why = exclusion(r)
        if why is not None:
            out[str(r["clip_id"])] = Assignment(0, f"excluded: {why}", why)
        else:
            eligible.append(r)

    refine = _pick_refinement(eligible, p)
    for rank, r in enumerate(refine, 1):
        out[str(r["clip_id"])] = Assignment(5, _quality_reason(r, rank, len(refine)))

    rest = sorted((r for r in eligible if str(r["clip_id"]) not in out), key=lambda r: (r["difficulty"], str(r["clip_id"])))
    n = len(rest)
    if p.method == "quantile":
        bounds = _quantile_bounds(p, n)
        k = 0
        for rank, r in enumerate(rest):
            while rank >= bounds[k]:
                k += 1
            lo = 0 if k == 0 else bounds[k - 1]
            out[str(r["clip_id"])] = Assignment(
                k + 1, f"tier {k + 1} ({TIER_NAMES[k + 1]}): difficulty {r['difficulty']:.4f}, rank {rank + 1}/{n} in quantile band {lo}-{bounds[k]}"
            )
    else:
        budgets = [h * 3600.0 for h in p.hours]
        used = [0.0] * 4
        k = 0
        for rank, r in enumerate(rest):
            d = float(r["duration_s"])
            while k < 3 and used[k] + d > budgets[k] + 1e-9:
                k += 1
            overflow = used[k] + d > budgets[k] + 1e-9
            used[k] += d
            note = f", OVERFLOW beyond tier 4's {p.hours[3]} h budget" if overflow else f" of {p.hours[k]} h budget"
            out[str(r["clip_id"])] = Assignment(
                k + 1,
                f"tier {k + 1} ({TIER_NAMES[k + 1]}): difficulty {r['difficulty']:.4f}, rank {rank + 1}/{n}, tier filled to {used[k] / 3600.0:.4f} h{note}",
                overflow=overflow,
            )
    return out
