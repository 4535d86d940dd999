"""Curriculum plans: shares per phase, replay only from the previous phase's hardest clips, exact counts in the stream,
the held-out split, and the three orders (curriculum / shuffled / reversed) seeing the same clips the same number of times."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from curation.config import parse_params
from shards.curriculum import (
    CurriculumError,
    apportion,
    choose_heldout,
    heldout_split,
    phase_budgets,
    plan_phase,
    schedule,
    spread,
    tier_keys,
    unit_hash,
)
from shards.loader import make_phase_loader
from shards.manifest import read_manifest


def curriculum(phases):
    return parse_params({"curriculum": {"phases": phases}, "loader": {"frames": 1, "size": 8, "shuffle_buffer": 4}})


def test_seed_curriculum_plan(shard_set):
    m = read_manifest(shard_set)
    p = parse_params({}).curriculum  # the seed schedule
    plan = plan_phase(p, 1, m)
    by = {s.name: s for s in plan.sources}
    assert set(by) == {"new:tier2", "replay:tier1"}
    assert by["new:tier2"].weight == pytest.approx(2 / 3) and by["replay:tier1"].weight == pytest.approx(1 / 3)
    # tier 1 has 4 samples: the hardest ceil(0.3 * 4) = 2 are replayed, from the tier's last shard only
    assert by["replay:tier1"].min_rank == 2 and by["replay:tier1"].samples == 2 and len(by["replay:tier1"].shards) == 1
    assert [s.name for s in plan_phase(p, 0, m).sources] == ["new:tier1"]  # phase 1: no replay
    assert "share" in plan.describe()
    with pytest.raises(CurriculumError, match="out of range"):
        plan_phase(p, 5, m)


def test_weighted_multi_tier_phase_and_empty_tiers(shard_set):
    m = read_manifest(shard_set)
    c = curriculum([{"tiers": {1: 1.0, 2: 1.0}}, {"tiers": {3: 3.0, 4: 1.0}, "replay_from_previous": 0.2, "replay_top_fraction": 0.5}]).curriculum
    plan = plan_phase(c, 1, m)
    w = {s.name: s.weight for s in plan.sources}
    assert w == pytest.approx({"new:tier3": 0.6, "new:tier4": 0.2, "replay:tier1": 0.1, "replay:tier2": 0.1})
    m_empty = {**m, "shards": [e for e in m["shards"] if e["tier"] != 4]}
    plan = plan_phase(c, 1, m_empty)
    assert "new:tier4" not in {s.name for s in plan.sources} and any("tier 4" in n for n in plan.notes)
    assert sum(s.weight for s in plan.sources) == pytest.approx(1.0)
    with pytest.raises(CurriculumError, match="no samples"):
        plan_phase(c, 0, {**m, "shards": []})


@pytest.mark.slow
def test_stream_has_exact_counts_replays_only_hardest_and_never_heldout(shard_set, dataset):
    # phase 2: 12 steps x batch 16 = a budget of 192 samples: 2/3 tier 2, 1/3 the hardest half of tier 1's training clips
    params = parse_params({
        "curriculum": {"phases": [{"tiers": {1: 1.0}, "steps": 12, "batch_size": 16},
                                  {"tiers": {2: 1.0}, "replay_from_previous": 1 / 3, "replay_top_fraction": 0.5, "steps": 12, "batch_size": 16}]},
        "loader": {"frames": 1, "size": 8, "shuffle_buffer": 4}, "train": {"vae_holdout": 0.3, "holdout_min_per_tier": 1},
    })
    held = heldout_split(read_manifest(shard_set), shard_set, 0.3, 1)
    loader, _ = make_phase_loader(params, 1, shard_set, batch_size=16)
    assert loader.plan.counts == (128, 64)
    samples = [(c, bool(r), int(t)) for b in _take(loader, 12) for c, r, t in zip(b["clip_id"], b["replay"], b["tier"], strict=True)]
    replay = [s for s in samples if s[1]]
    assert len(samples) == 192 and len(replay) == 64  # exact, not just in expectation
    assert not {s[0] for s in samples} & held.clip_ids and held.clips[1] and held.clips[2]
    tier1 = sorted((r for r in dataset["rows"] if r["tier"] == 1 and r["clip_id"] not in held.clip_ids), key=lambda r: (r["difficulty"], r["clip_id"]))
    hardest = {r["clip_id"] for r in tier1[-math.ceil(0.5 * len(tier1)):]}  # top 50 % of the training clips
    assert {s[0] for s in replay} == hardest and all(s[2] == 1 for s in replay)
    assert all(s[2] == 2 for s in samples if not s[1])
    assert {s[0] for s in samples if not s[1]} == {r["clip_id"] for r in dataset["rows"] if r["tier"] == 2} - held.clip_ids


def _take(loader, n):
    out = []
    for b in loader:
        out.append(b)
        if len(out) == n:
            return out
    return out


# --------------------------------------------------------------------------- held-out split
def test_choose_heldout_rules():
    keys = [f"clip{i:03d}" for i in range(12)]
    by_hash = sorted(keys, key=unit_hash)
    assert choose_heldout(keys, 0.0, 3) == []  # no fraction: nothing held out, whatever the minimum
    held = [keys[r] for r in choose_heldout(keys, 0.01, 2)]
    assert held == by_hash[:2]  # the minimum takes the lowest hashes
    assert [keys[r] for r in choose_heldout(keys, 0.99, 1)] == by_hash[:11]  # never a tier's last clip
    assert choose_heldout(keys[:1], 0.99, 1) == [] and choose_heldout([], 0.5, 1) == []
    many = [f"c{i}" for i in range(2000)]
    held = {many[r] for r in choose_heldout(many, 0.1, 1)}
    assert held == {c for c in many if unit_hash(c) < 0.1} and 150 < len(held) < 250  # large tier: the plain hash share
    more = many + [f"d{i}" for i in range(500)]
    assert held == {more[r] for r in choose_heldout(more, 0.1, 1)} - {f"d{i}" for i in range(500)}  # stable as the corpus grows


def test_heldout_split_of_a_shard_set(shard_set, dataset):
    m = read_manifest(shard_set)
    held = heldout_split(m, shard_set, 0.1, 1)
    rows = [r for r in dataset["rows"] if r["tier"] in (1, 2, 3, 4, 5)]
    for t in (1, 2, 3, 4, 5):
        ids = sorted((r for r in rows if r["tier"] == t), key=lambda r: (r["difficulty"], r["clip_id"]))
        assert tier_keys(m, shard_set, t) == [r["clip_id"] for r in ids]  # rank order = the shard writer's order
        assert len(held.clips[t]) == 1 and held.train_clips[t] == len(ids) - 1  # every tier here has >= 2 clips
        assert held.ranks[t] == tuple(r for r, row in enumerate(ids) if row["clip_id"] in held.clips[t])
    assert heldout_split(m, shard_set, 0.0, 1).clip_ids == frozenset()
    assert held.digest() != heldout_split(m, shard_set, 0.5, 1).digest()
    # a plan without the held-out clips: fewer eligible samples, same shards
    plan = plan_phase(curriculum([{"tiers": {1: 1.0}}]).curriculum, 0, m, held)
    assert plan.sources[0].samples == held.train_clips[1] and plan.sources[0].excluded == held.ranks[1]


# --------------------------------------------------------------------------- schedule / orders
SEED_LIKE = [
    {"tiers": {1: 1.0}, "batch_size": 4, "steps": 6},
    {"tiers": {2: 1.0}, "replay_from_previous": 1 / 3, "batch_size": 3, "steps": 6},
    {"tiers": {3: 1.0}, "replay_from_previous": 0.25, "batch_size": 3, "steps": 6},
    {"tiers": {4: 1.0}, "batch_size": 2, "steps": 6},
    {"tiers": {5: 1.0}, "batch_size": 1, "steps": 6},
]


def _pool_totals(plans):
    out = {}
    for p in plans:
        for s, c in zip(p.sources, p.counts, strict=True):
            out[s.pool] = out.get(s.pool, 0) + c
    return out


def test_orders_share_pool_totals_budgets_and_offsets(shard_set):
    m = read_manifest(shard_set)
    c = curriculum(SEED_LIKE).curriculum
    held = heldout_split(m, shard_set, 0.1, 1)
    budgets = phase_budgets(c)
    assert budgets == [24, 18, 18, 12, 6]
    plans = {o: schedule(c, m, budgets, held, order=o) for o in ("curriculum", "shuffled", "reversed")}
    totals = {o: _pool_totals(p) for o, p in plans.items()}
    assert totals["curriculum"] == totals["shuffled"] == totals["reversed"]
    assert totals["curriculum"]["new:tier1@0"] == 24 and totals["curriculum"]["replay:tier1@" + str(plans["curriculum"][1].sources[1].min_rank)] == 6
    for o, ps in plans.items():
        assert [sum(p.counts) for p in ps] == budgets, o  # every phase keeps its budget (steps x batch)
        assert all(p.order == o and p.phase == c.phases[k] for k, p in enumerate(ps))
        seen: dict[str, int] = {}
        for p in ps:  # a pool continues where the earlier phases left it
            assert p.offsets == tuple(seen.get(s.pool, 0) for s in p.sources), o
            for s, n in zip(p.sources, p.counts, strict=True):
                seen[s.pool] = seen.get(s.pool, 0) + n
    cur, rev, shu = plans["curriculum"], plans["reversed"], plans["shuffled"]
    assert [p.tier_counts() for p in cur] == [{1: 24}, {2: 12, 1: 6}, {3: 14, 2: 4}, {4: 12}, {5: 6}]
    # reversed: the stream backwards -- the hardest tiers first, tier 1 last
    assert rev[0].tier_counts() == {5: 6, 4: 12, 3: 5, 2: 1} and rev[4].tier_counts() == {1: 6}
    # shuffled: every phase draws every pool in proportion to its share of the run, to within one sample
    n = sum(budgets)
    for k, p in enumerate(shu):
        got = dict(zip((s.pool for s in p.sources), p.counts, strict=True))
        for pool, tot in totals["curriculum"].items():
            assert abs(got.get(pool, 0) - tot * budgets[k] / n) <= 1, (k, pool)


def test_reversed_with_equal_budgets_mirrors_the_phases(shard_set):
    m = read_manifest(shard_set)
    phases = [dict(ph, batch_size=2, steps=6) for ph in SEED_LIKE]
    c = curriculum(phases).curriculum
    cur = schedule(c, m, phase_budgets(c), order="curriculum")
    rev = schedule(c, m, phase_budgets(c), order="reversed")
    for k in range(5):  # phase k trains on phase 6-k's data (for the seed table: tier 6-k)
        assert dict(zip((s.name for s in rev[k].sources), rev[k].counts, strict=True)) == dict(zip((s.name for s in cur[4 - k].sources), cur[4 - k].counts, strict=True))


def test_unservable_phase_is_skipped_in_every_order(shard_set):
    m = read_manifest(shard_set)
    m_no4 = {**m, "shards": [e for e in m["shards"] if e["tier"] != 4]}
    c = curriculum(SEED_LIKE).curriculum
    budgets = phase_budgets(c)
    for o in ("curriculum", "shuffled", "reversed"):
        plans = schedule(c, m_no4, budgets, order=o)
        assert isinstance(plans[3], CurriculumError) and all(not isinstance(p, CurriculumError) for k, p in enumerate(plans) if k != 3)
        assert sum(sum(p.counts) for k, p in enumerate(plans) if k != 3) == sum(budgets) - budgets[3]
    with pytest.raises(ValueError, match="unknown curriculum order"):
        schedule(c, m, budgets, order="random")


def test_apportion_and_spread():
    assert apportion(180, [2 / 3, 0.333]) == [120, 60] and apportion(7, [1, 1, 1]) == [3, 2, 2] and apportion(0, [1.0]) == [0]
    seq = spread([6, 3, 0, 1])
    assert np.bincount(seq, minlength=4).tolist() == [6, 3, 0, 1]
    assert max(abs(np.cumsum(seq == 0)[i] - (i + 1) * 0.6) for i in range(10)) <= 1  # evenly spread


@pytest.mark.slow
def test_three_orders_stream_the_same_clips_the_same_number_of_times(shard_set):
    """Every phase of every order streamed for exactly its budget: the same clips, each the same number of times."""
    counts = {}
    for order in ("curriculum", "shuffled", "reversed"):
        p = parse_params({"curriculum": {"phases": SEED_LIKE, "order": order}, "loader": {"frames": 1, "size": 8, "shuffle_buffer": 4}})
        held = heldout_split(read_manifest(shard_set), shard_set, p.train.vae_holdout, p.train.holdout_min_per_tier)
        seen: Counter = Counter()
        per_phase = []
        for k, ph in enumerate(p.curriculum.phases):
            loader, _ = make_phase_loader(p, k, shard_set, batch_size=ph.batch_size)
            ids = [c for b in _take(loader, ph.steps) for c in b["clip_id"]]
            assert len(ids) == ph.steps * ph.batch_size
            seen.update(ids)
            per_phase.append(ids)
        assert not set(seen) & held.clip_ids
        counts[order] = (seen, per_phase)
    assert counts["curriculum"][0] == counts["shuffled"][0] == counts["reversed"][0]
    assert counts["curriculum"][1] != counts["shuffled"][1] != counts["reversed"][1]  # ... in another order
