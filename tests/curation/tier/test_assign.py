"""Tier rules on hand-made score rows (the assignment is a pure function of these columns)."""

import pytest

from curation.config import TierParams
from curation.tier.assign import assign_tiers
from curation.tier.quality import CLIP_SIMILARITY, clip_quality, fallback_quality


def _rows(n, dur=10.0, **kw):
    rows = []
    for i in range(n):
        r = {
            "clip_id": f"c{i:03d}",
            "duration_s": dur,
            "difficulty": (i * 37 % n) / n,  # a permutation of 0..1
            "score_error": None,
            "is_duplicate": False,
            "duplicate_of": None,
            "quality": (i * 11 % n) / n,
            "quality_method": CLIP_SIMILARITY,
            "_quality_group": 0,
            "_scored": True,
        }
        r.update(kw)
        rows.append(r)
    return rows


def _by_tier(rows, out):
    tiers = {t: [] for t in range(6)}
    for r in rows:
        tiers[out[r["clip_id"]].tier].append(r)
    return tiers


def test_quantile_counts_monotone_difficulty_and_top_quality_tier5():
    rows = _rows(100)
    p = TierParams(method="quantile", quantiles=[0.3, 0.3, 0.25, 0.15], refinement_fraction=0.1)
    out = assign_tiers(rows, p)
    tiers = _by_tier(rows, out)
    assert [len(tiers[t]) for t in range(6)] == [0, 27, 27, 23, 13, 10]  # 90 split 27/27/22.5->23/13.5->13
    best = sorted(rows, key=lambda r: -r["quality"])[:10]
    assert {r["clip_id"] for r in tiers[5]} == {r["clip_id"] for r in best}
    for t in (1, 2, 3):
        assert max(r["difficulty"] for r in tiers[t]) <= min(r["difficulty"] for r in tiers[t + 1])
    assert all("quantile band" in out[r["clip_id"]].reason for t in (1, 2, 3, 4) for r in tiers[t])


def test_exclusions_get_tier_zero_with_a_reason():
    rows = _rows(10)
    rows[0].update(is_duplicate=True, duplicate_of="c005")
    rows[1].update(score_error="decode failed: x", difficulty=None)
    rows[2].update(_scored=False)
    rows[3].update(difficulty=None)
    out = assign_tiers(rows, TierParams())
    assert out["c000"].tier == 0 and out["c000"].excluded_reason == "duplicate_of:c005"
    assert out["c001"].excluded_reason.startswith("score_error: decode failed")
    assert out["c002"].excluded_reason.startswith("not_scored")
    assert out["c003"].excluded_reason == "no_difficulty"
    assert sum(1 for a in out.values() if a.tier == 0) == 4 and len(out) == 10


def test_ties_are_broken_by_clip_id_and_input_order_does_not_matter():
    rows = _rows(12, difficulty=0.5, quality=0.5)
    p = TierParams(refinement_fraction=0.25)
    a = assign_tiers(rows, p)
    b = assign_tiers(list(reversed(rows)), p)
    assert a == b
    assert [cid for cid, x in sorted(a.items()) if x.tier == 5] == ["c000", "c001", "c002"]
    # among equal difficulties, lower clip_ids go to the easier tiers
    order = sorted((x.tier, cid) for cid, x in a.items() if x.tier != 5)
    assert [cid for _, cid in order] == sorted(cid for cid, x in a.items() if x.tier != 5)


def test_hours_method_respects_budgets_and_overflows_to_tier4():
    rows = _rows(60, dur=60.0)  # 60 one-minute clips = 1 h
    p = TierParams(method="hours", hours=[0.2, 0.1, 0.3, 0.1], refinement_fraction=0.0)
    out = assign_tiers(rows, p)
    tiers = _by_tier(rows, out)
    hours = {t: sum(r["duration_s"] for r in tiers[t]) / 3600 for t in range(6)}
    assert hours[1] == pytest.approx(0.2) and hours[2] == pytest.approx(0.1) and hours[3] == pytest.approx(0.3)
    assert hours[4] == pytest.approx(0.4)  # 0.1 h budget + 0.3 h overflow
    assert sum(1 for a in out.values() if a.overflow) == 18
    assert all("OVERFLOW" in out[r["clip_id"]].reason for r in tiers[4] if out[r["clip_id"]].overflow)
    for t in (1, 2, 3):
        assert max(r["difficulty"] for r in tiers[t]) <= min(r["difficulty"] for r in tiers[t + 1])


def test_hours_method_budget_not_exceeded_with_uneven_clips_and_refinement_hours():
    rows = _rows(40, dur=0.0)
    for i, r in enumerate(rows):
        r["duration_s"] = 30.0 + 17.0 * (i % 5)  # 30..98 s
    p = TierParams(method="hours", hours=[0.1, 0.1, 0.1, 5.0], refinement_fraction=0.0, refinement_hours=0.05)
    out = assign_tiers(rows, p)
    tiers = _by_tier(rows, out)
    assert sum(r["duration_s"] for r in tiers[5]) <= 0.05 * 3600 and tiers[5]
    for t in (1, 2, 3):
        assert sum(r["duration_s"] for r in tiers[t]) <= 0.1 * 3600 + 1e-6
    assert not any(a.overflow for a in out.values())
    assert sum(len(v) for v in tiers.values()) == 40


def test_random_init_quality_falls_back_loudly():
    row = {"clip_weights": "random-init", "caption": "a dog", "caption_similarity": 0.3, "sharpness": 300.0, "exposure": 1.0, "n_temporal_noise": 0.0}
    q, method, group = clip_quality(row)
    assert "fallback: CLIP weights are random-init" in method and group == 1
    assert q == pytest.approx(1 - 2.718281828459045**-1)
    real = dict(row, clip_weights="pretrained:openai")
    assert clip_quality(real) == (0.3, CLIP_SIMILARITY, 0)
    assert "no caption" in clip_quality(dict(real, caption=None))[1]
    # noise looks sharp; the temporal-noise factor stops it from ranking first
    assert fallback_quality(7000.0, 1.0, 0.8) < fallback_quality(900.0, 0.9, 0.1)
    rows = _rows(4, quality_method=method, _quality_group=1)
    out = assign_tiers(rows, TierParams(refinement_fraction=0.25))
    five = [a for a in out.values() if a.tier == 5]
    assert len(five) == 1 and "RANDOM-INIT" in five[0].reason
