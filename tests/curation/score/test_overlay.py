"""Persistent overlays: logos and burned-in subtitles drawn with ffmpeg (drawbox / drawtext) over camera
moves, whose boxes are known, and clips where nothing can be told (static) or nothing is drawn."""

from __future__ import annotations

import numpy as np
import pytest

from curation.score.frames import ClipVideo, flow_pair_starts
from curation.score.overlay import OverlayDetector, OverlayParams
from curation.score.signals import to_grey
from tests.curation import signal_clips as sc

FONT = sc.font_file()
needs_font = pytest.mark.skipif(FONT is None, reason="no TrueType font for drawtext")


def detect(path, params: OverlayParams | None = None) -> dict:
    """Feed the first frames of the flow pairs (~4 per second), as the score pass has them."""
    det = OverlayDetector(params)
    with ClipVideo(path) as video:
        starts = set(flow_pair_starts(video.num_frames, video.avg_fps, 4.0))
        for i, rgb in video.iter_frames():
            if i in starts:
                det.add(to_grey(rgb))
    return det.result()


def px(box) -> tuple[float, float, float, float]:
    x, y, w, h = box
    return x * sc.W, y * sc.H, w * sc.W, h * sc.H


def assert_near(box, truth, tol: float = 3.0):
    x, y, w, h = px(box)
    tx, ty, tw, th = truth
    assert abs(x - tx) <= tol and abs(y - ty) <= tol and abs(x + w - tx - tw) <= tol and abs(y + h - ty - th) <= tol, (px(box), truth)


def logo_area() -> float:
    return sc.LOGO_BOX[2] * sc.LOGO_BOX[3] / (sc.W * sc.H)


@pytest.mark.parametrize("move", ["pan_right", "tilt_up", "shake", "zoom_in"])
def test_logo_box_over_a_moving_camera(tmp_path, texture, move):
    r = detect(sc.overlay_clip(tmp_path / "logo.mp4", texture, move, sc.logo_filter(None)))
    assert r["overlay_status"] == "found"
    assert_near(r["overlay_box"], sc.LOGO_BOX)
    # the zoom's fixed point at the centre may add a small box; nothing else
    assert r["overlay_fraction"] == pytest.approx(logo_area(), abs=0.012 if move == "zoom_in" else 0.006)


@needs_font
def test_changing_subtitles_give_a_bottom_band(tmp_path, texture):
    r = detect(sc.overlay_clip(tmp_path / "subs.mp4", texture, "pan_right", sc.subtitle_filter(FONT)))
    assert r["overlay_status"] == "found" and len(r["overlay_boxes"]) == 1
    x, y, w, h = px(r["overlay_box"])
    assert abs(y - sc.SUBTITLE_TOP) <= 4 and 12 <= h <= 26  # one text line (16 px font, 2 px border)
    assert w >= 0.7 * sc.W and abs((x + w / 2) - sc.W / 2) <= 8  # as wide as the longest line, centred
    assert 0.05 <= r["overlay_fraction"] <= 0.12


@needs_font
def test_logo_and_subtitles_together(tmp_path, texture):
    r = detect(sc.overlay_clip(tmp_path / "both.mp4", texture, "tilt_down", sc.logo_filter(FONT) + "," + sc.subtitle_filter(FONT)))
    assert len(r["overlay_boxes"]) == 2
    band, logo = sorted(r["overlay_boxes"], key=lambda b: -b[1])  # the lower one is the band
    assert_near(logo, sc.LOGO_BOX)
    assert abs(px(band)[1] - sc.SUBTITLE_TOP) <= 4
    assert r["overlay_fraction"] == pytest.approx(band[2] * band[3] + logo[2] * logo[3], abs=1e-9)


def test_moving_picture_without_overlay_has_none(tmp_path, texture):
    r = detect(sc.overlay_clip(tmp_path / "none.mp4", texture, "pan_left", ""))
    assert r["overlay_status"] == "none" and r["overlay_fraction"] == 0.0 and r["overlay_box"] is None
    assert r["changing_share"] > 0.9


def test_static_clip_is_unknown_not_one_big_overlay(tmp_path, texture):
    """Nothing moves: every edge is persistent, so an overlay cannot be told from the picture."""
    r = detect(sc.overlay_clip(tmp_path / "static.mp4", texture, "static", sc.logo_filter(None)))
    assert r["overlay_status"] == "unknown" and r["overlay_fraction"] is None and r["overlay_boxes"] == []


def test_too_few_frames_is_unknown():
    det = OverlayDetector()
    for _ in range(3):
        det.add(np.zeros((90, 160), np.uint8))
    assert det.result()["overlay_status"] == "unknown"
    with pytest.raises(ValueError):
        det.add(np.zeros((100, 160), np.uint8))


@pytest.mark.media
@pytest.mark.parametrize("move", ["pan_right", "shake"])
def test_logo_over_real_footage(tmp_path, real_picture, move):
    r = detect(sc.overlay_clip(tmp_path / "logo.mp4", real_picture, move, sc.logo_filter(FONT)))
    assert_near(r["overlay_box"], sc.LOGO_BOX)
    assert r["overlay_fraction"] == pytest.approx(logo_area(), abs=0.006)


@pytest.mark.media
@pytest.mark.parametrize(
    "name,status",
    [("bottle-detection.mp4", "unknown"), ("man-surfing.mp4", "none"), ("man-skiing.mp4", "none"), ("car-turn.mp4", "none"), ("flipping_a_pancake.mkv", "none")],
)
def test_real_clips_without_overlays(tmp_path, shared_media, name, status):
    """No logo or subtitle in these: a tripod shot is unknown (too still), moving footage has none."""
    clip = tmp_path / "clip.mp4"
    sc.ffmpeg("-i", "file:" + str((shared_media / name).resolve()), "-t", "8", "-an", "-vf", "fps=16,scale=-2:256", *sc.ENC, str(clip))
    r = detect(clip)
    assert r["overlay_status"] == status, r
    assert r["overlay_fraction"] in ((None,) if status == "unknown" else (0.0,))
