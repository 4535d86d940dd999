import numpy as np
import pytest

from curation.caption.captioner import RANDOM_INIT, CaptionerUnavailable, choose_caption, load_captioner
from curation.caption.frames import FrameError, read_frames
from curation.config import CaptionerParams


@pytest.fixture(scope="module")
def tiny():
    return load_captioner(CaptionerParams(tiny_config=True, allow_random_init=True, max_new_tokens=8))


def test_read_frames_from_real_clip(media_factory):
    clip = media_factory("cap_frames.mp4", seconds=2.0, size="160x120", fps=16)
    idx, frames = read_frames(clip, 3)
    assert idx == [5, 16, 26] and frames.shape == (3, 120, 160, 3) and frames.dtype == np.uint8
    assert frames.std() > 0


def test_read_frames_bad_files_raise_frame_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 2048)
    with pytest.raises(FrameError, match="decord could not read bad.mp4"):
        read_frames(bad, 3)
    with pytest.raises(FrameError):
        read_frames(tmp_path / "missing.mp4", 3)


def test_choose_caption_majority_then_middle():
    assert choose_caption(["a dog", "a cat", "a cat"]) == "a cat"
    assert choose_caption(["a dog", "a cat", "a bird"]) == "a cat"  # all tie: middle frame
    assert choose_caption(["a dog", "a cat", "", "a bird"]) == "a cat"
    assert choose_caption(["", ""]) == ""


@pytest.mark.slow
def test_tiny_captioner_captions_a_real_clip(tiny, media_factory):
    clip = media_factory("cap_tiny.mp4", seconds=2.0, size="160x120", fps=16)
    _, frames = read_frames(clip, 3)
    texts = tiny.caption_images(frames)
    assert len(texts) == 3 and all(isinstance(t, str) and t for t in texts)
    text = tiny.caption_frames(frames)
    assert text in texts
    assert tiny.weights == RANDOM_INIT and tiny.source == "captioner:tiny-blip"
    again = load_captioner(CaptionerParams(tiny_config=True, allow_random_init=True, max_new_tokens=8))
    assert again.caption_frames(frames) == text  # seeded init: deterministic


def test_missing_weights_without_random_init_raise(tmp_path):
    with pytest.raises(CaptionerUnavailable, match="captioner weights not available: no-such-org/no-such-captioner"):
        load_captioner(CaptionerParams(model_id="no-such-org/no-such-captioner"))
    empty = tmp_path / "empty_model_dir"
    empty.mkdir()
    with pytest.raises(CaptionerUnavailable, match="captioner weights not available"):
        load_captioner(CaptionerParams(model_id=str(empty)))


def test_tiny_config_requires_allow_random_init():
    with pytest.raises(ValueError, match="allow_random_init"):
        CaptionerParams(tiny_config=True)


@pytest.mark.slow
def test_local_checkpoint_dir_loads_as_pretrained(tiny, tmp_path, media_factory):
    d = tmp_path / "blip_dir"
    tiny.model.save_pretrained(d)
    tiny.processor.save_pretrained(d)
    loaded = load_captioner(CaptionerParams(model_id=str(d), max_new_tokens=8))
    assert loaded.weights == "pretrained" and loaded.source == f"captioner:{d}"
    _, frames = read_frames(media_factory("cap_tiny.mp4", seconds=2.0, size="160x120", fps=16), 1)
    assert loaded.caption_frames(frames) == tiny.caption_frames(frames)


@pytest.mark.slow
def test_random_init_from_local_config_when_weights_missing(tiny, tmp_path):
    d = tmp_path / "config_only"
    tiny.model.config.save_pretrained(d)
    tiny.processor.save_pretrained(d)
    with pytest.raises(CaptionerUnavailable):
        load_captioner(CaptionerParams(model_id=str(d)))
    c = load_captioner(CaptionerParams(model_id=str(d), allow_random_init=True, max_new_tokens=4))
    assert c.weights == "random-init" and c.name == str(d)
