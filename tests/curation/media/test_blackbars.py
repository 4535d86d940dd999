"""Black bars: boxes of sources padded with ffmpeg's pad filter (known truth), dark scenes that must not
be called bars, and the crop + normalized size that give the picture's own aspect ratio."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from curation.media import FrameReader, probe_media
from curation.media.blackbars import (
    BlackBarParams,
    CropBox,
    box_from_bars,
    combine_bars,
    crop_plan,
    detect_black_bars,
    frame_bars,
)
from tests.conftest import ffmpeg
from tests.curation import signal_clips as sc

ENC = ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "20", "-pix_fmt", "yuv420p"]


@pytest.fixture(scope="module")
def picture_clip(tmp_path_factory):
    """3 s of a camera pan over a texture, 320x180 (the picture that gets padded)."""
    root = tmp_path_factory.mktemp("bars")
    return sc.camera_clip(root / "picture.mp4", sc.texture_png(root / "texture.png"), "pan_right")


def pad(src, dst, size: str, x: int, y: int, pre: str = ""):
    vf = (pre + "," if pre else "") + f"pad={size.replace('x', ':')}:{x}:{y}:black"
    ffmpeg("-i", str(src), "-vf", vf, *ENC, str(dst))
    return dst


def assert_box(box, truth: CropBox, slack: int = 2):
    assert box is not None, f"no box, expected {truth}"
    assert all(v % 2 == 0 for v in box), box
    # inward by at most `slack` px per side, never outward (never a bar line left in)
    assert truth.x <= box.x <= truth.x + slack and truth.y <= box.y <= truth.y + slack, (box, truth)
    assert truth.x + truth.w - slack <= box.x + box.w <= truth.x + truth.w, (box, truth)
    assert truth.y + truth.h - slack <= box.y + box.h <= truth.y + truth.h, (box, truth)


@pytest.mark.parametrize(
    "name,size,x,y,truth",
    [
        ("letterbox", "320x240", 0, 30, CropBox(0, 30, 320, 180)),
        ("pillarbox", "480x180", 80, 0, CropBox(80, 0, 320, 180)),
        ("windowbox", "400x240", 40, 30, CropBox(40, 30, 320, 180)),
        ("off_centre", "352x220", 10, 36, CropBox(10, 36, 320, 180)),
    ],
)
def test_padded_source_gives_the_picture_box(tmp_path, picture_clip, name, size, x, y, truth):
    src = pad(picture_clip, tmp_path / f"{name}.mp4", size, x, y)
    box = detect_black_bars(src, probe_media(src))
    assert_box(box, truth)


def test_unpadded_source_has_no_box(picture_clip):
    assert detect_black_bars(picture_clip, probe_media(picture_clip)) is None


def test_crop_plan_gives_the_inner_aspect_and_the_frames_carry_no_bar(tmp_path, picture_clip):
    """A 16:9 picture letterboxed into 4:3 must come out of ingest's decoder 16:9 (within 2 %), bar-free."""
    src = pad(picture_clip, tmp_path / "lb.mp4", "320x240", 0, 30)
    info = probe_media(src)
    box = detect_black_bars(src, info)
    plan = crop_plan(box, info, short_side=128)
    assert plan.filter == f"crop={box.w}:{box.h}:{box.x}:{box.y}"
    assert plan.height == 128 and plan.width / plan.height == pytest.approx(320 / 180, rel=0.02)
    with FrameReader(src, width=plan.width, height=plan.height, fps=16, crop=tuple(box), pix_fmt="gray") as reader:
        edges = [(float(f[0].mean()), float(f[-1].mean())) for f in reader]
    assert reader.result.ok and len(edges) == 48
    assert min(min(e) for e in edges) > 40  # first and last rows are picture, not black
    # without the crop, the same decode has black rows at the top
    with FrameReader(src, width=plan.width, height=96, fps=16, pix_fmt="gray") as reader:
        tops = [float(f[0].mean()) for f in reader]
    assert max(tops) < 5


def test_dark_fade_and_a_black_stretch_do_not_change_the_box(tmp_path, picture_clip):
    """Letterboxed clip that fades in from black over the first half: the dark frames must not widen the bars."""
    src = pad(picture_clip, tmp_path / "fade.mp4", "320x240", 0, 30, pre="fade=in:st=0:d=1.6")
    assert_box(detect_black_bars(src, probe_media(src)), CropBox(0, 30, 320, 180))


def test_small_bright_object_on_black_is_not_a_letterbox(tmp_path, picture_clip):
    """A night scene: black frame, a small lit patch moving sideways (same rows in every frame)."""
    dst = tmp_path / "night.mp4"
    graph = "[0:v]crop=60:40:0:0[o];color=black:s=320x180:r=16:d=3[bg];[bg][o]overlay=x='20+t*80':y=70:shortest=1[v]"
    ffmpeg("-i", str(picture_clip), "-filter_complex", graph, "-map", "[v]", *ENC, str(dst))
    assert detect_black_bars(dst, probe_media(dst)) is None


