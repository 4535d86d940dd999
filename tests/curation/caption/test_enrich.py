import pytest

from curation.caption.enrich import EnrichParams, append_signals, motion_level, strip_signals
from curation.score.camera import LABELS


def test_format_as_documented():
    assert append_signals("a man is surfing", "pan_left", "fast") == "a man is surfing; camera: pan left; motion: fast"
    assert append_signals("A jeep on the road.", "zoom_in", "slow") == "A jeep on the road; camera: zoom in; motion: slow"
    assert append_signals("waves", "shake", "moderate") == "waves; camera: shaky; motion: moderate"
    assert append_signals("waves", "rotate", None) == "waves; camera: rotating"


def test_complex_unknown_and_unsure_camera_is_left_out():
    assert append_signals("a crowd", "complex", "fast") == "a crowd; motion: fast"
    assert append_signals("a crowd", None, None) == "a crowd"
    assert append_signals("a crowd", "pan_right", "slow", camera_confidence=0.3) == "a crowd; motion: slow"
    assert append_signals("a crowd", "pan_right", "slow", camera_confidence=0.8) == "a crowd; camera: pan right; motion: slow"


def test_every_camera_label_has_a_phrase_except_complex():
    for label in LABELS:
        out = append_signals("x", label, None)
        assert (out == "x") == (label == "complex"), (label, out)
        assert "_" not in out


def test_uncaptioned_stays_uncaptioned_and_reapplying_does_not_stack():
    assert append_signals(None, "static", "none") is None
    assert append_signals("  ", "static", "none") == "  "
    once = append_signals("a dog runs", "pan_left", "fast")
    assert append_signals(once, "tilt_up", "slow") == "a dog runs; camera: tilt up; motion: slow"
    assert strip_signals(once) == "a dog runs"


def test_motion_levels_from_flow_mean():
    assert [motion_level(v) for v in (0.0, 0.009, 0.02, 0.13, 0.32)] == ["none", "none", "slow", "moderate", "fast"]
    assert motion_level(None) is None and motion_level(float("nan")) is None
    assert motion_level(0.1, EnrichParams(motion_bounds=(0.2, 0.3, 0.4))) == "none"
    with pytest.raises(ValueError):
        append_signals("x", "static", "very fast")
