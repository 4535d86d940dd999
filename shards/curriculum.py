"""Curriculum schedule: which samples feed a phase, in what exact numbers, and which clips are held out.

Held-out split
--------------
`heldout_split(manifest, root, fraction, min_per_tier)` is the ONE held-out split of the project
(params `train.vae_holdout`, `train.holdout_min_per_tier`): per tier, the clips whose stable
hash of clip_id (`unit_hash`, sha256 -> [0, 1)) is below `fraction`, raised to at least
`min_per_tier` clips (the tier's lowest hashes) but never the tier's last clip.  Both training
loaders (VAE and diffusion) leave these clips out, the trainers refuse a batch that holds one,
and the evaluate stage scores exactly them.  The clip ids of a tier and their `tier_rank`s are
read from the shard tars' member names (headers only; the sample key is the clip_id).  A clip's
membership depends only on its own hash, except in tiers where the minimum / last-clip rules
apply (tiny tiers).

Phase plans
-----------
`plan_phase(curriculum, phase_index, manifest, heldout)` turns `curriculum.phases[phase_index]`
(0-based) into a `PhasePlan`: a list of weighted sources, each a pool of one tier's samples
(a tier's shards from the manifest, a minimum `tier_rank`, the held-out ranks left out):

* new data: every tier of the phase with a non-zero weight, weight share
  `(1 - replay) * w_tier / sum(w)`, all of the tier's training clips.
* replay: when the phase has `replay_from_previous = r > 0` and a previous phase exists, each
  tier of the *previous* phase contributes its hardest `replay_top_fraction` of training
  clips (tier_rank >= the rank of the k-th hardest, k = ceil(f * n_train); samples are ranked
  by difficulty inside a tier, so these are the tier's last ranks and only its last shards are
  read), weight share `r * w_prev_tier / sum(w_prev)`.

Shares are shares of *samples* (clips are of similar length, so of hours too): the seed phase 2
(`tiers {2: 1}`, `replay_from_previous 1/3`) draws 2/3 of its samples from tier 2 and 1/3 from
the hardest 30 % of tier 1 (20 h new + 10 h hard).  Tiers with no training samples are left out
with a warning and the other shares renormalized; a phase with no samples at all is an error.

Schedule: exact counts and the order ablation
---------------------------------------------
`schedule(curriculum, manifest, budgets, heldout)` gives every phase its exact per-source sample
counts.  A phase's budget is steps x global batch size (`phase_budgets`), the samples the
trainer takes from it.  A pool (`SourceSpec.pool`) is one continuous stream over the whole run,
so the clips a run sees depend only on how many samples it takes from each pool.

* `curriculum`: phase k's shares of its budget, rounded by largest remainder.
* `reversed`: the curriculum's sample stream (each phase's counts spread evenly over its
  budget, phases in order) played backwards and cut into the same phase budgets: the hardest
  data first.  With equal phase budgets, phase k trains on exactly phase n+1-k's data (for the
  seed table: tier 6-k); with unequal budgets a phase straddles two of the curriculum's.
* `shuffled`: every pool's total spread evenly over the whole run and cut into the phase
  budgets: each phase draws from all of the curriculum's data in proportion to its share
  (to within one sample per pool).

In every order each pool's total is the same, so the same clips are seen the same number of
times; only their position in the run changes.  Steps, batch sizes and learning rates stay with
the phase positions.  A phase the curriculum cannot serve (no samples) is skipped in every order.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import math
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from curation.config import CurriculumParams, PhaseParams
from shards.manifest import shard_path, tier_shards

log = logging.getLogger(__name__)

TIERS = (1, 2, 3, 4, 5)


class CurriculumError(ValueError):
    """The curriculum cannot be served by this shard set."""


# ----------------------------------------------------------------------------- held-out split
def unit_hash(clip_id: str) -> float:
    """A clip's stable position in [0, 1): the first 8 bytes of sha256(clip_id)."""
    return int.from_bytes(hashlib.sha256(str(clip_id).encode("utf-8")).digest()[:8], "big") / 2**64


