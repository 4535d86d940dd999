"""Camera motion: the global similarity fit on exact flow fields, and the clip labels on clips whose
camera move is known by construction (ffmpeg moving crops, zoompan, rotate, jittered crops)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from curation.score.camera import LABELS, CameraMotionMeter, CameraParams, fit_global_motion
from tests.curation import signal_clips as sc

FPS = 16.0


def similarity_flow(h: int, w: int, tx: float, ty: float, scale: float, theta: float) -> np.ndarray:
    """Exact flow of a similarity about the frame centre (x right, y down)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    x, y = xs - (w - 1) / 2, ys - (h - 1) / 2
    c, s = scale * math.cos(theta), scale * math.sin(theta)
    u = c * x - s * y + tx - x
    v = s * x + c * y + ty - y
    return np.dstack([u, v]).astype(np.float32)


@pytest.mark.parametrize(
    "tx,ty,scale,theta",
    [(1.5, 0.0, 1.0, 0.0), (0.0, -2.0, 1.0, 0.0), (0.0, 0.0, 1.02, 0.0), (0.0, 0.0, 0.97, 0.0), (0.0, 0.0, 1.0, 0.02), (0.8, -0.6, 1.01, -0.01)],
)
def test_fit_recovers_an_exact_similarity_despite_a_moving_object(tx, ty, scale, theta):
    flow = similarity_flow(90, 160, tx, ty, scale, theta)
    flow[20:60, 30:80] += np.float32([4.0, -3.0])  # an object (14 % of the frame) moving on its own
    gm = fit_global_motion(flow)
    assert gm.tx == pytest.approx(tx, abs=0.02) and gm.ty == pytest.approx(ty, abs=0.02)
    assert gm.scale == pytest.approx(scale, abs=5e-4) and gm.rotation == pytest.approx(theta, abs=5e-4)
    assert 0.8 < gm.inlier_share < 0.95  # the object's points are the outliers
    assert gm.residual_px > 0.3 and gm.static_hypothesis is False


def test_fit_is_deterministic_and_static_hypothesis_wins_on_still_flow():
    rng = np.random.default_rng(0)
    flow = (rng.standard_normal((90, 160, 2)) * 0.03).astype(np.float32)  # DIS noise on a still picture
    flow[10:40, 10:50] = [2.0, 0.0]  # a subject moving right on 8 % of the frame
    a, b = fit_global_motion(flow), fit_global_motion(flow.copy())
    assert a == b
    assert a.static_hypothesis and a.camera_px == 0.0 and a.tx == 0.0 and a.scale == 1.0
    assert a.residual_px > 0.1  # the subject's motion is object motion


def test_flat_areas_are_left_out_when_the_grey_frame_is_given():
    """Left half textured and still; right half flat with flow leaked from elsewhere: the fit must use the texture."""
    rng = np.random.default_rng(1)
    grey = np.full((90, 160), 128, np.uint8)
    grey[:, :80] = rng.integers(0, 255, (90, 80), dtype=np.uint8)
    flow = np.zeros((90, 160, 2), np.float32)
    flow[:, 80:] = [0.0, 1.5]  # leak in the flat half (DIS guesswork)
    flow[:, :80] = [0.6, 0.0]  # the real motion, seen where there is texture
    with_grey = fit_global_motion(flow, grey=grey)
    assert with_grey.tx == pytest.approx(0.6, abs=0.01) and with_grey.ty == pytest.approx(0.0, abs=0.01)
    assert with_grey.points < 0.6 * fit_global_motion(flow).points


def test_meter_without_pairs_has_no_label():
    r = CameraMotionMeter(FPS).result()
    assert r["camera_motion"] is None and r["camera_pairs"] == 0 and r["camera_speed"] is None


# ------------------------------------------------------------------ clips with a known camera move
def measure(path, params: CameraParams | None = None) -> tuple[dict, list]:
    meter = CameraMotionMeter(FPS, params)
    fits = [(i, meter.add(flow, first)) for i, first, _, flow in sc.iter_flow(path)]
    return meter.result(), fits


#: expected speeds (width/s of the 320-px clip) of the moves in signal_clips.CAMERA_MOVES
PAN, TILT = 64 / 320, 48 / 320


