"""decode_window / decode_windows on real H.264 bytes: window shape, padding, fixed windows, and target sizes decord's own resize mishandles."""

from __future__ import annotations

import numpy as np
import pytest

from shards.decode import ShortClip, decode_window, decode_windows, window_indices, window_starts
from tests.conftest import have_ffmpeg, make_video

pytestmark = pytest.mark.skipif(not have_ffmpeg(), reason="ffmpeg not installed")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("decode")
    return {size: make_video(root / f"{size}.mp4", seconds=1.0, size=size, fps=8).read_bytes() for size in ("64x48", "160x120", "456x256")}


# (clip size, window size): 16x12 from 64x48 made decord 0.6.0 allocate without bound; the
# others raise "DECORDArrayCopyFromTo: The size must exactly match" when decord resizes
@pytest.mark.parametrize("clip,size", [("64x48", 12), ("160x120", 12), ("160x120", 18), ("160x120", 36), ("456x256", 32)])
def test_window_has_the_requested_size(clips, clip, size):
    arr, valid = decode_window(clips[clip], frames=3, stride=2, size=size, rng=np.random.default_rng(0))
    assert arr.shape == (3, size, size, 3) and arr.dtype == np.uint8 and valid == 3
    assert arr.std() > 5  # real picture content, not a blank buffer


def test_short_clip_pads_or_skips(clips):
    arr, valid = decode_window(clips["64x48"], frames=12, stride=1, size=16, rng=np.random.default_rng(0))
    assert valid == 8 and arr.shape[0] == 12 and np.array_equal(arr[-1], arr[7])
    with pytest.raises(ShortClip):
        decode_window(clips["64x48"], frames=12, stride=1, size=16, rng=np.random.default_rng(0), short_clips="skip")


def test_window_indices_stay_inside_the_clip():
    rng = np.random.default_rng(1)
    for _ in range(50):
        idx, valid = window_indices(20, 4, 3, rng, "pad")
        assert valid == 4 and idx.min() >= 0 and idx.max() < 20 and np.all(np.diff(idx) == 3)


def test_fixed_windows_are_evenly_spaced_and_match_single_decodes(clips):
    assert window_starts(8, 3, 1, 4) == [0, 2, 3, 5] and window_starts(8, 3, 1, 1) == [0] and window_starts(3, 3, 1, 4) == [0]
    wins = decode_windows(clips["160x120"], frames=3, stride=1, size=16, count=4)
    assert [v for _, v in wins] == [3, 3, 3, 3]
    for (arr, _), start in zip(wins, window_starts(8, 3, 1, 4), strict=True):
        one, _ = decode_window(clips["160x120"], frames=3, stride=1, size=16, rng=_FixedStart(start))
        assert np.array_equal(arr, one)  # the same pixels as a single-window decode at that start
    assert not np.array_equal(wins[0][0], wins[-1][0])
    (arr, valid), = decode_windows(clips["64x48"], frames=12, stride=1, size=16, count=4)  # short clip: one padded window
    assert valid == 8 and np.array_equal(arr[-1], arr[7])
    with pytest.raises(ShortClip):
        decode_windows(clips["64x48"], frames=12, stride=1, size=16, count=4, short_clips="skip")


class _FixedStart:
    """A stand-in numpy Generator whose `integers` returns a fixed window start."""

    def __init__(self, start: int):
        self.start = start

    def integers(self, lo, hi):
        assert lo <= self.start < hi
        return self.start