_keys_cache: dict[tuple[str, int, int, str], tuple[str, ...]] = {}


def shard_keys(path: str | Path, sha256: str = "") -> tuple[str, ...]:
    """Sample keys of one shard tar in member order (headers only: the payloads are skipped).

    Cached per process by (path, size, mtime, manifest sha256)."""
    path = Path(path)
    st = path.stat()
    ck = (str(path.resolve()), st.st_size, st.st_mtime_ns, sha256)
    hit = _keys_cache.get(ck)
    if hit is not None:
        return hit
    keys: list[str] = []
    with tarfile.open(path, "r:") as tf:
        for info in tf:
            key = info.name.rsplit("/", 1)[-1].split(".", 1)[0]
            if not keys or keys[-1] != key:
                keys.append(key)
    out = tuple(keys)
    _keys_cache[ck] = out
    return out


def tier_keys(manifest: dict[str, Any], root: str | Path, tier: int) -> list[str]:
    """The clip ids of one tier in tier_rank order (rank r = position r), read from its shards."""
    out: list[str] = []
    for e in tier_shards(manifest, tier):
        keys = shard_keys(shard_path(root, e), str(e.get("sha256", "")))
        if len(keys) != int(e["samples"]) or (keys and (keys[0] != e.get("first_key", keys[0]) or keys[-1] != e.get("last_key", keys[-1]))):
            raise CurriculumError(f"{shard_path(root, e)}: holds {len(keys)} samples, the manifest says {e['samples']}; re-run the shard stage")
        if int(e["first_index"]) != len(out):
            raise CurriculumError(f"{shard_path(root, e)}: first_index {e['first_index']} does not follow the tier's previous shards ({len(out)} samples)")
        out += keys
    return out


@dataclass(frozen=True)
class HeldOut:
    """The held-out split of a shard set: per tier, the held-out (rank, clip_id) pairs."""

    fraction: float
    min_per_tier: int
    ranks: dict[int, tuple[int, ...]]  # tier -> sorted held-out tier_ranks
    clips: dict[int, tuple[str, ...]]  # tier -> held-out clip ids, lowest hash first
    train_clips: dict[int, int]  # tier -> clips left for training

    @classmethod
    def empty(cls) -> HeldOut:
        return cls(0.0, 0, {t: () for t in TIERS}, {t: () for t in TIERS}, {})

    @property
    def clip_ids(self) -> frozenset[str]:
        return frozenset(c for ids in self.clips.values() for c in ids)

    def excluded(self, tier: int) -> tuple[int, ...]:
        return self.ranks.get(int(tier), ())

    def to_json(self) -> dict[str, Any]:
        return {
            "fraction": self.fraction,
            "min_per_tier": self.min_per_tier,
            "clips": {str(t): list(self.clips.get(t, ())) for t in TIERS},
            "train_clips": {str(t): int(self.train_clips.get(t, 0)) for t in TIERS},
        }

    def digest(self) -> str:
        """Stable hash of the split (which clips are held out): part of the trainers' run hashes."""
        blob = repr(sorted((t, tuple(sorted(c))) for t, c in self.clips.items())).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def describe(self) -> str:
        per = ", ".join(f"tier {t}: {len(self.clips.get(t, ()))} of {len(self.clips.get(t, ())) + self.train_clips.get(t, 0)}" for t in TIERS)
        return f"held out (train.vae_holdout={self.fraction}, min {self.min_per_tier} per tier): {per}"


def choose_heldout(keys: list[str], fraction: float, min_per_tier: int) -> list[int]:
    """The held-out ranks of one tier (keys in rank order), lowest hash first."""
    n = len(keys)
    if fraction <= 0 or n < 1:
        return []
    by_hash = sorted(range(n), key=lambda r: (unit_hash(keys[r]), keys[r]))
    held = [r for r in by_hash if unit_hash(keys[r]) < fraction]
    want = min(min_per_tier, n - 1)
    if len(held) < want:
        held = by_hash[:want]
    return held[: max(0, n - 1)]  # never the tier's last training clip


