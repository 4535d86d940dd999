"""open_clip model loading (offline-honest) and frame / caption embedding.

`score.clip.pretrained` is either
* a path to a local checkpoint file: loaded with open_clip (`weights_only` torch load),
  rows record `clip_weights="checkpoint:<path>"`;
* an open_clip pretrained tag (`open_clip.list_pretrained_tags_by_model(model)`):
  loaded through open_clip's normal loading from the local Hugging Face / open_clip
  cache.  The Hub is forced offline for that call unless `allow_download: true`,
  so an offline machine fails in milliseconds instead of retrying for a minute.
  Rows record `clip_weights="pretrained:<tag>"`.

When no real weights load, `load_clip` raises `ClipWeightsUnavailable` with what
was tried and how to fix it, unless `allow_random_init: true`: then the model is
built with `pretrained=None` after `torch.manual_seed(seed)` (reproducible), and
every row records `clip_weights="random-init"`.  Random CLIP features carry no
semantics: the score stage then leaves semantic_change out of difficulty, dedup
falls back to thumbnails and tier 5 to sharpness x exposure.

The tokenizer is `open_clip.get_tokenizer(model)`; for the CLIP models the BPE
vocabulary ships inside the open_clip package (offline).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curation.config import ClipModelParams

RANDOM_INIT = "random-init"
log = logging.getLogger(__name__)


class ClipWeightsUnavailable(RuntimeError):
    """Real CLIP weights could not be loaded and random init is not allowed."""


@contextlib.contextmanager
def hub_offline(enabled: bool) -> Iterator[None]:
    """Force huggingface_hub offline (cache only) for the duration of the block."""
    if not enabled:
        yield
        return
    import huggingface_hub.constants as hc

    old = hc.HF_HUB_OFFLINE
    hc.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hc.HF_HUB_OFFLINE = old


@dataclass
class LoadedClip:
    model: Any
    preprocess: Any
    tokenizer: Any
    model_name: str
    weights: str  # "pretrained:<tag>" | "checkpoint:<path>" | "random-init"
    device: str

    @property
    def is_real(self) -> bool:
        return self.weights != RANDOM_INIT

    def encode_frames(self, frames: Sequence[np.ndarray], batch_size: int) -> np.ndarray:
        """(n, d) float32 unit rows for RGB uint8 frames."""
        import torch
        from PIL import Image

        out = []
        with torch.inference_mode():
            for s in range(0, len(frames), batch_size):
                batch = torch.stack([self.preprocess(Image.fromarray(f)) for f in frames[s : s + batch_size]]).to(self.device)
                emb = self.model.encode_image(batch).float()
                out.append(torch.nn.functional.normalize(emb, dim=-1).cpu().numpy())
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)

    def encode_text(self, text: str) -> np.ndarray:
        """(d,) float32 unit vector."""
        import torch

        with torch.inference_mode():
            tokens = self.tokenizer([text]).to(self.device)
            emb = self.model.encode_text(tokens).float()
            return torch.nn.functional.normalize(emb, dim=-1)[0].cpu().numpy().astype(np.float32)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def describe_weights(p: ClipModelParams) -> str:
    """What `load_clip` will try, in words (for messages and --help)."""
    if not p.pretrained:
        return f"open_clip model {p.model!r} with no pretrained weights configured"
    return f"open_clip model {p.model!r} with pretrained={p.pretrained!r}"


def _load_real(p: ClipModelParams) -> tuple[Any, Any, str]:
    """(model, preprocess, weights label); raises with a one-line reason when it cannot."""
    import open_clip

    assert p.pretrained
    path = Path(p.pretrained).expanduser()
    if path.is_file():
        model, _, preprocess = open_clip.create_model_and_transforms(p.model, pretrained=str(path), device=p.device)
        return model, preprocess, f"checkpoint:{p.pretrained}"
    if path.exists():
        raise FileNotFoundError(f"{p.pretrained} exists but is not a checkpoint file")
    tags = open_clip.list_pretrained_tags_by_model(p.model)
    if p.pretrained not in tags:
        shown = ", ".join(tags[:12]) + (" ..." if len(tags) > 12 else "") if tags else "none"
        raise FileNotFoundError(f"{p.pretrained!r} is neither an existing checkpoint file nor an open_clip tag of {p.model} (tags: {shown})")
    cfg = open_clip.get_pretrained_cfg(p.model, p.pretrained) or {}
    # every open_clip 3.x tag has an `hf_hub` source, which open_clip prefers: forcing the Hub
    # offline makes the load cache-only (no url fallback is attempted when hf_hub is set)
    with hub_offline(not p.allow_download):
        model, _, preprocess = open_clip.create_model_and_transforms(
            p.model, pretrained=p.pretrained, device=p.device, force_quick_gelu=bool(cfg.get("quick_gelu", False))
        )
    return model, preprocess, f"pretrained:{p.pretrained}"


def _resolve(p: ClipModelParams) -> tuple[Any, Any, str]:
    """(model, preprocess, weights label) with real weights, or (None, None, RANDOM_INIT) when
    random init is allowed and none load; raises `ClipWeightsUnavailable` otherwise."""
    import open_clip

    if p.model not in open_clip.list_models():
        raise ClipWeightsUnavailable(f"score.clip.model {p.model!r} is not an open_clip model (see open_clip.list_models())")
    reason = "score.clip.pretrained is null"
    if p.pretrained:
        try:
            return _load_real(p)
        except Exception as exc:  # open_clip raises RuntimeError / OSError / HF errors offline
            reason = _first_line(exc)
    if not p.allow_random_init:
        where = "" if p.allow_download else " (weights are never downloaded at run time: score.clip.allow_download is false)"
        raise ClipWeightsUnavailable(
            f"CLIP weights not available for {describe_weights(p)}{where}: {reason}.\n"
            "Fix one of:\n"
            "  - put the weights in the local cache (`curation models fetch clip`, once, online) or set score.clip.pretrained to a local checkpoint file;\n"
            "  - set score.clip.allow_random_init: true to run with seeded random weights "
            "(every row then records clip_weights='random-init'; semantic scores are meaningless)."
        )
    log.warning("CLIP: %s; using seeded random init (clip_weights=random-init); real weights: `curation models fetch clip`", reason)
    return None, None, RANDOM_INIT


def check_clip_weights(p: ClipModelParams) -> str:
    """The `clip_weights` label `load_clip(p)` gives, with the same `ClipWeightsUnavailable`
    when none load; a random-init model is not built (real weights are loaded, then dropped)."""
    return _resolve(p)[2]


def load_clip(p: ClipModelParams) -> LoadedClip:
    """Load the CLIP model once (per worker). See the module docstring for the rules."""
    import open_clip
    import torch

    model, preprocess, weights = _resolve(p)
    if model is None:
        torch.manual_seed(p.seed)
        model, _, preprocess = open_clip.create_model_and_transforms(p.model, pretrained=None, device=p.device)
    model.eval()
    tokenizer = open_clip.get_tokenizer(p.model)
    return LoadedClip(model, preprocess, tokenizer, p.model, weights, p.device)
