"""The one cut detector (curation/media/cuts.py), fed the way ingest (yuv420p planes) and score (decord RGB) feed it."""

from __future__ import annotations

import numpy as np
import pytest

from curation.media import FrameReader
from curation.media.cuts import CutDetector, histograms, rgb_to_yuv
from curation.media.decode import yuv420p_planes
from curation.score.frames import ClipVideo
from tests.curation.ingest.helpers import concat_video


def cuts_yuv(path, fps=16, width=128, height=96) -> list[int]:
    det = CutDetector()
    with FrameReader(path, width=width, height=height, fps=fps, pix_fmt="yuv420p") as r:
        found = [i for i, f in enumerate(r) if det.update_yuv(*yuv420p_planes(f, width, height))]
    assert r.result.ok
    return found


def cuts_rgb(path) -> list[int]:
    det = CutDetector()
    with ClipVideo(path) as video:
        return [i for i, rgb in video.iter_frames() if det.update_rgb(rgb)]


def planes(y: int, w: int = 64, h: int = 48) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.full((h, w), y, np.uint8), np.full((h // 2, w // 2), 128, np.uint8), np.full((h // 2, w // 2), 128, np.uint8)


def test_histograms_and_distance_range():
    black, white = planes(0), planes(255)
    hb, hw = histograms(*black), histograms(*white)
    assert np.allclose(hb.sum(axis=1), 1)
    assert float(np.abs(hb - hw).sum(axis=1).mean()) == pytest.approx(2 / 3)  # Y disjoint, U and V the same


def test_rgb_conversion_matches_ffmpeg_limited_range():
    px = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0]]], np.uint8)
    yuv = rgb_to_yuv(px)[0]
    assert yuv[0].tolist() == [16, 128, 128] and yuv[1].tolist() == [235, 128, 128]
    assert yuv[2].tolist() == [81, 90, 240]  # BT.601 red


def test_one_grey_level_across_a_bin_edge_is_not_a_cut():
    """Flat dark picture, luma 31 -> 32: the histogram jumps a whole bin (distance 0.67), the picture
    barely changes (1/255): the pixel test keeps it quiet.  A real change of the same shape fires."""
    det = CutDetector()
    fired = [det.update_yuv(*planes(31 if i < 10 else 32)) for i in range(20)]
    assert not any(fired) and det.last_distance == 0.0
    det = CutDetector()
    jumps = [det.update_yuv(*planes(31)) for _ in range(10)]
    assert det.update_yuv(*planes(32)) is False and det.last_distance == pytest.approx(2 / 3)
    assert det.update_yuv(*planes(200)) is True and not any(jumps)


def test_cut_at_the_right_frame_in_both_feeds(tmp_path):
    f = concat_video(tmp_path / "cut.mp4", "testsrc2", "mandelbrot", seconds=3.0, fps=16, size="128x96")
    yuv = cuts_yuv(f, fps=16)
    assert len(yuv) == 1 and abs(yuv[0] - 48) <= 1  # 3.0 s x 16 fps
    assert cuts_rgb(f) == yuv


def test_no_cut_in_steady_motion(media_factory, tmp_path):
    assert cuts_yuv(media_factory("cut_steady.mp4", source="testsrc2", seconds=3)) == []
    # chaotic but continuous motion: every distance is similar, the ratio test keeps it quiet
    assert cuts_yuv(media_factory("cut_life.mp4", source="life", seconds=3)) == []
    from tests.curation.score.corpus import pan_clip, still_image

    assert cuts_rgb(pan_clip(tmp_path / "pan.mp4", still_image(tmp_path / "s.png"), 128)) == []


@pytest.mark.media
def test_hard_cuts_of_real_footage(bikes_mp4):
    """bikes.mp4 (10 s street montage at 25 fps) has 5 hard cuts, at frames 30, 76, 137, 187, 242."""
    assert cuts_rgb(bikes_mp4) == [30, 76, 137, 187, 242]
    got = cuts_yuv(bikes_mp4, fps=25, width=456, height=256)
    assert len(got) == 5 and all(abs(a - b) <= 1 for a, b in zip(got, [30, 76, 137, 187, 242], strict=True))