_split_cache: dict[tuple[Any, ...], HeldOut] = {}


def heldout_split(manifest: dict[str, Any], root: str | Path, fraction: float, min_per_tier: int = 1) -> HeldOut:
    """The held-out split of the shard set at `root` (see the module docstring)."""
    ck = (str(Path(root).resolve()), tuple(str(e.get("sha256")) for e in manifest["shards"]), float(fraction), int(min_per_tier))
    hit = _split_cache.get(ck)
    if hit is not None:
        return hit
    ranks: dict[int, tuple[int, ...]] = {}
    clips: dict[int, tuple[str, ...]] = {}
    train: dict[int, int] = {}
    for t in TIERS:
        keys = tier_keys(manifest, root, t) if fraction > 0 else [None] * sum(int(e["samples"]) for e in tier_shards(manifest, t))
        held = choose_heldout(keys, fraction, min_per_tier) if fraction > 0 else []
        ranks[t] = tuple(sorted(held))
        clips[t] = tuple(keys[r] for r in held)
        train[t] = len(keys) - len(held)
    out = HeldOut(float(fraction), int(min_per_tier), ranks, clips, train)
    _split_cache[ck] = out
    return out


# ----------------------------------------------------------------------------- sources and plans
@dataclass(frozen=True)
class SourceSpec:
    name: str  # "new:tier2", "replay:tier1"
    tier: int
    weight: float  # share of the phase's samples (the weights of a plan sum to 1)
    shards: tuple[dict[str, Any], ...]  # manifest entries holding eligible samples, in rank order
    min_rank: int  # samples with tier_rank >= min_rank are eligible ...
    replay: bool
    excluded: tuple[int, ...] = ()  # ... except these (sorted) held-out ranks

    @property
    def pool(self) -> str:
        """Identity of the sample pool (one continuous stream over a run, whatever the phase)."""
        return f"{'replay' if self.replay else 'new'}:tier{self.tier}@{self.min_rank}"

    def eligible_in(self, entry: dict[str, Any]) -> int:
        """Eligible samples in one shard entry (ranks are contiguous from first_index)."""
        lo, n = int(entry["first_index"]), int(entry["samples"])
        a, b = max(lo, self.min_rank), lo + n
        if b <= a:
            return 0
        return b - a - (bisect.bisect_left(self.excluded, b) - bisect.bisect_left(self.excluded, a))

    @property
    def samples(self) -> int:
        return sum(self.eligible_in(e) for e in self.shards)

    @property
    def hours(self) -> float:
        return sum(float(e["hours"]) * self.eligible_in(e) / max(int(e["samples"]), 1) for e in self.shards)

    def with_weight(self, weight: float) -> SourceSpec:
        return SourceSpec(self.name, self.tier, weight, self.shards, self.min_rank, self.replay, self.excluded)


@dataclass(frozen=True)
class PhasePlan:
    phase_index: int
    phase: PhaseParams | None
    sources: tuple[SourceSpec, ...]
    notes: tuple[str, ...] = field(default=())
    counts: tuple[int, ...] | None = None  # exact samples per source over the phase (schedule); None: shares only
    offsets: tuple[int, ...] | None = None  # samples of each source's pool taken by the run's earlier phases
    order: str = "curriculum"

    def describe(self) -> str:
        lines = [f"phase {self.phase_index + 1}" + (f" ({self.order} order)" if self.order != "curriculum" else "") + ":"]
        for i, s in enumerate(self.sources):
            n = f"  {self.counts[i]:>6d} samples" if self.counts is not None else ""
            lines.append(f"  {s.name:<14} share {s.weight:6.3f}{n}  pool {s.samples} samples / {s.hours:.3f} h in {len(s.shards)} shard(s)")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def tier_counts(self) -> dict[int, int]:
        """Scheduled samples per tier (needs counts)."""
        out: dict[int, int] = {}
        for s, c in zip(self.sources, self.counts or (), strict=True):
            out[s.tier] = out.get(s.tier, 0) + int(c)
        return out