def test_all_black_source_has_no_box(tmp_path):
    dst = tmp_path / "black.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=black:s=320x240:r=16:d=2", *ENC, str(dst))
    assert detect_black_bars(dst, probe_media(dst)) is None


def test_dark_textured_picture_is_not_bars(tmp_path, picture_clip):
    dst = tmp_path / "dark.mp4"
    ffmpeg("-i", str(picture_clip), "-vf", "eq=brightness=-0.35:contrast=0.6", *ENC, str(dst))
    assert detect_black_bars(dst, probe_media(dst)) is None


def test_rotated_source_box_is_in_displayed_pixels(tmp_path, picture_clip):
    """A letterboxed frame stored with a 90-degree display rotation decodes (autorotate) as a pillarbox."""
    stored = pad(picture_clip, tmp_path / "stored.mp4", "320x240", 0, 30)
    src = tmp_path / "rot.mp4"
    ffmpeg("-i", str(stored), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(src))  # display matrix, same pixels
    info = probe_media(src)
    if info.rotation % 180 != 90:
        pytest.skip("this ffmpeg does not write the rotate tag as a display matrix")
    box = detect_black_bars(src, info)
    assert_box(box, CropBox(30, 0, 180, 320))
    plan = crop_plan(box, info, short_side=128)
    assert plan.width == 128 and plan.height / plan.width == pytest.approx(320 / 180, rel=0.02)


@pytest.mark.media
def test_real_clip_padded_to_widescreen(tmp_path, shared_media):
    """car-turn.mp4 (480x480 real footage) pillarboxed into 864x480, and its unpadded original."""
    real = tmp_path / "real.mp4"
    ffmpeg("-i", "file:" + str((shared_media / "car-turn.mp4").resolve()), "-t", "4", *ENC, str(real))
    assert detect_black_bars(real, probe_media(real)) is None
    src = pad(real, tmp_path / "real_pb.mp4", "864x480", 192, 0)
    info = probe_media(src)
    box = detect_black_bars(src, info)
    assert_box(box, CropBox(192, 0, 480, 480))
    plan = crop_plan(box, info, short_side=256)
    assert plan.width == plan.height == 256


@pytest.mark.media
@pytest.mark.parametrize("name", ["bottle-detection.mp4", "car-detection.mp4", "flipping_a_pancake.mkv", "man-surfing.mp4"])
def test_real_clips_without_bars(shared_media, name):
    path = shared_media / name
    assert detect_black_bars(path, probe_media(path)) is None


# ------------------------------------------------------------------ combining frames (pure)
P = BlackBarParams()


def letterboxed(h=240, w=320, bar=30, rng=None, dark=False, subtitle=False) -> np.ndarray:
    rng = rng or np.random.default_rng(0)
    f = np.zeros((h, w), np.uint8)
    lo, hi = (0, 40) if dark else (40, 255)
    f[bar : h - bar] = rng.integers(lo, hi, (h - 2 * bar, w), dtype=np.uint8)
    if subtitle:  # white text in the bottom bar
        f[h - bar + 8 : h - bar + 16, 100:220:3] = 235
    return f


def test_subtitles_inside_a_bar_are_outvoted():
    rng = np.random.default_rng(3)
    frames = [frame_bars(letterboxed(rng=rng, subtitle=i in (2, 5)), P) for i in range(8)]
    assert frames[2].bottom < 30 <= frames[0].bottom
    assert combine_bars(frames, 240, 320, P) == (30, 30, 0, 0)


def test_half_the_frames_showing_picture_at_the_edge_means_no_bar():
    rng = np.random.default_rng(4)
    frames = [frame_bars(letterboxed(rng=rng, bar=30 if i % 2 else 0), P) for i in range(8)]
    assert combine_bars(frames, 240, 320, P) is None


def test_dark_frames_say_nothing():
    frames = [frame_bars(np.zeros((240, 320), np.uint8), P) for _ in range(8)]
    assert all(f.top is None and f.left is None for f in frames)
    assert combine_bars(frames, 240, 320, P) is None


def test_box_from_a_downscaled_analysis_frame_rounds_inward():
    # 1920x1080 source analysed at 960x540: a 69-px top bar there is 138 source px, +1 analysis px of safety
    box = box_from_bars((69, 69, 0, 0), (960, 540), (1920, 1080))
    assert box == CropBox(0, 140, 1920, 800)
    assert box_from_bars((30, 30, 0, 0), (320, 240), (320, 240)) == CropBox(0, 30, 320, 180)
    assert box_from_bars((31, 29, 3, 0), (320, 240), (320, 240)) == CropBox(4, 32, 316, 178)


def test_samples_are_spread_over_the_source_in_one_process(tmp_path):
    """testsrc2 draws its clock: frames decoded at different times differ; a seek past the end gives nothing."""
    from curation.media.blackbars import decode_grey_samples

    src = tmp_path / "clock.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x120:r=16:d=4", *ENC, str(src))
    frames = decode_grey_samples(src, [0.0, 1.0, 2.0, 3.0, 60.0], (160, 120), None, 60)
    assert len(frames) == 4 and all(f.shape == (120, 160) for f in frames)
    assert all(not np.array_equal(a, b) for a, b in itertools.pairwise(frames))
