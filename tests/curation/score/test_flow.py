import pytest

from tests.curation.score.corpus import pan_clip, still_image


@pytest.fixture(scope="module")
def pans(tmp_path_factory):
    root = tmp_path_factory.mktemp("pans")
    still = still_image(root / "still.png")
    return {speed: pan_clip(root / f"pan_{speed}.mp4", still, speed) for speed in (0, 32, 64, 128)}


def _measure(stage, path):
    return stage.measure(path, {"fps": 16.0})


def test_flow_grows_with_pan_speed_and_has_the_right_units(tiny_stage, pans):
    """A crop window moving s px/s over a 320-px-wide frame is a flow of s/320 frame widths per second."""
    results = {speed: _measure(tiny_stage, path) for speed, path in pans.items()}
    flows = [results[s]["flow_mean"] for s in sorted(results)]
    assert flows == sorted(flows) and len(set(flows)) == len(flows), flows
    assert results[0]["flow_mean"] < 0.02
    for speed in (32, 64, 128):
        assert results[speed]["flow_mean"] == pytest.approx(speed / 320, rel=0.15)
        assert results[speed]["moving_fraction"] > 0.9
    # per-second curve: one value per second, same units
    curve = results[64]["flow_curve"]
    assert len(curve) == 2 and all(v == pytest.approx(64 / 320, rel=0.2) for v in curve)
    p95 = [results[s]["flow_p95"] for s in sorted(results)]
    assert p95 == sorted(p95)


def test_static_clip_has_no_flow_no_noise_no_cut(tiny_stage, tmp_path):
    from tests.curation.score.corpus import lavfi_clip

    r = _measure(tiny_stage, lavfi_clip(tmp_path / "s.mp4", "color=c=0x336699:size=128x96:rate=16"))
    assert r["flow_mean"] == pytest.approx(0.0, abs=1e-3)
    assert r["moving_fraction"] == pytest.approx(0.0, abs=1e-3)
    assert r["temporal_noise"] == pytest.approx(0.0, abs=1e-3)
    assert r["cuts"] == 0 and r["spatial_complexity"] < 1e-3
    assert r["flow_pairs"] == 8 and r["frames_decoded"] == 32


def test_single_frame_clip_gets_an_error_row(tiny_stage, tmp_path):
    from tests.curation.score.corpus import lavfi_clip

    path = lavfi_clip(tmp_path / "one.mp4", "testsrc2=size=128x96:rate=16", seconds=1 / 16)
    row = tiny_stage.process({"clip_id": "one", "clip_path": str(path), "fps": 16.0})[0]
    assert row["score_error"] == "too short to measure motion: 1 decodable frame(s)"
    assert row.get("difficulty") is None and row["clip_weights"] == "random-init" and "clip_embedding" not in row