def _tier_pool(manifest: dict[str, Any], tier: int, excluded: tuple[int, ...] = (), min_rank: int = 0) -> list[dict[str, Any]]:
    probe = SourceSpec("", tier, 0.0, (), min_rank, False, excluded)
    return [e for e in tier_shards(manifest, tier) if probe.eligible_in(e) > 0]


def _normalized(weights: dict[int, float]) -> dict[int, float]:
    total = sum(weights.values())
    return {t: w / total for t, w in sorted(weights.items())} if total > 0 else {}


def _replay_sources(prev: PhaseParams, top_fraction: float, manifest: dict[str, Any], heldout: HeldOut,
                    notes: list[str]) -> list[tuple[int, float, list[dict[str, Any]], int]]:
    out = []
    for tier, w in sorted(prev.tiers.items()):
        if w <= 0:
            continue
        n = sum(int(e["samples"]) for e in tier_shards(manifest, tier))
        excl = set(heldout.excluded(tier))
        train_ranks = [r for r in range(n) if r not in excl]
        if not train_ranks:
            notes.append(f"replay tier {tier} has no training samples; left out")
            continue
        k = max(1, math.ceil(top_fraction * len(train_ranks)))
        min_rank = train_ranks[-k]
        shards = _tier_pool(manifest, tier, heldout.excluded(tier), min_rank)
        out.append((tier, w, shards, min_rank))
    return out


def plan_sources(tier_weights: dict[int, float], manifest: dict[str, Any], *, phase_index: int = -1, phase: PhaseParams | None = None,
                 replay_share: float = 0.0, replay_from: PhaseParams | None = None, replay_top_fraction: float = 0.3,
                 heldout: HeldOut | None = None) -> PhasePlan:
    """A plan from explicit tier weights (and optional replay); `plan_phase` fills these from the curriculum.

    `heldout`: ranks left out of every source (the held-out split); None = none."""
    held = heldout or HeldOut.empty()
    notes: list[str] = []
    new: dict[int, float] = {}
    pools: dict[int, list[dict[str, Any]]] = {}
    for tier, w in sorted(tier_weights.items()):
        if w <= 0:
            continue
        pool = _tier_pool(manifest, tier, held.excluded(tier))
        if not pool:
            notes.append(f"tier {tier} has no training samples; left out")
            continue
        new[tier], pools[tier] = w, pool
    replay = _replay_sources(replay_from, replay_top_fraction, manifest, held, notes) if (replay_from is not None and replay_share > 0) else []
    if not new and not replay:
        raise CurriculumError(f"phase {phase_index + 1}: no samples in tiers {sorted(tier_weights)} of this shard set" + (f" ({'; '.join(notes)})" if notes else ""))
    r = replay_share if replay else 0.0
    if not new:
        notes.append("no new data: the phase is replay only")
        r = 1.0
    sources: list[SourceSpec] = []
    for tier, share in _normalized(new).items():
        sources.append(SourceSpec(f"new:tier{tier}", tier, (1.0 - r) * share, tuple(pools[tier]), 0, False, held.excluded(tier)))
    rw = _normalized({t: w for t, w, _, _ in replay})
    for tier, _, shards, min_rank in replay:
        sources.append(SourceSpec(f"replay:tier{tier}", tier, r * rw[tier], tuple(shards), min_rank, True, held.excluded(tier)))
    for n in notes:
        log.warning("curriculum phase %d: %s", phase_index + 1, n)
    return PhasePlan(phase_index, phase, tuple(s for s in sources if s.weight > 0), tuple(notes))


def plan_phase(curriculum: CurriculumParams, phase_index: int, manifest: dict[str, Any], heldout: HeldOut | None = None) -> PhasePlan:
    """The sources of curriculum phase `phase_index` (0-based) in this shard set, in curriculum order."""
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
        heldout=heldout,
    )


# ----------------------------------------------------------------------------- schedule
def phase_budgets(curriculum: CurriculumParams, batch_scale: float = 1.0) -> list[int]:
    """Samples the trainer takes from each phase: steps x global batch size (x train.batch_scale)."""
    return [ph.steps * ph.scaled_batch_size(batch_scale) for ph in curriculum.phases]