def check_move(move: str, r: dict, fits: list) -> None:
    assert r["camera_motion"] == move, r
    assert r["camera_motion_confidence"] >= 0.5, r
    assert r["camera_pairs"] == len(fits) == 12
    if move == "static":
        assert r["camera_speed"] < 0.002 and r["object_motion"] < 0.005
    elif move.startswith("pan"):
        assert r["pan_speed"] == pytest.approx(PAN if move == "pan_right" else -PAN, rel=0.08)
        assert abs(r["tilt_speed"]) < 0.01 and r["camera_speed"] == pytest.approx(PAN, rel=0.08)
    elif move.startswith("tilt"):
        assert r["tilt_speed"] == pytest.approx(TILT if move == "tilt_up" else -TILT, rel=0.08)
        assert abs(r["pan_speed"]) < 0.01
    elif move.startswith("zoom"):
        # zoompan: zoom factor 1.5 + 0.025 n (in) or 3 - 0.025 n (out) at output frame n
        for i, gm in fits:
            truth = (1.5 + 0.025 * (i + 1)) / (1.5 + 0.025 * i) if move == "zoom_in" else (3 - 0.025 * (i + 1)) / (3 - 0.025 * i)
            assert gm.scale == pytest.approx(truth, abs=0.005), (i, gm.scale, truth)
    elif move == "rotate":
        for _, gm in fits:  # rotate=a='0.3*t': 0.3 rad/s clockwise = 0.01875 rad per frame
            assert gm.rotation == pytest.approx(0.3 / FPS, abs=0.004)
    elif move == "shake":
        assert r["shake_flip_share"] >= 0.3 and r["camera_speed"] > 0.3


@pytest.mark.parametrize("move", list(sc.CAMERA_MOVES))
def test_camera_move_on_a_texture(tmp_path, texture, move):
    r, fits = measure(sc.camera_clip(tmp_path / f"{move}.mp4", texture, move))
    check_move(move, r, fits)


@pytest.mark.media
@pytest.mark.parametrize("move", list(sc.CAMERA_MOVES))
def test_camera_move_on_a_real_landscape(tmp_path, real_picture, move):
    r, fits = measure(sc.camera_clip(tmp_path / f"{move}.mp4", real_picture, move))
    check_move(move, r, fits)


def test_independent_motions_are_complex(tmp_path, texture):
    r, _ = measure(sc.quadrants_clip(tmp_path / "quad.mp4", texture))
    assert r["camera_motion"] == "complex" and r["camera_inlier_share"] < 0.5


def test_object_motion_is_separate_from_camera_motion(tmp_path, texture):
    still, _ = measure(sc.camera_clip(tmp_path / "still.mp4", texture, "static"))
    obj, _ = measure(sc.moving_object_clip(tmp_path / "obj.mp4", texture))
    pan, _ = measure(sc.camera_clip(tmp_path / "pan.mp4", texture, "pan_right"))
    obj_pan, _ = measure(sc.moving_object_clip(tmp_path / "obj_pan.mp4", texture, "pan_right"))
    # a subject crossing a static shot: the camera is static, the motion is object motion
    assert obj["camera_motion"] == "static" and obj["camera_speed"] < 0.01
    assert obj["object_motion"] > 5 * max(still["object_motion"], 0.001)
    # the same subject over a pan: camera speed is the pan's, the subject adds object motion only
    assert obj_pan["camera_motion"] == "pan_right" and obj_pan["camera_speed"] == pytest.approx(PAN, rel=0.1)
    assert obj_pan["object_motion"] > 3 * pan["object_motion"]


@pytest.mark.media
@pytest.mark.parametrize("name", ["bottle-detection.mp4", "asl-walk.mkv"])
def test_real_static_shots_with_moving_subjects_are_static(tmp_path, shared_media, name):
    """Tripod shots (a hand moving bottles, a person signing): static camera, some object motion."""
    clip = tmp_path / "clip.mp4"
    sc.ffmpeg("-i", "file:" + str((shared_media / name).resolve()), "-t", "6", "-an", "-vf", "fps=16,scale=-2:256", *sc.ENC, str(clip))
    r, _ = measure(clip)
    assert r["camera_motion"] == "static", r
    assert r["object_motion"] > r["camera_speed"]


def test_labels_are_the_documented_ones():
    assert set(LABELS) == {"static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "rotate", "shake", "complex"}
