"""The VLM captioner, per supported architecture, on tiny random-init configs (plumbing, not caption quality):
the frames reach the model as video (or an image sequence), batching gives the captions of one-at-a-time,
the prompt goes through the chat template, captions are cleaned, rows say random-init, and a saved
checkpoint directory loads back as "pretrained" through the same Auto* path real model ids take."""

from __future__ import annotations

import re

import numpy as np
import pytest

from curation.caption.captioner import PRETRAINED, RANDOM_INIT, CaptionerUnavailable, load_captioner
from curation.caption.cleanup import clean_caption
from curation.caption.frames import FrameTiming, read_clip_frames
from curation.config import TINY_VLM_ARCHITECTURES, CaptionerParams

pytestmark = pytest.mark.slow
PROMPT = "Say what moves."


def _params(arch: str, **kw) -> CaptionerParams:
    base = {"kind": "vlm", "tiny_config": arch, "allow_random_init": True, "precision": "fp32", "max_new_tokens": 6, "frames": 4, "batch_size": 3, "prompt": PROMPT}
    return CaptionerParams(**(base | kw))


@pytest.fixture(scope="module", params=TINY_VLM_ARCHITECTURES)
def cap(request):
    return load_captioner(_params(request.param))


def _clips(seed: int, counts=(4, 3, 4, 2)) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.integers(0, 256, (60, 80, 3), dtype=np.uint8) for _ in range(n)] for n in counts]


def _vision_inputs(cap) -> list[tuple[int, ...]]:
    """Shapes of what the model's vision tower receives during one forward (a forward hook records them)."""
    tower = getattr(cap.model.model, "visual", None) or cap.model.model.vision_model
    seen: list[tuple[int, ...]] = []

    def hook(_module, args, kwargs, _out):
        x = args[0] if args else next(v for k, v in kwargs.items() if k in ("pixel_values", "hidden_states"))
        seen.append(tuple(x.shape))

    handle = tower.register_forward_hook(hook, with_kwargs=True)
    return seen, handle


def test_identity_and_prompt(cap):
    arch = cap.architecture
    assert cap.weights == RANDOM_INIT and cap.source == f"captioner:tiny-{arch}" and cap.name == f"tiny-{arch}"
    assert cap.precision == "fp32" and cap.device == "cpu" and cap.kind == "vlm"
    assert cap.frames_as == ("images" if arch == "idefics3" else "video")
    text = cap.prompt_text(4)
    assert PROMPT in text
    if arch.startswith("qwen"):
        assert text.count("<|video_pad|>") == 1 and text.endswith("<|im_start|>assistant\n")
    elif arch == "smolvlm":
        assert text.count("<video>") == 1 and text.endswith("Assistant:")
    else:
        assert text.count("<image>") == 4 and text.endswith("Assistant:")


def test_frames_reach_the_model(cap):
    """The number of frames decides the vision tokens in the prompt and what the vision tower encodes."""
    rng = np.random.default_rng(1)
    counts = (2, 4, 6)
    clips = [[rng.integers(0, 256, (60, 80, 3), dtype=np.uint8) for _ in range(n)] for n in counts]
    tok = cap.processor.tokenizer
    for clip in clips:
        inputs = cap.prepare([clip])
        ids = inputs["input_ids"][0].tolist()
        if cap.architecture.startswith("qwen"):
            t, h, w = inputs["video_grid_thw"][0].tolist()
            assert t == len(clip) // 2  # temporal patches of 2 frames
            assert ids.count(cap.model.config.video_token_id) == t * h * w // 4  # 2x2 spatial merge
            assert inputs["pixel_values_videos"].shape[0] == t * h * w
        else:
            per_frame = cap.processor.image_seq_len
            assert inputs["pixel_values"].shape[:2] == (1, len(clip))
            assert ids.count(tok.convert_tokens_to_ids("<image>")) == len(clip) * per_frame
        seen, handle = _vision_inputs(cap)
        try:
            cap.model(**inputs)
        finally:
            handle.remove()
        assert len(seen) == 1
        if cap.architecture.startswith("qwen"):
            assert seen[0][0] == inputs["pixel_values_videos"].shape[0]  # every patch of every frame pair
        else:
            assert seen[0][0] == len(clip)  # one image per frame


def test_different_frames_change_the_output(cap):
    """Same frames -> identical next-token logits; other frames (same count) -> different logits."""
    import torch

    a, b = _clips(2, (4,))[0], _clips(3, (4,))[0]

    def logits(frames):
        with torch.inference_mode():
            return cap.model(**cap.prepare([frames])).logits[0, -1].float()

    la, la2, lb = logits(a), logits(a), logits(b)
    assert torch.equal(la, la2)
    assert (la - lb).abs().max().item() > 1e-3