def apportion(total: int, weights: list[float] | tuple[float, ...]) -> list[int]:
    """`total` split in proportion to `weights` (largest remainder; ties go to the earlier entry)."""
    w = np.asarray(weights, dtype=np.float64)
    if total <= 0 or w.sum() <= 0:
        return [0] * len(w)
    raw = total * w / w.sum()
    base = np.floor(raw).astype(np.int64)
    rest = int(total - base.sum())
    order = np.argsort(-(raw - base), kind="stable")
    base[order[:rest]] += 1
    return [int(x) for x in base]


def spread(counts: list[int] | np.ndarray) -> np.ndarray:
    """A sequence holding source i exactly counts[i] times, each source evenly spaced over it
    (item j of source i sits at (j + 0.5) / counts[i]; ties: lower source first)."""
    parts = [(np.arange(c) + 0.5) / c for c in counts if c > 0]
    if not parts:
        return np.zeros(0, dtype=np.int32)
    pos = np.concatenate(parts)
    src = np.concatenate([np.full(c, i, dtype=np.int32) for i, c in enumerate(counts) if c > 0])
    return src[np.lexsort((src, pos))]


def schedule(curriculum: CurriculumParams, manifest: dict[str, Any], budgets: list[int], heldout: HeldOut | None = None,
             order: str | None = None) -> list[PhasePlan | CurriculumError]:
    """Every phase's plan with exact per-source counts, in `order` (default curriculum.order);
    a phase the shard set cannot serve is a CurriculumError in its slot (see the module docstring)."""
    order = order or curriculum.order
    n = len(curriculum.phases)
    if len(budgets) != n:
        raise ValueError(f"{len(budgets)} budgets for {n} phases")
    base: list[PhasePlan | CurriculumError] = []
    for k in range(n):
        try:
            base.append(plan_phase(curriculum, k, manifest, heldout))
        except CurriculumError as exc:
            base.append(exc)
    live = [k for k in range(n) if isinstance(base[k], PhasePlan)]
    pools: dict[str, SourceSpec] = {}
    for k in live:
        for s in base[k].sources:  # type: ignore[union-attr]
            pools.setdefault(s.pool, s)
    keys = list(pools)
    index = {p: i for i, p in enumerate(keys)}
    cur = np.zeros((n, len(keys)), dtype=np.int64)
    for k in live:
        plan = base[k]
        for s, c in zip(plan.sources, apportion(budgets[k], [s.weight for s in plan.sources]), strict=True):  # type: ignore[union-attr]
            cur[k, index[s.pool]] += c
    if order == "curriculum":
        counts = cur
    elif order in ("reversed", "shuffled"):
        if order == "reversed":
            seq = np.concatenate([spread(cur[k]) for k in live] or [np.zeros(0, np.int32)])[::-1]
        else:
            seq = spread(cur.sum(axis=0))
        counts = np.zeros_like(cur)
        at = 0
        for k in live:
            counts[k] = np.bincount(seq[at : at + budgets[k]], minlength=len(keys))
            at += budgets[k]
    else:
        raise ValueError(f"unknown curriculum order {order!r} (one of curriculum, shuffled, reversed)")
    out: list[PhasePlan | CurriculumError] = list(base)
    taken = np.zeros(len(keys), dtype=np.int64)
    for k in live:
        row = counts[k]
        if row.sum() == 0:  # a phase of zero steps: keep its shares, nothing is drawn
            out[k] = PhasePlan(k, curriculum.phases[k], base[k].sources, base[k].notes, order=order)  # type: ignore[union-attr]
            continue
        idx = [i for i in range(len(keys)) if row[i] > 0]
        total = int(row.sum())
        srcs = tuple(pools[keys[i]].with_weight(row[i] / total) for i in idx)
        out[k] = PhasePlan(k, curriculum.phases[k], srcs, base[k].notes, tuple(int(row[i]) for i in idx), tuple(int(taken[i]) for i in idx), order)  # type: ignore[union-attr]
        taken += row
    return out
