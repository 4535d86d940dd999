"""Content flags on clips whose content is known: chromium screenshots and font-free UI mock-ups scrolled,
drawtext code on flat colours, block pixel art with a HUD (screen); a photo held still (still); photos
joined by cuts or cross-fades (slideshow); real camera footage and letterboxed / dark footage (none)."""

from __future__ import annotations

import numpy as np
import pytest

from curation.config import CutParams
from curation.media.cuts import CutDetector, resize_width
from curation.score import signals as sig
from curation.score.content import FLAGS, ContentMeter, ContentParams, content_flags, is_screen_like, picture_stats
from curation.score.flow import make_dis
from curation.score.frames import ClipVideo, clip_frame_indices, flow_pair_starts
from tests.conftest import ffmpeg
from tests.curation import signal_clips as sc

FONT = sc.font_file()


def measure(path) -> tuple[list[str], dict]:
    """The score pass's view: CLIP frames (1/s, max 16) -> pictures; flow pairs (4/s, 160 px) -> pairs; every frame -> cuts."""
    meter, dis = ContentMeter(), make_dis("fast")
    cuts = CutDetector.from_params(CutParams())  # the score pass's residual-cut detector, default params
    flow_means = []
    with ClipVideo(path) as video:
        n, fps = video.num_frames, video.avg_fps
        starts, clip_idx = set(flow_pair_starts(n, fps, 4.0)), set(clip_frame_indices(n, fps, 1.0, 16))
        first = None
        for i, rgb in video.iter_frames():
            cuts.update_rgb(rgb)
            if i in clip_idx:
                meter.add_picture(rgb)
            if i in starts or (i - 1) in starts:
                small = resize_width(sig.to_grey(rgb), 160)
                if (i - 1) in starts and first is not None:
                    flow = dis.calc(first, small, None)
                    flow_means.append(float(np.hypot(flow[..., 0], flow[..., 1]).mean()) / 160 * fps)
                    meter.add_pair(first, small)
                if i in starts:
                    first = small
    summary = meter.summary() | {"cuts": cuts.cuts}
    return content_flags(summary, cuts.cuts, float(np.mean(flow_means))), summary


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("content")


def test_chromium_settings_page_scrolled_is_screen(root, tmp_path):
    shot = sc.chromium_screenshot(root / "settings.png")
    if shot is None:
        pytest.skip("chromium not installed")
    flags, s = measure(sc.scroll_clip(tmp_path / "page.mp4", shot))
    assert flags == ["screen"], s
    assert s["screen_share"] == 1.0


def test_font_free_ui_mockup_scrolled_is_screen(root, tmp_path):
    flags, s = measure(sc.scroll_clip(tmp_path / "ui.mp4", sc.ui_mock_picture(root / "ui.png")))
    assert flags == ["screen"], s


@pytest.mark.skipif(FONT is None, reason="no TrueType font for drawtext")
def test_code_on_a_dark_editor_scrolled_is_screen(tmp_path):
    lines = ["def main():", "    return 0", "import numpy as np", "class Reader(object):", "    for frame in video:", "        yield frame", "# a comment", "x = compute(a, b)"]
    colours = ["0x9cdcfe", "0xd4d4d4", "0xc586c0", "0x4ec9b0", "0xdcdcaa", "0xd4d4d4", "0x6a9955", "0xd4d4d4"]
    vf = ["drawbox=x=0:y=0:w=60:h=512:color=0x333333:t=fill"]
    vf += [f"drawtext=fontfile={FONT}:text='{t.replace(':', chr(92) + ':')}':x=70:y={20 + 52 * k}:fontsize=14:fontcolor={c}" for k, (t, c) in enumerate(zip(lines, colours, strict=True))]
    path = tmp_path / "code.mp4"
    ffmpeg("-f", "lavfi", "-i", f"color=c=0x1e1e1e:s={sc.CLIP_W}x512:r=16", "-vf", ",".join(vf) + f",crop={sc.CLIP_W}:{sc.CLIP_H}:0:'t*40'", "-t", "3", *sc.ENC, str(path))
    flags, s = measure(path)
    assert flags == ["screen"], s


def test_block_pixel_art_with_a_hud_is_screen(tmp_path):
    flags, s = measure(sc.blocks_clip(tmp_path / "blocks.mp4"))
    assert flags == ["screen"], s


def test_camera_footage_of_a_texture_is_not_screen(tmp_path, texture):
    flags, s = measure(sc.camera_clip(tmp_path / "pan.mp4", texture, "pan_right"))
    assert flags == [] and s["screen_share"] == 0.0


def test_photo_held_still_is_still(tmp_path, texture):
    flags, s = measure(sc.camera_clip(tmp_path / "still.mp4", texture, "static"))
    assert flags == ["still"] and s["static_share"] == 1.0 and s["slide_changes"] == 0


