import pytest

from curation.score import signals as sig
from curation.score.frames import ClipVideo, DecodeError, clip_frame_indices, flow_pair_starts
from tests.curation.score.corpus import lavfi_clip


def test_index_plans():
    # 10 s at 16 fps, 1 frame/s capped at 4
    assert len(clip_frame_indices(160, 16.0, 1.0, 4)) == 4
    assert len(clip_frame_indices(160, 16.0, 1.0, 16)) == 10
    # at least two CLIP frames even for a short clip
    assert len(clip_frame_indices(8, 16.0, 1.0, 16)) == 2
    starts = flow_pair_starts(160, 16.0, 4.0)
    assert len(starts) == 40 and max(starts) <= 158
    assert flow_pair_starts(1, 16.0, 4.0) == []


@pytest.mark.parametrize("colour,expected_grey", [("red", 0.299 * 255), ("blue", 0.114 * 255), ("lime", 0.587 * 255)])
def test_rgb_to_grey_colour_order(tmp_path, colour, expected_grey):
    """decord yields RGB; grey must weight R by 0.299 and B by 0.114 (a BGR mix-up swaps red and blue)."""
    path = lavfi_clip(tmp_path / f"{colour}.mp4", f"color=c={colour}:size=64x64:rate=16", seconds=0.5)
    with ClipVideo(path) as video:
        _, rgb = next(iter(video.iter_frames()))
    grey = sig.to_grey(rgb)
    assert abs(float(grey.mean()) - expected_grey) < 6


def test_iter_frames_streams_every_frame_in_order(tmp_path):
    path = lavfi_clip(tmp_path / "t.mp4", "testsrc2=size=96x64:rate=16", seconds=3.0)
    with ClipVideo(path) as video:
        seen = [i for i, f in video.iter_frames()]
        assert seen == list(range(video.num_frames)) and video.num_frames == 48


def test_undecodable_file_raises_decode_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(DecodeError):
        ClipVideo(bad)
    with pytest.raises(DecodeError):
        ClipVideo(tmp_path / "missing.mp4")
