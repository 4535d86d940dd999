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
    raw = {"flow_mean": 0.15, "camera_speed": 0.1, "object_motion": 0.05, "flow_p95": 0.4, "moving_fraction": 0.5, "semantic_change": 0.1,
           "spatial_complexity": 0.05, "cut_density": 0.0, "temporal_noise": 0.02}  # fmt: skip
    w = DifficultyWeights()
    d_real, used_real = diff.difficulty(raw, w, clip_is_real=True)
    n = diff.normalize_all(raw)
    wd = w.model_dump()
    expect = sum(wd[k] * n[f"n_{k}"] for k in diff.COMPONENTS) / sum(wd.values())
    assert d_real == pytest.approx(expect)
    assert used_real == [k for k in diff.COMPONENTS if k != "flow_mean"]  # v2: flow_mean has weight 0 by default
    d_rand, used_rand = diff.difficulty(raw, w, clip_is_real=False)
    assert "semantic_change" not in used_rand and len(used_rand) == len(used_real) - 1
    expect_rand = sum(wd[k] * n[f"n_{k}"] for k in used_rand) / sum(wd[k] for k in used_rand)
    assert d_rand == pytest.approx(expect_rand)


def test_missing_component_is_left_out_and_all_missing_is_none():
    w = DifficultyWeights()
    d, used = diff.difficulty({"camera_speed": 0.3}, w, clip_is_real=True)
    assert used == ["camera_speed"] and d == pytest.approx(diff.normalize("camera_speed", 0.3))
    assert diff.difficulty({"flow_mean": 0.3}, w, clip_is_real=True) == (None, [])  # weight 0: not used
    assert diff.difficulty({}, w, clip_is_real=True) == (None, [])


def test_v2_object_motion_weighs_more_than_the_same_camera_motion():
    """Same total flow: a pan over a still scene vs a tripod shot of a moving subject."""
    w = DifficultyWeights()
    base = {"flow_mean": 0.12, "flow_p95": 0.3, "moving_fraction": 0.6, "spatial_complexity": 0.04, "cut_density": 0.0, "temporal_noise": 0.01}
    pan, _ = diff.difficulty(base | {"camera_speed": 0.12, "object_motion": 0.0}, w, clip_is_real=False)
    subject, _ = diff.difficulty(base | {"camera_speed": 0.0, "object_motion": 0.12}, w, clip_is_real=False)
    assert subject - pan > 0.05, (pan, subject)  # 0.37 vs 0.46
    # v1's weights (flow_mean 0.35, no split) cannot tell them apart
    v1 = DifficultyWeights(flow_mean=0.35, camera_speed=0.0, object_motion=0.0)
    assert diff.difficulty(base | {"camera_speed": 0.12, "object_motion": 0.0}, v1, False) == diff.difficulty(base | {"camera_speed": 0.0, "object_motion": 0.12}, v1, False)


def test_v2_scales_and_weights():
    from curation.score.camera import DIFFICULTY_SCALES

    assert diff.FORMULA_VERSION == "difficulty-v2" and "difficulty-v2" in diff.FORMULA
    assert {k: diff.SCALES[k] for k in DIFFICULTY_SCALES} == DIFFICULTY_SCALES
    wd = DifficultyWeights().model_dump()
    assert wd["flow_mean"] == 0.0 and wd["camera_speed"] + wd["object_motion"] == pytest.approx(0.35)  # v1's flow_mean weight, split
    assert sum(wd.values()) == pytest.approx(1.0)
    assert list(DifficultyWeights.model_fields) == list(diff.COMPONENTS)  # tables and reports list them in this order


def test_zero_weights_rejected_by_params():
    from curation.config import ParamsError, parse_params

    with pytest.raises(ParamsError, match="weights"):
        parse_params({"score": {"weights": {k: 0 for k in diff.COMPONENTS}}})
