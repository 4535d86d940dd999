from fractions import Fraction

import pytest

from curation.media import ProbeError, normalized_size, probe_media
from curation.media.geometry import fps_arg, gop_frames
from tests.conftest import ffmpeg


def test_probe_video(media_factory):
    info = probe_media(media_factory("probe_a.mp4", source="testsrc2", seconds=2, size="320x240", fps=25))
    assert info.has_video and not info.has_audio
    assert (info.width, info.height, info.codec) == (320, 240, "h264")
    assert info.fps == pytest.approx(25)
    assert info.duration_s == pytest.approx(2.0, abs=0.05)
    assert info.rotation == 0 and info.video_index == 0


def test_probe_audio_only_does_not_raise(tmp_path):
    f = tmp_path / "tone.mp4"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440", "-t", "1", "-c:a", "aac", str(f))
    info = probe_media(f)  # ffprobe is happy with an audio-only file ...
    assert not info.has_video and info.has_audio  # ... so the caller must check the streams
    assert "audio:aac" in info.stream_summary


def test_probe_random_bytes(tmp_path):
    f = tmp_path / "noise.mp4"
    f.write_bytes(bytes(range(256)) * 300)
    with pytest.raises(ProbeError) as e:
        probe_media(f)
    assert e.value.reason == "not_media"
    assert "0x" not in e.value.detail  # ffmpeg object addresses are stripped (deterministic details)


def test_probe_truncated_moov_missing(media_factory, tmp_path):
    data = media_factory("probe_full.mp4", source="mandelbrot", seconds=2).read_bytes()
    f = tmp_path / "cut.mp4"
    f.write_bytes(data[: len(data) // 2])  # default muxing writes moov last
    with pytest.raises(ProbeError) as e:
        probe_media(f)
    assert e.value.reason == "truncated" and "moov" in e.value.detail


def test_probe_rotation(media_factory, tmp_path):
    src = media_factory("probe_rot_src.mp4", source="testsrc2", seconds=1, size="320x240")
    f = tmp_path / "rot.mp4"
    ffmpeg("-i", str(src), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(f))
    info = probe_media(f)
    assert info.rotation in (90, 270)
    assert info.display_size == (240, 320)


@pytest.mark.parametrize(
    "w,h,sar,rot,out",
    [
        (1280, 720, Fraction(1), 0, (456, 256)),
        (720, 1280, Fraction(1), 0, (256, 456)),
        (1280, 720, Fraction(1), 90, (256, 456)),
        (720, 576, Fraction(16, 15), 0, (342, 256)),  # PAL 4:3 with non-square pixels: 768x576 displayed
        (853, 479, Fraction(1), 0, (456, 256)),
        (256, 256, Fraction(1), 0, (256, 256)),
        (100, 50, Fraction(1), 0, (512, 256)),  # small sources are scaled up
    ],
)
def test_normalized_size(w, h, sar, rot, out):
    got = normalized_size(w, h, 256, sar, rot)
    assert got == out and got[0] % 2 == 0 and got[1] % 2 == 0


def test_rates():
    assert fps_arg(16.0) == "16" and fps_arg(29.97) == "2997/100"
    assert gop_frames(0.5, 16) == 8 and gop_frames(0.5, 29.97) == 14 and gop_frames(0.01, 16) == 1
