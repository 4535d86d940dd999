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


# ---------------------------------------------------------------------- common surface, precision, params
CPUINFO_AMX = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
CPUINFO_AVX2 = "processor\t: 0\nflags\t\t: fpu sse avx2 fma\n"


def test_precision_auto_follows_cpu_flags():
    from curation.caption.captioner import cpu_bf16_flags, resolve_precision

    assert cpu_bf16_flags(CPUINFO_AMX) == {"avx512_bf16", "amx_bf16"} and cpu_bf16_flags(CPUINFO_AVX2) == set()
    assert resolve_precision("auto", "cpu", CPUINFO_AMX) == "bf16"
    assert resolve_precision("auto", "cpu", CPUINFO_AVX2) == "fp32"
    assert resolve_precision("fp32", "cpu", CPUINFO_AMX) == "fp32" and resolve_precision("bf16", "cpu", CPUINFO_AVX2) == "bf16"
    with pytest.raises(ValueError, match="auto \\| fp32 \\| bf16"):
        resolve_precision("fp16", "cpu", CPUINFO_AMX)


def test_cuda_device_without_cuda_is_unavailable(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(CaptionerUnavailable, match="torch sees no CUDA device"):
        load_captioner(CaptionerParams(tiny_config=True, allow_random_init=True, device="cuda"))


def test_captioner_params_kind_defaults_and_validation():
    from curation.config import ParamsError, parse_params

    img, vlm = CaptionerParams(), CaptionerParams(kind="vlm")
    assert (img.model_id, img.frames, img.max_new_tokens) == ("Salesforce/blip-image-captioning-base", 3, 30)
    assert (vlm.model_id, vlm.frames, vlm.max_new_tokens, vlm.batch_size) == ("HuggingFaceTB/SmolVLM2-256M-Video-Instruct", 8, 96, 4)
    assert CaptionerParams(kind="vlm", frames=5).frames == 5  # an explicit value wins over the kind's default
    assert CaptionerParams(kind="vlm", tiny_config=True, allow_random_init=True).tiny_architecture == "smolvlm"
    assert CaptionerParams(tiny_config=True, allow_random_init=True).tiny_architecture == "blip"
    with pytest.raises(ValueError, match="not a tiny vlm architecture"):
        CaptionerParams(kind="vlm", tiny_config="blip", allow_random_init=True)
    with pytest.raises(ParamsError) as e:
        parse_params({"caption": {"captioner": {"kind": "video", "device": "gpu", "precision": "fp16", "max_sentences": 0}}})
    msg = str(e.value)
    for field in ("caption.captioner.kind", "caption.captioner.device", "caption.captioner.precision", "caption.captioner.max_sentences"):
        assert field in msg


def test_read_clip_frames_timing(media_factory):
    from curation.caption.frames import read_clip_frames

    clip = read_clip_frames(media_factory("cap_frames.mp4", seconds=2.0, size="160x120", fps=16), 4)
    t = clip.timing
    assert clip.frames.shape == (4, 120, 160, 3) and t.total_frames == 32 and t.fps == pytest.approx(16.0)
    assert list(t.indices) == [4, 12, 20, 28] and t.timestamps == pytest.approx([0.25, 0.75, 1.25, 1.75]) and t.duration_s == pytest.approx(2.0)


@pytest.mark.slow
def test_image_captioner_batch_api(tiny, media_factory):
    """caption_clips over several clips == one clip at a time; raw is the majority caption, text its cleanup."""
    from curation.caption.cleanup import clean_caption

    clips = [read_frames(media_factory(f"cap_b{i}.mp4", source=src, seconds=2.0, size="160x120", fps=16), 3)[1] for i, src in enumerate(("testsrc2", "smptebars", "mandelbrot"))]
    batched = tiny.caption_clips([list(c) for c in clips])
    one_by_one = [tiny.caption_clips([list(c)])[0] for c in clips]
    assert batched == one_by_one and len(batched) == 3
    for res, frames in zip(batched, clips, strict=True):
        assert res.raw == tiny.caption_frames(frames) and res.raw
        assert res.text == clean_caption(res.raw, tiny.max_sentences, res.truncated)
        assert 1 <= res.new_tokens <= tiny.max_new_tokens and (not res.truncated or res.new_tokens == tiny.max_new_tokens)
    with pytest.raises(ValueError, match="at least one frame"):
        tiny.caption_clips([[]])


def test_count_generated_stops_at_the_first_end_token():
    from transformers import GenerationConfig

    from curation.caption.captioner import count_generated

    cfg = GenerationConfig(eos_token_id=[2, 3])
    assert count_generated([5, 7, 2, 0, 0], cfg, 0) == (3, False)  # end token counted, padding after it not
    assert count_generated([5, 3, 9], cfg, 0) == (2, False)
    assert count_generated([5, 7, 9], cfg, 0) == (3, True)  # no end token: the budget stopped it
    assert count_generated([5, 102, 0], GenerationConfig(eos_token_id=2), 0, (102,)) == (2, False)
