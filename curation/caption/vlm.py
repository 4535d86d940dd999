"""Video-native captioner (`caption.captioner.kind: vlm`): a VLM sees all sampled frames of a clip at once.

transformers `AutoModelForImageTextToText` + `AutoProcessor`; the processor's chat template
turns one user turn (the frames, then `prompt`) into the model's prompt; decoding is greedy
(`do_sample=False, num_beams=1`) within `max_new_tokens`; `batch_size` clips share one
`generate` (prompts left-padded).  What came out is decoded without special tokens (`raw`)
and cleaned (`text`, `curation.caption.cleanup`).

How the frames reach the model (`frames_as`):
* `video` (auto when the processor has a video processor: Qwen2-VL, Qwen2.5-VL, SmolVLM2):
  the frames are ONE video input (`videos=[array [k, H, W, 3]]`) with their timing
  (`video_metadata`: clip fps, frame numbers, length; `do_sample_frames=False`, the frames are
  already sampled).  Qwen merges pairs of frames (temporal patch 2) and, for Qwen2.5-VL, places
  them in time from the fps; SmolVLM2 writes "Frame from 00:03:" before each frame.
* `images` (auto for Idefics3 / SmolVLM v1, which has no video input): k images in the user
  turn, in time order.

Supported and tested by architecture (tiny random-init configs, `curation.caption.tiny`):
qwen2_vl, qwen2_5_vl, smolvlm, idefics3.  Another image-text-to-text architecture whose
processor has a chat template is tried the same way and logged as untested.

Weights: `model_id` (HF id in the local cache, or a local directory) loads as "pretrained";
an incomplete checkpoint does not load.  Without weights: `CaptionerUnavailable` (the stage
writes "uncaptioned" with the reason and the `curation models fetch captioner` hint), or with
`allow_random_init` the architecture from the locally available config, seeded, "random-init".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from curation.caption.captioner import (
    FETCH_HINT,
    PRETRAINED,
    RANDOM_INIT,
    CaptionerUnavailable,
    CaptionResult,
    _seeded,
    _short,
    count_generated,
    torch_dtype,
)
from curation.caption.cleanup import clean_caption
from curation.caption.frames import FrameTiming
from curation.config import TINY_VLM_ARCHITECTURES, CaptionerParams

log = logging.getLogger(__name__)

TESTED_ARCHITECTURES = TINY_VLM_ARCHITECTURES


def _has_video_input(processor: Any) -> bool:
    return getattr(processor, "video_processor", None) is not None


def _quiet_generation_config(model: Any) -> None:
    """Greedy decoding is asked for explicitly; drop sampling knobs a checkpoint's generation
    config sets (temperature, top_p, top_k), so generate() neither warns nor mixes them in."""
    gc = model.generation_config
    for key in ("temperature", "top_p", "top_k", "min_p", "typical_p"):
        if getattr(gc, key, None) is not None:
            setattr(gc, key, None)
    gc.do_sample = False


@dataclass
class VLMCaptioner:
    model: Any
    processor: Any
    name: str  # caption_source is "captioner:<name>"
    weights: str  # "pretrained" | "random-init"
    architecture: str  # model.config.model_type
    frames_as: str  # "video" | "images"
    prompt: str
    max_new_tokens: int = 96
    max_sentences: int = 3
    batch_size: int = 4
    device: str = "cpu"
    precision: str = "fp32"
    kind: str = "vlm"

    @property
    def source(self) -> str:
        return f"captioner:{self.name}"

    # ------------------------------------------------------------------ inputs
    def conversation(self, frame_count: int) -> list[dict[str, Any]]:
        """The chat (one user turn) for a clip of `frame_count` frames."""
        if self.frames_as == "video":
            visual: list[dict[str, Any]] = [{"type": "video"}]
        else:
            visual = [{"type": "image"} for _ in range(frame_count)]
        return [{"role": "user", "content": [*visual, {"type": "text", "text": self.prompt}]}]

    def prompt_text(self, frame_count: int) -> str:
        """The chat-templated prompt (before the processor expands the frame placeholders)."""
        return self.processor.apply_chat_template(self.conversation(frame_count), add_generation_prompt=True, tokenize=False)

    def prepare(self, frames_per_clip: Sequence[Sequence[np.ndarray]], timings: Sequence[FrameTiming | None] | None = None):
        """The processor's batch (a BatchFeature on the model's device, floats in its dtype) for these clips."""
        clips = [np.stack([np.ascontiguousarray(f, dtype=np.uint8) for f in c]) for c in frames_per_clip]
        if any(c.ndim != 4 or c.shape[-1] != 3 for c in clips):
            raise ValueError("caption_clips: frames must be RGB uint8 arrays [H, W, 3]")
        texts = [self.prompt_text(len(c)) for c in clips]
        kwargs: dict[str, Any] = {"text": texts, "padding": True, "return_tensors": "pt"}
        if self.frames_as == "video":
            times = [t if t is not None else FrameTiming.assumed(len(c)) for c, t in zip(clips, timings or [None] * len(clips), strict=True)]
            for c, t in zip(clips, times, strict=True):
                if len(t.indices) != len(c):
                    raise ValueError(f"caption_clips: a clip has {len(c)} frames but its timing lists {len(t.indices)}")
            kwargs["videos"] = clips
            kwargs["video_metadata"] = [
                {"total_num_frames": t.total_frames, "fps": t.fps, "frames_indices": list(t.indices), "duration": t.duration_s,
                 "height": int(c.shape[1]), "width": int(c.shape[2])}
                for c, t in zip(clips, times, strict=True)
            ]  # fmt: skip
            kwargs["do_sample_frames"] = False
        else:
            kwargs["images"] = [list(c) for c in clips]
        inputs = self.processor(**kwargs)
        return inputs.to(self.device, dtype=torch_dtype(self.precision))

    # ------------------------------------------------------------------ captions
    def _generate(self, inputs) -> list[CaptionResult]:
        import torch

        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False, num_beams=1)
        new = out[:, inputs["input_ids"].shape[1] :]
        raws = self.processor.batch_decode(new, skip_special_tokens=True)
        pad = self.processor.tokenizer.pad_token_id
        results = []
        for raw, row in zip(raws, new, strict=True):
            n, cut = count_generated(row, self.model.generation_config, pad)
            raw = raw.strip()
            results.append(CaptionResult(clean_caption(raw, self.max_sentences, cut) if raw else "", raw, n, cut))
        return results

    def caption_clips(
        self, frames_per_clip: Sequence[Sequence[np.ndarray]], timings: Sequence[FrameTiming | None] | None = None, progress: bool = False
    ) -> list[CaptionResult]:
        """One CaptionResult per clip (frames: RGB uint8 [H, W, 3], in time order); `batch_size` clips per
        `generate`.  `timings[i]` (fps, frame numbers, clip length; `frames.read_clip_frames` gives it)
        tells a video model where the frames sit in time; None: frames taken one second apart."""
        from tqdm.auto import tqdm

        clips = [list(c) for c in frames_per_clip]
        if any(not c for c in clips):
            raise ValueError("caption_clips: every clip needs at least one frame")
        if timings is not None and len(timings) != len(clips):
            raise ValueError(f"caption_clips: {len(clips)} clips but {len(timings)} timings")
        results: list[CaptionResult] = []
        with tqdm(total=len(clips), desc=f"caption ({self.name})", unit="clip", disable=not progress, dynamic_ncols=True) as bar:
            for s in range(0, len(clips), self.batch_size):
                chunk = clips[s : s + self.batch_size]
                chunk_t = None if timings is None else list(timings[s : s + self.batch_size])
                results += self._generate(self.prepare(chunk, chunk_t))
                bar.update(len(chunk))
        return results


# ---------------------------------------------------------------------- loading
def _load_pretrained(p: CaptionerParams, precision: str) -> tuple[Any, Any]:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(p.model_id, local_files_only=p.local_files_only)
    model, info = AutoModelForImageTextToText.from_pretrained(
        p.model_id, local_files_only=p.local_files_only, dtype=torch_dtype(precision), output_loading_info=True
    )
    missing = list(info.get("missing_keys") or [])
    if missing:
        raise OSError(f"checkpoint incomplete: {len(missing)} missing weights (e.g. {missing[0]})")
    return model, processor


def _random_from_config(p: CaptionerParams) -> tuple[Any, Any]:
    from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor

    try:
        config = AutoConfig.from_pretrained(p.model_id, local_files_only=p.local_files_only)
        processor = AutoProcessor.from_pretrained(p.model_id, local_files_only=p.local_files_only)
    except Exception as exc:
        raise CaptionerUnavailable(
            f"captioner weights not available: {p.model_id}, and allow_random_init found no local config/processor "
            f"to build the architecture from either ({_short(exc)}); {FETCH_HINT}"
        ) from None
    return _seeded(lambda: AutoModelForImageTextToText.from_config(config)), processor


def _prepare_processor(processor: Any) -> None:
    tok = getattr(processor, "tokenizer", None)
    if tok is None:
        raise CaptionerUnavailable("the captioner's processor has no tokenizer")
    tok.padding_side = "left"  # decoder-only generation: prompts end where generation starts
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    vp = getattr(processor, "video_processor", None)
    # Qwen2-VL video processor: cap pixels per frame like the reference implementation (and say so, silencing its warning)
    if vp is not None and hasattr(vp, "cap_pixels_per_frame") and vp.cap_pixels_per_frame is None:
        vp.cap_pixels_per_frame = True
    if not getattr(processor, "chat_template", None):
        raise CaptionerUnavailable("the captioner's processor has no chat template; a VLM captioner needs one (kind: vlm)")


def load_vlm_captioner(p: CaptionerParams, precision: str) -> VLMCaptioner:
    """Load the VLM captioner of `p` (see module doc); `precision` is already resolved ("fp32" | "bf16")."""
    arch = p.tiny_architecture
    if arch is not None:
        from curation.caption.tiny import build_tiny_vlm

        model, processor = build_tiny_vlm(arch)
        name, weights = f"tiny-{arch}", RANDOM_INIT
    else:
        try:
            model, processor = _load_pretrained(p, precision)
            name, weights = p.model_id, PRETRAINED
        except Exception as exc:
            if not p.allow_random_init:
                raise CaptionerUnavailable(f"captioner weights not available: {p.model_id} ({_short(exc)}); {FETCH_HINT}") from None
            log.warning("captioner weights not available: %s (%s); allow_random_init: captions will be noise", p.model_id, _short(exc))
            model, processor = _random_from_config(p)
            name, weights = p.model_id, RANDOM_INIT
    _prepare_processor(processor)
    architecture = str(getattr(model.config, "model_type", "unknown"))
    if architecture not in TESTED_ARCHITECTURES:
        log.warning("captioner architecture %s is not one of the tested ones (%s); trying it the same way", architecture, ", ".join(TESTED_ARCHITECTURES))
    frames_as = p.frames_as
    if frames_as == "auto":
        frames_as = "video" if _has_video_input(processor) else "images"
    elif frames_as == "video" and not _has_video_input(processor):
        raise CaptionerUnavailable(f"frames_as: video, but the processor of {name} ({architecture}) has no video input; use frames_as: images or auto")
    _quiet_generation_config(model)
    model.eval().to(p.device, dtype=torch_dtype(precision))
    return VLMCaptioner(
        model, processor, name, weights, architecture, frames_as, p.prompt, p.max_new_tokens, p.max_sentences, p.batch_size, p.device, precision
    )