def test_photo_with_a_moving_subject_is_not_still(tmp_path, texture):
    flags, s = measure(sc.moving_object_clip(tmp_path / "obj.mp4", texture))
    assert flags == [] and s["static_share"] == 0.0


@pytest.mark.parametrize("fade_s", [0.0, 0.5])
def test_photos_joined_by_cuts_or_fades_are_a_slideshow(root, tmp_path, texture, fade_s):
    other = sc.texture_png(root / "texture2.png", seed=11)
    ui = sc.ui_mock_picture(root / "ui.png")
    flags, s = measure(sc.slideshow_clip(tmp_path / "slides.mp4", [texture, other, ui], hold_s=2.0, fade_s=fade_s))
    assert "slideshow" in flags and "still" not in flags, s
    assert s["slide_changes"] == 2  # three pictures: two changes


def test_duplicated_frames_are_not_static(tmp_path, texture):
    """A 4-fps pan resampled to 16 fps: three of four adjacent pairs are identical frames, yet the clip moves."""
    src = sc.camera_clip(tmp_path / "pan.mp4", texture, "pan_right")
    dup = tmp_path / "dup.mp4"
    ffmpeg("-i", str(src), "-vf", "fps=4,fps=16", *sc.ENC, str(dup))
    flags, s = measure(dup)
    assert flags == [] and s["static_share"] < 0.5 and s["slide_changes"] == 0, s


def test_black_bars_and_dark_scenes_are_not_screen(tmp_path, texture):
    """Letterboxed footage and a night scene have large, exactly flat black areas: not a screen."""
    pan = sc.camera_clip(tmp_path / "pan.mp4", texture, "pan_right")
    lb = tmp_path / "lb.mp4"
    ffmpeg("-i", str(pan), "-vf", "pad=320:400:0:110:black", *sc.ENC, str(lb))
    night = tmp_path / "night.mp4"
    ffmpeg("-i", str(pan), "-vf", "eq=brightness=-0.5", *sc.ENC, str(night))
    for path in (lb, night):
        flags, s = measure(path)
        assert "screen" not in flags, (path.name, s)


@pytest.mark.media
@pytest.mark.parametrize("name", ["bottle-detection.mp4", "car-detection.mp4", "car-turn.mp4", "man-skiing.mp4", "flipping_a_pancake.mkv", "rabbit-watermelon.mp4", "asl-walk.mkv"])
def test_real_footage_has_no_flags(tmp_path, shared_media, name):
    clip = tmp_path / "clip.mp4"
    ffmpeg("-i", "file:" + str((shared_media / name).resolve()), "-t", "8", "-an", "-vf", "fps=16,scale=-2:256", *sc.ENC, str(clip))
    flags, s = measure(clip)
    assert flags == [], s


def test_flags_function_rules():
    base = {"screen_share": 0.0, "static_share": 1.0, "slide_changes": 0}
    assert content_flags(base) == ["still"]
    assert content_flags(base, flow_mean=0.05) == []  # differences ~0 but the flow says it moves
    assert content_flags(base, cuts=1) == ["slideshow"]
    assert content_flags(base | {"static_share": 0.4, "slide_changes": 3}) == []
    assert content_flags(base | {"screen_share": 0.5, "static_share": 0.7, "slide_changes": 1}) == ["screen", "slideshow"]
    assert content_flags({"screen_share": None, "static_share": None, "slide_changes": 0}) == []
    assert set(FLAGS) == {"screen", "still", "slideshow"}


def test_picture_rules_on_synthetic_frames():
    rng = np.random.default_rng(0)
    ui = np.full((256, 456, 3), 243, np.uint8)
    ui[40:200, 100:400] = 255
    ui[60:70, 120:300:2] = 20  # text-like strokes
    assert is_screen_like(picture_stats(ui))
    photo = np.clip(rng.normal(128, 30, (256, 456, 3)), 0, 255).astype(np.uint8)
    photo = np.ascontiguousarray(photo)
    assert not is_screen_like(picture_stats(photo))
    black = np.zeros((256, 456, 3), np.uint8)
    assert not is_screen_like(picture_stats(black)) and picture_stats(black)["flat_share"] == 0.0
    # a letterboxed photo: UI-like by its flat black bars, unless the dark pixels are left out (the default)
    boxed = np.zeros((256, 456, 3), np.uint8)
    boxed[80:176] = photo[80:176]
    boxed[120:124, 40:400] = 200  # a bright line: some strong edges
    assert picture_stats(black, ContentParams(dark_level=-1))["flat_share"] == 1.0
    assert is_screen_like(picture_stats(boxed, ContentParams(dark_level=-1)))
    assert not is_screen_like(picture_stats(boxed))
