import hashlib
import json
import subprocess

import numpy as np
import pytest

from curation.io.hashing import sha256_file
from curation.media import ClipEncoder, EncodeSettings, FrameReader, decodes_frame


def ffprobe_frames(path) -> tuple[int, list[int]]:
    """(frame count, indices of keyframes) by decoding every frame."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=key_frame", "-of", "json", str(path)],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    frames = json.loads(out)["frames"]
    return len(frames), [i for i, f in enumerate(frames) if f["key_frame"]]


def test_frame_reader_resamples_and_scales(media_factory):
    src = media_factory("stream_a.mp4", source="testsrc2", seconds=2, size="320x240", fps=25)
    with FrameReader(src, width=128, height=96, fps=16) as r:
        shapes = {f.shape for f in r}
    assert shapes == {(96, 128, 3)}
    assert r.result.ok and r.result.frames == 32


def test_frame_reader_reports_failure(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with FrameReader(bad, width=64, height=64, fps=8) as r:
        n = sum(1 for _ in r)
    assert n == 0 and not r.result.ok and r.result.returncode != 0 and r.result.stderr_tail


def test_encoder_exact_frames_gop_and_deterministic(tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (64, 96, 3), dtype=np.uint8) for _ in range(21)]
    settings = EncodeSettings(fps=16, gop=8, crf=30, preset="ultrafast", threads=1)
    outs = []
    for name in ("a.mp4", "b.mp4"):
        enc = ClipEncoder(tmp_path / name, 96, 64, settings)
        for f in frames:
            enc.write(f)
        assert enc.finish() == 21
        outs.append(tmp_path / name)
    assert sha256_file(outs[0]) == sha256_file(outs[1]) == hashlib.sha256(outs[0].read_bytes()).hexdigest()
    n, keys = ffprobe_frames(outs[0])
    assert n == 21
    assert keys == [0, 8, 16]  # a keyframe every gop frames, exactly


def test_encoder_rejects_wrong_frame_size(tmp_path):
    enc = ClipEncoder(tmp_path / "x.mp4", 32, 32, EncodeSettings(fps=8, gop=4))
    with pytest.raises(ValueError):
        enc.write(np.zeros((16, 16, 3), np.uint8))
    enc.abort()
    assert not (tmp_path / "x.mp4").exists()


def test_decodes_frame(media_factory, tmp_path):
    good = media_factory("stream_b.mp4", source="testsrc2", seconds=2)
    assert decodes_frame(good)[0] and decodes_frame(good, seek_s=1.5)[0]
    full = media_factory("stream_fs.mp4", source="mandelbrot", seconds=3, extra=["-movflags", "+faststart"]).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full[: int(len(full) * 0.4)])  # index intact, media data missing
    assert decodes_frame(cut)[0]
    assert not decodes_frame(cut, seek_s=2.0)[0]
