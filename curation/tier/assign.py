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

import numpy as np

from curation.config import TierParams
from curation.labels import TIER_NAMES  # noqa: F401  (re-exported: the tier names live with the tier ids)


@dataclass(frozen=True)
class Assignment:
    tier: int
    reason: str
    excluded_reason: str | None = None
    overflow: bool = False


@dataclass
class TierArrays:
    """The tier of every row (columnar: one entry per input row, input order)."""

    tier: np.ndarray  # int32, 0..5
    reason: list[str]
    excluded_reason: list[str | None]
    overflow: np.ndarray  # bool


def _round(x: float) -> int:
    return int(math.floor(x + 0.5))


def exclusions(scored: np.ndarray, score_error: list[str | None], difficulty: np.ndarray, is_duplicate: np.ndarray, duplicate_of: list[str | None]) -> list[str | None]:
    """Why each row is excluded (tier 0), or None."""
    out: list[str | None] = []
    for sc, err, d, dup, of in zip(scored, score_error, difficulty, is_duplicate, duplicate_of, strict=True):
        if not sc:
            out.append("not_scored: no row in scores.parquet (re-run the score stage)")
        elif err:
            out.append(f"score_error: {err}")
        elif not math.isfinite(d):
            out.append("no_difficulty")
        elif dup:
            out.append(f"duplicate_of:{of}")
        else:
            out.append(None)
    return out


def _quality_reason(quality: float, method: str, rank: int, n: int) -> str:
    loud = " [CLIP RANDOM-INIT: quality is NOT caption-video similarity]" if "random-init" in method else ""
    return f"tier 5 ({TIER_NAMES[5]}): quality {quality:.4f} by {method}, rank {rank}/{n}{loud}"


def _quantile_bounds(p: TierParams, n: int) -> list[int]:
    total = sum(p.quantiles)
    cum, bounds = 0.0, []
    for q in p.quantiles:
        cum += q / total
        bounds.append(_round(cum * n))
    bounds[-1] = n
    return bounds


def assign_arrays(
    clip_id: np.ndarray,
    duration: np.ndarray,
    difficulty: np.ndarray,
    excluded: list[str | None],
    quality: np.ndarray,
    group: np.ndarray,
    quality_method: list[str],
    p: TierParams,
    refine_ok: np.ndarray | None = None,
) -> TierArrays:
    """Tiers for every row (arrays in, arrays out; `clip_id` a str array for tie-breaks).

    `excluded[i]` (from `exclusions`) sends row i to tier 0; `refine_ok` (default: all)
    says which rows may be promoted to tier 5 at all."""
    n_all = len(clip_id)
    tier = np.zeros(n_all, np.int32)
    reason: list[str] = [""] * n_all
    overflow = np.zeros(n_all, bool)
    eligible = np.array([e is None for e in excluded], dtype=bool)
    for i in np.flatnonzero(~eligible):
        reason[i] = f"excluded: {excluded[i]}"
    ok = np.ones(n_all, bool) if refine_ok is None else np.asarray(refine_ok, bool)

    # tier 5 first: rank by (group, -quality, clip_id) among eligible rows with a quality
    cand = np.flatnonzero(eligible & np.isfinite(quality) & ok)
    ranked = cand[np.lexsort((clip_id[cand], -quality[cand], group[cand]))]
    if p.method == "hours" and p.refinement_hours is not None:
        fits = np.cumsum(duration[ranked]) <= p.refinement_hours * 3600.0 + 1e-9
        take = int(np.argmin(fits)) if not fits.all() else len(ranked)  # stop at the first one that does not fit
    else:
        take = min(len(ranked), _round(p.refinement_fraction * int(eligible.sum())))
    refine = ranked[:take]
    for rank, i in enumerate(refine, 1):
        tier[i] = 5
        reason[i] = _quality_reason(float(quality[i]), quality_method[i], rank, take)

    # tiers 1-4 in (difficulty, clip_id) order
    rest = np.flatnonzero(eligible & (tier != 5))
    rest = rest[np.lexsort((clip_id[rest], difficulty[rest]))]
    n = len(rest)
    if p.method == "quantile":
        bounds = _quantile_bounds(p, n)
        ks = np.searchsorted(np.asarray(bounds), np.arange(n), side="right")
        for rank, (i, k) in enumerate(zip(rest, ks, strict=True)):
            lo = 0 if k == 0 else bounds[k - 1]
            tier[i] = k + 1
            reason[i] = f"tier {k + 1} ({TIER_NAMES[k + 1]}): difficulty {difficulty[i]:.4f}, rank {rank + 1}/{n} in quantile band {lo}-{bounds[k]}"
    else:
        budgets = [h * 3600.0 for h in p.hours]
        used = [0.0] * 4
        k = 0
        for rank, i in enumerate(rest):
            d = float(duration[i])
            while k < 3 and used[k] + d > budgets[k] + 1e-9:
                k += 1
            over = used[k] + d > budgets[k] + 1e-9
            used[k] += d
            note = f", OVERFLOW beyond tier 4's {p.hours[3]} h budget" if over else f" of {p.hours[k]} h budget"
            tier[i], overflow[i] = k + 1, over
            reason[i] = f"tier {k + 1} ({TIER_NAMES[k + 1]}): difficulty {difficulty[i]:.4f}, rank {rank + 1}/{n}, tier filled to {used[k] / 3600.0:.4f} h{note}"
    return TierArrays(tier, reason, list(excluded), overflow)


def assign_tiers(rows: list[dict[str, Any]], p: TierParams) -> dict[str, Assignment]:
    """{clip_id: Assignment} for row dicts (tests and small tables; the stage uses `assign_arrays`).

    Rows need clip_id, duration_s, difficulty, score_error, is_duplicate, duplicate_of,
    quality, quality_method, `_quality_group` and `_scored` (whether a scores row exists)."""
    def f(v: Any) -> float:
        return float(v) if v is not None else math.nan

    ids = np.array([str(r["clip_id"]) for r in rows])
    diff = np.array([f(r.get("difficulty")) for r in rows])
    excl = exclusions(np.array([bool(r.get("_scored")) for r in rows]), [r.get("score_error") for r in rows], diff, np.array([bool(r.get("is_duplicate")) for r in rows]), [r.get("duplicate_of") for r in rows])
    out = assign_arrays(
        ids, np.array([float(r["duration_s"]) for r in rows]), diff, excl, np.array([f(r.get("quality")) for r in rows]),
        np.array([int(r.get("_quality_group", 9)) for r in rows]), [str(r.get("quality_method") or "") for r in rows], p,
    )  # fmt: skip
    return {str(ids[i]): Assignment(int(out.tier[i]), out.reason[i], out.excluded_reason[i], bool(out.overflow[i])) for i in range(len(rows))}
