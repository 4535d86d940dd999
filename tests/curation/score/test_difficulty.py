import math

import pytest

from curation.config import DifficultyWeights
from curation.score import difficulty as diff


def test_formula_is_exposed_and_names_every_component():
    assert "difficulty = sum_i(w_i * n_i) / sum_i(w_i)" in diff.FORMULA
    for name, scale in diff.SCALES.items():
        if scale is not None:
            assert f"{name}={scale}" in diff.FORMULA
    assert set(diff.SCALES) == set(diff.COMPONENTS) == set(DifficultyWeights.model_fields)
    assert "1 - exp(-" in diff.__doc__


@pytest.mark.parametrize("name", diff.COMPONENTS)
def test_normalize_is_bounded_monotone_and_fixed(name):
    xs = [0.0, 0.001, 0.01, 0.05, 0.1, 0.3, 0.9, 5.0]
    ns = [diff.normalize(name, x) for x in xs]
    assert all(0.0 <= n <= 1.0 for n in ns)
    assert ns == sorted(ns) and ns[0] == 0.0 and ns[-1] > ns[1]
    # a fixed map: the same raw value always gives the same normalized value
    assert diff.normalize(name, 0.05) == diff.normalize(name, 0.05)
    assert diff.normalize(name, None) is None and diff.normalize(name, math.nan) is None


def test_scale_point_gives_one_minus_1_over_e():
    assert diff.normalize("flow_mean", 0.15) == pytest.approx(1 - math.exp(-1))


def test_weighted_mean_and_random_init_drops_semantic_change():
    raw = {"flow_mean": 0.15, "flow_p95": 0.4, "moving_fraction": 0.5, "semantic_change": 0.1, "spatial_complexity": 0.05, "cut_density": 0.0, "temporal_noise": 0.02}
    w = DifficultyWeights()
    d_real, used_real = diff.difficulty(raw, w, clip_is_real=True)
    n = diff.normalize_all(raw)
    wd = w.model_dump()
    expect = sum(wd[k] * n[f"n_{k}"] for k in diff.COMPONENTS) / sum(wd.values())
    assert d_real == pytest.approx(expect)
    assert used_real == list(diff.COMPONENTS)
    d_rand, used_rand = diff.difficulty(raw, w, clip_is_real=False)
    assert "semantic_change" not in used_rand and len(used_rand) == len(diff.COMPONENTS) - 1
    expect_rand = sum(wd[k] * n[f"n_{k}"] for k in used_rand) / sum(wd[k] for k in used_rand)
    assert d_rand == pytest.approx(expect_rand)


def test_missing_component_is_left_out_and_all_missing_is_none():
    w = DifficultyWeights()
    d, used = diff.difficulty({"flow_mean": 0.3}, w, clip_is_real=True)
    assert used == ["flow_mean"] and d == pytest.approx(diff.normalize("flow_mean", 0.3))
    assert diff.difficulty({}, w, clip_is_real=True) == (None, [])


def test_zero_weights_rejected_by_params():
    from curation.config import ParamsError, parse_params

    with pytest.raises(ParamsError, match="weights"):
        parse_params({"score": {"weights": {k: 0 for k in diff.COMPONENTS}}})
