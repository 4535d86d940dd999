import pytest

from curation.ingest.validate import REJECT_REASONS, Rejected, validate_source
from tests.conftest import ffmpeg


def reason_of(path) -> str:
    with pytest.raises(Rejected) as e:
        validate_source(path)
    assert e.value.reason in REJECT_REASONS and e.value.detail
    return e.value.reason


def test_good_video_passes(media_factory):
    info = validate_source(media_factory("val_ok.mp4", source="testsrc2", seconds=2))
    assert info.has_video and info.duration_s > 1.9


def test_audio_only(tmp_path):
    f = tmp_path / "tone.mp4"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440", "-t", "1", "-c:a", "aac", str(f))
    assert reason_of(f) == "no_video_stream"


def test_random_bytes(tmp_path):
    import numpy as np

    f = tmp_path / "random.mp4"
    f.write_bytes(np.random.default_rng(1).bytes(50_000))
    assert reason_of(f) == "not_media"


def test_zero_length(tmp_path):
    f = tmp_path / "empty.mp4"
    f.write_bytes(b"")
    assert reason_of(f) == "zero_length"


def test_text_file_with_video_extension(tmp_path):
    f = tmp_path / "readme.mkv"
    f.write_text("this is not a video\n" * 50)
    assert reason_of(f) in ("not_media", "probe_failed")


def test_truncated_moov_missing(media_factory, tmp_path):
    data = media_factory("val_full.mp4", source="mandelbrot", seconds=2).read_bytes()
    f = tmp_path / "half.mp4"
    f.write_bytes(data[: len(data) // 2])
    assert reason_of(f) == "truncated"


def test_truncated_media_data(media_factory, tmp_path):
    data = media_factory("val_fs.mp4", source="mandelbrot", seconds=3, extra=["-movflags", "+faststart"]).read_bytes()
    f = tmp_path / "cut.mp4"
    f.write_bytes(data[: int(len(data) * 0.4)])  # probes fine: the index is at the front
    assert reason_of(f) == "undecodable"


def test_dangling_symlink(tmp_path):
    f = tmp_path / "link.mp4"
    f.symlink_to(tmp_path / "missing.mp4")
    assert reason_of(f) == "unreadable"
