"""Curriculum schedule: which shards feed a phase, and in what proportion.

`plan_phase(curriculum, phase_index, manifest)` turns `curriculum.phases[phase_index]`
(0-based) into a `PhasePlan`: a list of weighted sources, each a tier's shards
from the manifest plus a minimum `tier_rank`:

* new data: every tier of the phase with a non-zero weight, weight share
  `(1 - replay) * w_tier / sum(w)`, all ranks.
* replay: when the phase has `replay_from_previous = r > 0` and a previous phase
  exists, each tier of the *previous* phase contributes its hardest
  `replay_top_fraction` of samples (tier_rank >= n - ceil(f * n); samples are
  ranked by difficulty inside a tier, so these are the tier's last ranks and only
  its last shards are read), weight share `r * w_prev_tier / sum(w_prev)`.

Shares are shares of *samples* (clips are of similar length, so of hours too):
the seed phase 2 (`tiers {2: 1}`, `replay_from_previous 1/3`) draws 2/3 of its
samples from tier 2 and 1/3 from the hardest 30 % of tier 1 (20 h new + 10 h hard).
Tiers with no samples in the manifest are left out with a warning and the other
shares renormalized; a phase with no samples at all is an error.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from curation.config import CurriculumParams, PhaseParams
from shards.manifest import tier_shards

log = logging.getLogger(__name__)


class CurriculumError(ValueError):
    """The curriculum cannot be served by this shard set."""


@dataclass(frozen=True)
class SourceSpec:
    name: str  # "new:tier2", "replay:tier1"
    tier: int
    weight: float  # share of the phase's samples (the weights of a plan sum to 1)
    shards: tuple[dict[str, Any], ...]  # manifest entries holding eligible samples, in rank order
    min_rank: int  # samples with tier_rank >= min_rank are eligible
    replay: bool

    def eligible_in(self, entry: dict[str, Any]) -> int:
        """Eligible samples in one shard entry (ranks are contiguous from first_index)."""
        lo, n = int(entry["first_index"]), int(entry["samples"])
        return max(0, lo + n - max(lo, self.min_rank))

    @property
    def samples(self) -> int:
        return sum(self.eligible_in(e) for e in self.shards)

    @property
    def hours(self) -> float:
        return sum(float(e["hours"]) * self.eligible_in(e) / max(int(e["samples"]), 1) for e in self.shards)


@dataclass(frozen=True)
class PhasePlan:
    phase_index: int
    phase: PhaseParams | None
    sources: tuple[SourceSpec, ...]
    notes: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        lines = [f"phase {self.phase_index + 1}:"]
        for s in self.sources:
            lines.append(f"  {s.name:<14} share {s.weight:6.3f}  pool {s.samples} samples / {s.hours:.3f} h in {len(s.shards)} shard(s)")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _tier_pool(manifest: dict[str, Any], tier: int) -> list[dict[str, Any]]:
    return [e for e in tier_shards(manifest, tier) if int(e["samples"]) > 0]


def _normalized(weights: dict[int, float]) -> dict[int, float]:
    total = sum(weights.values())
    return {t: w / total for t, w in sorted(weights.items())} if total > 0 else {}


def _replay_sources(prev: PhaseParams, top_fraction: float, manifest: dict[str, Any], notes: list[str]) -> list[tuple[int, float, list[dict[str, Any]], int]]:
    out = []
    for tier, w in sorted(prev.tiers.items()):
        if w <= 0:
            continue
        pool = _tier_pool(manifest, tier)
        n = sum(int(e["samples"]) for e in pool)
        if n == 0:
            notes.append(f"replay tier {tier} has no samples; left out")
            continue
        k = max(1, math.ceil(top_fraction * n))
        min_rank = n - k
        shards = [e for e in pool if int(e["first_index"]) + int(e["samples"]) > min_rank]
        out.append((tier, w, shards, min_rank))
    return out


def plan_sources(tier_weights: dict[int, float], manifest: dict[str, Any], *, phase_index: int = -1, phase: PhaseParams | None = None,
                 replay_share: float = 0.0, replay_from: PhaseParams | None = None, replay_top_fraction: float = 0.3) -> PhasePlan:
    """A plan from explicit tier weights (and optional replay); `plan_phase` fills these from the curriculum."""
    notes: list[str] = []
    new: dict[int, float] = {}
    pools: dict[int, list[dict[str, Any]]] = {}
    for tier, w in sorted(tier_weights.items()):
        if w <= 0:
            continue
        pool = _tier_pool(manifest, tier)
        if not pool:
            notes.append(f"tier {tier} has no samples; left out")
            continue
        new[tier], pools[tier] = w, pool
    replay = _replay_sources(replay_from, replay_top_fraction, manifest, notes) if (replay_from is not None and replay_share > 0) else []
    if not new and not replay:
        raise CurriculumError(f"phase {phase_index + 1}: no samples in tiers {sorted(tier_weights)} of this shard set" + (f" ({'; '.join(notes)})" if notes else ""))
    r = replay_share if replay else 0.0
    if not new:
        notes.append("no new data: the phase is replay only")
        r = 1.0
    sources: list[SourceSpec] = []
    for tier, share in _normalized(new).items():
        sources.append(SourceSpec(f"new:tier{tier}", tier, (1.0 - r) * share, tuple(pools[tier]), 0, False))
    rw = _normalized({t: w for t, w, _, _ in replay})
    for tier, _, shards, min_rank in replay:
        sources.append(SourceSpec(f"replay:tier{tier}", tier, r * rw[tier], tuple(shards), min_rank, True))
    for n in notes:
        log.warning("curriculum phase %d: %s", phase_index + 1, n)
    return PhasePlan(phase_index, phase, tuple(s for s in sources if s.weight > 0), tuple(notes))


def plan_phase(curriculum: CurriculumParams, phase_index: int, manifest: dict[str, Any]) -> PhasePlan:
    """The sources of curriculum phase `phase_index` (0-based) in this shard set."""
    phases = curriculum.phases
    if not 0 <= phase_index < len(phases):
        raise CurriculumError(f"phase index {phase_index} out of range: the curriculum has {len(phases)} phase(s) (0-based)")
    phase = phases[phase_index]
    prev = phases[phase_index - 1] if phase_index > 0 else None
    if prev is None and phase.replay_from_previous > 0:
        log.warning("curriculum phase 1: replay_from_previous is ignored (there is no previous phase)")
    return plan_sources(
        phase.tiers,
        manifest,
        phase_index=phase_index,
        phase=phase,
        replay_share=phase.replay_from_previous,
        replay_from=prev,
        replay_top_fraction=phase.replay_top_fraction,
    )
