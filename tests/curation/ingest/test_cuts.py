import numpy as np

from curation.ingest.cuts import HistogramCutDetector, color_histogram, histogram_distance
from curation.media import FrameReader
from tests.curation.ingest.helpers import concat_video


def detect(path, fps=16, width=128, height=96) -> list[int]:
    det = HistogramCutDetector(threshold=0.35, ratio=3.0, analysis_width=64)
    with FrameReader(path, width=width, height=height, fps=fps) as r:
        cuts = [i for i, f in enumerate(r) if det.update(f)]
    assert r.result.ok
    return cuts


def test_histogram_distance_range():
    black = np.zeros((32, 48, 3), np.uint8)
    white = np.full((32, 48, 3), 255, np.uint8)
    hb, hw = color_histogram(black), color_histogram(white)
    assert np.allclose(hb.sum(axis=1), 1)
    assert histogram_distance(hb, hb) == 0.0
    assert histogram_distance(hb, hw) == 2.0


def test_cut_found_at_the_right_second(tmp_path):
    f = concat_video(tmp_path / "cut.mp4", "testsrc2", "mandelbrot", seconds=3.0)
    cuts = detect(f, fps=16)
    assert len(cuts) == 1
    assert abs(cuts[0] - 48) <= 1  # 3.0 s x 16 fps, within one normalized frame


def test_no_cut_in_steady_motion(media_factory):
    assert detect(media_factory("cut_steady.mp4", source="testsrc2", seconds=3)) == []
    # chaotic but continuous motion: every distance is similar, the ratio test keeps it quiet
    assert detect(media_factory("cut_life.mp4", source="life", seconds=3)) == []