def test_batching_gives_the_captions_of_one_at_a_time(cap):
    clips = _clips(4)  # 4 clips, batch_size 3: one full batch, one partial; frame counts differ
    timings = [FrameTiming(16.0, 32, tuple(range(2, 32, 32 // len(c)))[: len(c)]) for c in clips]
    batched = cap.caption_clips(clips, timings)
    single = [cap.caption_clips([c], [t])[0] for c, t in zip(clips, timings, strict=True)]
    assert batched == single and len(batched) == 4
    for r in batched:
        assert r.raw and r.text == clean_caption(r.raw, cap.max_sentences, r.truncated)
        assert 1 <= r.new_tokens <= cap.max_new_tokens and (not r.truncated or r.new_tokens == cap.max_new_tokens)


def test_caption_clips_rejects_bad_input(cap):
    with pytest.raises(ValueError, match="at least one frame"):
        cap.caption_clips([[]])
    with pytest.raises(ValueError, match="2 clips but 1 timings"):
        cap.caption_clips(_clips(5, (2, 2)), [None])
    with pytest.raises(ValueError, match="RGB uint8"):
        cap.caption_clips([[np.zeros((8, 8), np.uint8)]])


def test_smolvlm_prompt_carries_frame_times():
    cap = load_captioner(_params("smolvlm"))
    frames = _clips(6, (3,))[0]
    text = cap.processor.tokenizer.decode(cap.prepare([frames], [FrameTiming(10.0, 200, (10, 100, 190))])["input_ids"][0])
    assert "series of three frames from a 0:00:20" in text
    assert re.findall(r"Frame from (\d\d:\d\d):", text) == ["00:01", "00:10", "00:19"]


def test_real_clip_with_timing_bf16(media_factory):
    """A real ffmpeg clip, frames read with their timing, bf16 weights: one caption, random-init, in bf16."""
    import torch

    clip = read_clip_frames(media_factory("vlm_clip.mp4", seconds=2.0, size="160x120", fps=16), 4)
    cap = load_captioner(_params("qwen2_5_vl", precision="bf16"))
    assert cap.model.dtype == torch.bfloat16 and cap.precision == "bf16"
    inputs = cap.prepare([clip.frames], [clip.timing])
    assert inputs["pixel_values_videos"].dtype == torch.bfloat16
    # Qwen2.5-VL places the frame pairs in time: 2 frames per temporal patch / sampled fps (4 of 32 frames at 16 fps)
    assert inputs["second_per_grid_ts"][0].item() == pytest.approx(2 / (4 / 32 * 16))
    (res,) = cap.caption_clips([clip.frames], [clip.timing])
    assert res.raw and res.new_tokens >= 1


@pytest.mark.parametrize("arch", TINY_VLM_ARCHITECTURES)
def test_checkpoint_dir_loads_as_pretrained(arch, tmp_path):
    """save_pretrained -> load_captioner(model_id=dir): AutoProcessor + AutoModelForImageTextToText, same captions."""
    tiny = load_captioner(_params(arch))
    d = tmp_path / arch
    tiny.model.save_pretrained(d)
    tiny.processor.save_pretrained(d)
    loaded = load_captioner(CaptionerParams(kind="vlm", model_id=str(d), precision="fp32", max_new_tokens=6, frames=4, prompt=PROMPT))
    assert loaded.weights == PRETRAINED and loaded.source == f"captioner:{d}" and loaded.architecture == arch
    assert loaded.frames_as == tiny.frames_as and loaded.prompt_text(4) == tiny.prompt_text(4)
    clips = _clips(7, (4, 3))
    assert loaded.caption_clips(clips) == tiny.caption_clips(clips)

    # weights gone: unavailable (with the fetch hint), or random-init from the local config when allowed
    (d / "model.safetensors").unlink()
    with pytest.raises(CaptionerUnavailable, match="captioner weights not available.*curation models fetch captioner"):
        load_captioner(CaptionerParams(kind="vlm", model_id=str(d)))
    rnd = load_captioner(CaptionerParams(kind="vlm", model_id=str(d), allow_random_init=True, precision="fp32"))
    assert rnd.weights == RANDOM_INIT and rnd.name == str(d)


def test_missing_model_id_is_unavailable_offline():
    with pytest.raises(CaptionerUnavailable, match="captioner weights not available: no-such-org/no-such-vlm"):
        load_captioner(CaptionerParams(kind="vlm", model_id="no-such-org/no-such-vlm"))
    with pytest.raises(CaptionerUnavailable, match="no local config"):
        load_captioner(CaptionerParams(kind="vlm", model_id="no-such-org/no-such-vlm", allow_random_init=True))


def test_frames_as_video_needs_a_video_processor():
    with pytest.raises(CaptionerUnavailable, match="has no video input"):
        load_captioner(_params("idefics3", frames_as="video"))
    forced = load_captioner(_params("qwen2_vl", frames_as="images"))
    assert forced.frames_as == "images" and forced.prompt_text(3).count("<|image_pad|>") == 3
    assert forced.caption_clips(_clips(8, (3,)))[0].raw
