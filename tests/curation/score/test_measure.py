"""MeasureStage's one decode pass feeds camera motion, overlays and content flags: the stored columns
on ffmpeg-made clips whose truth is known by construction (camera moves over a texture, a logo drawn
at a known box, a flat colour held still, stills joined by cuts, a scrolled UI)."""

from __future__ import annotations

import pytest

from curation.config import parse_params
from curation.schemas import SCORE_MEASURES
from curation.score.measure import FRAMES, MeasureStage
from tests.conftest import ffmpeg
from tests.curation import signal_clips as sc

FONT = sc.font_file()
SIGNALS = ("camera_motion", "camera_motion_confidence", "camera_speed", "object_motion", "overlay_fraction", "overlay_box", "content_flags")


@pytest.fixture(scope="module")
def stage():
    p = parse_params({})  # the default params (params.yaml's defaults)
    s = MeasureStage(p.score, p.cuts, "/", "test")
    s.setup()
    return s


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("measure")


def measure(stage, path) -> dict:
    row = stage.measure(path, {"fps": float(sc.FPS)})
    row.pop(FRAMES)
    assert set(SIGNALS) <= set(row) and set(row) <= set(SCORE_MEASURES.names), sorted(set(row) - set(SCORE_MEASURES.names))
    return row


#: camera move -> (signed component that carries it, its speed in width/s by construction)
#: pans move a 320-px window 64 px/s (0.2 width/s), tilts 48 px/s (0.15 width/s)
MOVES = {
    "pan_right": ("pan_speed", 0.2),
    "pan_left": ("pan_speed", -0.2),
    "tilt_up": ("tilt_speed", 0.15),
    "tilt_down": ("tilt_speed", -0.15),
    "zoom_in": ("zoom_speed", None),
    "zoom_out": ("zoom_speed", None),
    "rotate": ("rotation_speed", None),
}


@pytest.mark.parametrize("move", sorted(MOVES))
def test_camera_move_label_and_speed(stage, root, texture, move):
    r = measure(stage, sc.camera_clip(root / f"{move}.mp4", texture, move))
    assert r["camera_motion"] == move and r["camera_motion_confidence"] >= 0.8, r  # measured 0.85-0.99
    component, speed = MOVES[move]
    if speed is not None:
        assert r[component] == pytest.approx(speed, rel=0.05) and r["camera_speed"] == pytest.approx(abs(speed), rel=0.05)
    else:
        assert (r[component] > 0) == (move != "zoom_out") and abs(r[component]) > 0.04
    # nothing moves on its own: object motion is a small share of the camera's (measured 1-10 %)
    assert r["object_motion"] < 0.15 * r["camera_speed"], r
    assert r["content_flags"] == []


def test_shake_and_a_still_shot_with_a_moving_subject(stage, root, texture):
    shake = measure(stage, sc.camera_clip(root / "shake.mp4", texture, "shake"))
    assert shake["camera_motion"] == "shake" and shake["camera_speed"] > 0.3
    subject = measure(stage, sc.moving_object_clip(root / "subject.mp4", texture))
    # a 64x48 patch (5.3 % of the frame) crossing at 80 px/s = 0.25 width/s: 0.013 width/s over the frame
    assert subject["camera_motion"] == "static" and subject["camera_speed"] < 0.01
    assert subject["object_motion"] == pytest.approx(0.0133, rel=0.3), subject
    assert subject["object_motion"] > 2 * subject["camera_speed"]


@pytest.mark.parametrize("letters", ["text", "strokes"])
def test_logo_over_a_pan_gives_its_box_and_fraction(stage, root, texture, letters):
    if letters == "text" and FONT is None:
        pytest.skip("no TrueType font for drawtext (the font-free 'strokes' logo still runs)")
    font = FONT if letters == "text" else None
    r = measure(stage, sc.overlay_clip(root / f"logo_{letters}.mp4", texture, "pan_left", sc.logo_filter(font)))
    assert r["camera_motion"] == "pan_left"
    x, y, w, h = sc.LOGO_BOX
    area = w * h / (sc.W * sc.H)
    assert r["overlay_fraction"] == pytest.approx(area, abs=0.004), r  # measured 0.0312-0.0319 for 0.03125
    bx, by, bw, bh = (v * s for v, s in zip(r["overlay_box"], (sc.W, sc.H, sc.W, sc.H), strict=True))
    assert abs(bx - x) <= 3 and abs(by - y) <= 3 and abs(bx + bw - x - w) <= 3 and abs(by + bh - y - h) <= 3, (bx, by, bw, bh)
    assert r["overlay_boxes"] == [r["overlay_box"]]


def test_no_overlay_on_a_plain_pan_and_unknown_on_a_still_shot(stage, root, texture):
    pan = measure(stage, sc.camera_clip(root / "pan_right.mp4", texture, "pan_right"))
    assert pan["overlay_fraction"] == 0.0 and pan["overlay_box"] is None and pan["overlay_boxes"] == []
    # a logo on a still picture cannot be told from the picture: unknown, not 0
    still = measure(stage, sc.overlay_clip(root / "logo_still.mp4", texture, "static", sc.logo_filter(None)))
    assert still["overlay_fraction"] is None and still["overlay_box"] is None and still["overlay_boxes"] is None


def test_static_colour_clip_is_still(stage, root):
    path = root / "colour.mp4"
    ffmpeg("-f", "lavfi", "-i", f"color=c=0x3366aa:size={sc.CLIP_W}x{sc.CLIP_H}:rate={sc.FPS}", "-t", "3", *sc.ENC, str(path))
    r = measure(stage, path)
    assert r["content_flags"] == ["still"] and r["static_share"] == 1.0 and r["slide_changes"] == 0
    assert r["camera_motion"] == "static" and r["camera_speed"] == 0.0


def test_stills_joined_by_cuts_are_a_slideshow(stage, root, texture):
    pictures = [texture, sc.texture_png(root / "texture2.png", seed=11), sc.ui_mock_picture(root / "ui.png")]
    r = measure(stage, sc.slideshow_clip(root / "slides.mp4", pictures, hold_s=2.0))
    assert r["content_flags"] == ["slideshow"] and r["slide_changes"] == 2, r


def test_scrolled_ui_is_screen(stage, root):
    r = measure(stage, sc.scroll_clip(root / "ui_scroll.mp4", sc.ui_mock_picture(root / "ui.png")))
    assert r["content_flags"] == ["screen"] and r["screen_share"] == 1.0, r
    assert r["camera_motion"] == "tilt_down"  # the page moves up: to the flow, a camera tilting down


def test_flow_meter_returns_the_flow_it_measured(root, texture):
    """The camera fit reuses FlowMeter's DIS flow: add_pair returns exactly that field."""
    import cv2
    import numpy as np

    from curation.config import FlowParams
    from curation.score.flow import FlowMeter, make_dis

    cv2.setNumThreads(1)  # as MeasureStage.setup: DIS is then the same field on every call
    pairs = list(sc.iter_flow(sc.camera_clip(root / "pan_right.mp4", texture, "pan_right")))
    meter = FlowMeter(FlowParams(), sc.FPS, make_dis("fast"))
    for _, first, second, flow in pairs[:3]:
        got = meter.add_pair(first, second, 0.0)
        assert got.shape == (*first.shape, 2) and np.array_equal(got, flow)
    assert meter.pairs == 3
