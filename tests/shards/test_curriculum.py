"""Curriculum plans: shares per phase, replay only from the previous phase's hardest clips, proportions in the stream."""

from __future__ import annotations

import math

import pytest

from curation.config import parse_params
from shards.curriculum import CurriculumError, plan_phase
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
def test_stream_respects_proportions_and_replays_only_hardest(shard_set, dataset):
    params = curriculum([{"tiers": {1: 1.0}}, {"tiers": {2: 1.0}, "replay_from_previous": 1 / 3, "replay_top_fraction": 0.5}])
    loader, _ = make_phase_loader(params, 1, shard_set, batch_size=16)
    samples = [(c, bool(r), int(t), float(d)) for b in _take(loader, 12) for c, r, t, d in zip(b["clip_id"], b["replay"], b["tier"], b["difficulty"])]
    n = len(samples)
    replay = [s for s in samples if s[1]]
    share = len(replay) / n
    assert abs(share - 1 / 3) < 4 * math.sqrt((1 / 3) * (2 / 3) / n), share  # binomial, 4 sigma
    tier1 = sorted((r for r in dataset["rows"] if r["tier"] == 1), key=lambda r: (r["difficulty"], r["clip_id"]))
    hardest = {r["clip_id"] for r in tier1[-2:]}  # top 50 % of 4
    assert {s[0] for s in replay} == hardest and all(s[2] == 1 for s in replay)
    assert all(s[2] == 2 for s in samples if not s[1])
    assert {s[0] for s in samples if not s[1]} == {r["clip_id"] for r in dataset["rows"] if r["tier"] == 2}


def _take(loader, n):
    out = []
    for b in loader:
        out.append(b)
        if len(out) == n:
            return out
    return out
