"""open_clip model loading (offline-honest), precision, and frame / caption embedding.

`score.clip.pretrained` is either
* a path to a local checkpoint file: loaded with open_clip (`weights_only` torch load),
  rows record `clip_weights="checkpoint:<path>"`;
* an open_clip pretrained tag (`open_clip.list_pretrained_tags_by_model(model)`):
  loaded through open_clip's normal loading from the local Hugging Face / open_clip
  cache.  The Hub is forced offline for that call unless `allow_download: true`,
  so an offline machine fails in milliseconds instead of retrying for a minute.
  Rows record `clip_weights="pretrained:<tag>"`.

When no real weights load, `load_clip` raises `ClipWeightsUnavailable` with what
was tried and how to fix it (`curation models fetch clip` puts them in the cache),
unless `allow_random_init: true`: then the model is built with `pretrained=None`
after `torch.manual_seed(seed)` (reproducible), and every row records
`clip_weights="random-init"`.  Random CLIP features carry no semantics: the score
stage then leaves semantic_change out of difficulty, dedup falls back to thumbnails
and tier 5 to the sharpness x exposure fallback.

Towers: workers that embed frames load the vision tower only (`tower="vision"`), the
caption step the text tower only (`tower="text"`): nothing is held twice, and a frame
worker holds ~250 MB less for ViT-B-32.  The other tower is dropped right after the
(seeded) full model is built, so a random-init vision tower is the same in both cases.

Precision (`score.clip.precision`): "auto" is bf16 on CUDA and on CPUs with bf16
matrix units (AMX / avx512_bf16 in /proc/cpuinfo), fp32 elsewhere.  bf16 converts the
loaded tower's weights to bfloat16 (not `torch.autocast`: on this AMX CPU autocast was
slower than fp32 - it re-casts the weights at every call and leaves LayerNorm in fp32 -
while bf16 weights ran ViT-B-32 2.5x faster than fp32, minimum cosine to fp32 0.9999).
Every row records the precision used.

Batches are padded to a FIXED size (`score.clip.batch_size`): with bf16 the same
frame gives different last bits in a batch of 8 and one of 16 on this CPU, so a fixed
shape is what makes an embedding independent of the other frames in its batch (and
a resumed run byte-identical to an uninterrupted one).

`weights_label(p)` says which label a load WOULD give without building a model when
it can (a checkpoint file, a tag whose weights are in the HF cache), so the score
driver can put it into its reuse keys before any work.
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
from curation.devices import resolve_precision  # noqa: F401  (re-exported: score.run resolves once)
from curation.labels import RANDOM_INIT

log = logging.getLogger(__name__)

FETCH_HINT = "curation models fetch clip"
PRECISIONS = ("fp32", "bf16")


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
    model: Any  # the open_clip model (one tower may be dropped)
    preprocess: Any
    tokenizer: Any
    model_name: str
    weights: str  # "pretrained:<tag>" | "checkpoint:<path>" | "random-init"
    device: str
    precision: str = "fp32"

    @property
    def is_real(self) -> bool:
        return self.weights != RANDOM_INIT

    def _padded(self, batch: Any, size: int) -> Any:
        import torch

        if batch.shape[0] == size:
            return batch
        pad = torch.zeros((size - batch.shape[0], *batch.shape[1:]), dtype=batch.dtype)
        return torch.cat([batch, pad])

    def encode_frames(self, frames: Sequence[np.ndarray], batch_size: int) -> np.ndarray:
        """(n, d) float32 unit rows for RGB uint8 frames, in fixed-size padded batches."""
        import torch
        from PIL import Image

        out = []
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float32
        with torch.inference_mode():
            for s in range(0, len(frames), batch_size):
                chunk = frames[s : s + batch_size]
                batch = self._padded(torch.stack([self.preprocess(Image.fromarray(f)) for f in chunk]), batch_size).to(self.device, dtype)
                emb = self.model.encode_image(batch).float()[: len(chunk)]
                out.append(torch.nn.functional.normalize(emb, dim=-1).cpu().numpy())
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)

    def encode_texts(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """(n, d) float32 unit rows, in fixed-size padded batches."""
        import torch

        out = []
        with torch.inference_mode():
            for s in range(0, len(texts), batch_size):
                chunk = [str(t) for t in texts[s : s + batch_size]]
                tokens = self._padded(self.tokenizer(chunk), batch_size).to(self.device)
                emb = self.model.encode_text(tokens).float()[: len(chunk)]
                out.append(torch.nn.functional.normalize(emb, dim=-1).cpu().numpy())
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)

    def encode_text(self, text: str) -> np.ndarray:
        """(d,) float32 unit vector."""
        return self.encode_texts([text], 1)[0]


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
        model, _, preprocess = open_clip.create_model_and_transforms(p.model, pretrained=str(path), device="cpu")
        return model, preprocess, f"checkpoint:{p.pretrained}"
    if path.exists():
        raise FileNotFoundError(f"{p.pretrained} exists but is not a checkpoint file")
    tags = open_clip.list_pretrained_tags_by_model(p.model)
    if p.pretrained not in tags:
        shown = ", ".join(tags[:12]) + (" ..." if len(tags) > 12 else "") if tags else "none"
        raise FileNotFoundError(f"{p.pretrained!r} is neither an existing checkpoint file nor an open_clip tag of {p.model} (tags: {shown})")
    if not p.allow_download and _cached_tag_weights(p) is None:  # fail before building a model (seconds, ~0.6 GB)
        raise FileNotFoundError(f"the weights of {p.model}/{p.pretrained} are not in the local Hugging Face cache")
    cfg = open_clip.get_pretrained_cfg(p.model, p.pretrained) or {}
    # every open_clip 3.x tag has an `hf_hub` source, which open_clip prefers: forcing the Hub
    # offline makes the load cache-only (no url fallback is attempted when hf_hub is set)
    with hub_offline(not p.allow_download):
        model, _, preprocess = open_clip.create_model_and_transforms(p.model, pretrained=p.pretrained, device="cpu", force_quick_gelu=bool(cfg.get("quick_gelu", False)))
    return model, preprocess, f"pretrained:{p.pretrained}"


def _unavailable(p: ClipModelParams, reason: str) -> ClipWeightsUnavailable:
    where = "" if p.allow_download else " (weights are never downloaded at run time: score.clip.allow_download is false)"
    return ClipWeightsUnavailable(
        f"CLIP weights not available for {describe_weights(p)}{where}: {reason}.\n"
        "Fix one of:\n"
        f"  - put the weights in the local cache: `{FETCH_HINT}` on a machine with internet (or set score.clip.pretrained to a local checkpoint file);\n"
        "  - set score.clip.allow_random_init: true to run with seeded random weights "
        "(every row then records clip_weights='random-init'; semantic scores are meaningless)."
    )


def _check_model_name(p: ClipModelParams) -> None:
    import open_clip

    if p.model not in open_clip.list_models():
        raise ClipWeightsUnavailable(f"score.clip.model {p.model!r} is not an open_clip model (see open_clip.list_models())")


def _resolve(p: ClipModelParams) -> tuple[Any, Any, str]:
    """(model, preprocess, weights label) with real weights, or (None, None, RANDOM_INIT) when
    random init is allowed and none load; raises `ClipWeightsUnavailable` otherwise."""
    _check_model_name(p)
    reason = "score.clip.pretrained is null"
    if p.pretrained:
        try:
            return _load_real(p)
        except Exception as exc:  # open_clip raises RuntimeError / OSError / HF errors offline
            reason = _first_line(exc)
    if not p.allow_random_init:
        raise _unavailable(p, reason)
    log.warning("CLIP: %s; using seeded random init (clip_weights=random-init; run `%s` for real weights)", reason, FETCH_HINT)
    return None, None, RANDOM_INIT


def _cached_tag_weights(p: ClipModelParams) -> str | None:
    """Path of a tag's weights file in the local HF cache (no network), or None."""
    import os

    import open_clip

    cfg = open_clip.get_pretrained_cfg(p.model, p.pretrained) or {}
    hub = cfg.get("hf_hub") or ""
    if not hub:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    repo, filename = os.path.split(hub)
    names = [filename] if filename else []
    names += ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
    for name in names:
        hit = try_to_load_from_cache(repo.rstrip("/"), name)
        if isinstance(hit, str):
            return hit
    return None


def weights_label(p: ClipModelParams) -> tuple[str, str]:
    """(the `clip_weights` label `load_clip(p)` gives, a fingerprint of those weights for reuse keys).

    Cheap when it can be: a checkpoint file is identified by its size and mtime, a tag by
    the cached snapshot holding its weights.  Otherwise the real load is tried (it fails
    in milliseconds offline).  Raises `ClipWeightsUnavailable` like `load_clip`."""
    _check_model_name(p)
    if p.pretrained:
        path = Path(p.pretrained).expanduser()
        if path.is_file():
            st = path.stat()
            return f"checkpoint:{p.pretrained}", f"checkpoint:{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
        import open_clip

        if p.pretrained in open_clip.list_pretrained_tags_by_model(p.model):
            hit = _cached_tag_weights(p)
            if hit:
                return f"pretrained:{p.pretrained}", f"pretrained:{p.pretrained}:{Path(hit).parent.name}"
    label = _resolve(p)[2]
    return label, label


def check_clip_weights(p: ClipModelParams) -> str:
    """The `clip_weights` label `load_clip(p)` gives, with the same `ClipWeightsUnavailable`."""
    return weights_label(p)[0]


def _drop_tower(model: Any, keep: str) -> None:
    import torch

    if keep == "vision":
        for name in ("transformer", "token_embedding", "ln_final"):
            if hasattr(model, name):
                setattr(model, name, torch.nn.Identity())
        for name in ("text_projection", "positional_embedding"):
            if getattr(model, name, None) is not None:
                setattr(model, name, None)
        if hasattr(model, "text"):  # CustomTextCLIP
            model.text = torch.nn.Identity()
    elif keep == "text":
        model.visual = torch.nn.Identity()


class _VisionOnly:
    """A CLIP with its vision tower only (what `encode_frames` calls)."""

    def __new__(cls, visual: Any) -> Any:
        import torch

        class VisionOnly(torch.nn.Module):
            def __init__(self, v: Any) -> None:
                super().__init__()
                self.visual = v

            def encode_image(self, x: Any, normalize: bool = False) -> Any:
                out = self.visual(x)
                return torch.nn.functional.normalize(out, dim=-1) if normalize else out

        return VisionOnly(visual)


def _random_vision_tower(p: ClipModelParams) -> tuple[Any, Any]:
    """(model, preprocess) of a seeded random-init vision tower, built alone: open_clip builds the vision
    tower first, so its weights equal the full random-init model's (tested), without the text tower's
    fp32 copy at load (a ViT-B-32 worker peaked ~0.3 GB lower).  (None, None) when open_clip's layout
    is not the expected one: the caller then builds the full model."""
    import open_clip
    import torch

    try:
        from open_clip.model import _build_vision_tower

        cfg = open_clip.get_model_config(p.model)
        if not cfg or "vision_cfg" not in cfg:
            return None, None
        torch.manual_seed(p.seed)
        visual = _build_vision_tower(cfg["embed_dim"], cfg["vision_cfg"], bool(cfg.get("quick_gelu", False)), None)
        from open_clip.transform import PreprocessCfg, image_transform_v2

        size = cfg["vision_cfg"].get("image_size", 224)
        preprocess = image_transform_v2(PreprocessCfg(size=(size, size) if isinstance(size, int) else tuple(size)), is_train=False)  # open_clip's defaults for random init
        return _VisionOnly(visual), preprocess
    except Exception as exc:  # a private open_clip API: fall back to the full model
        log.debug("vision-only build unavailable (%s); building the full model", exc)
        return None, None


@contextlib.contextmanager
def _default_dtype(dtype: Any) -> Iterator[None]:
    import torch

    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def load_clip(p: ClipModelParams, tower: str = "both", precision: str | None = None, device: str | None = None) -> LoadedClip:
    """Load the CLIP model once (per worker). See the module docstring for the rules.

    In bf16, a model with real weights is BUILT in bf16 (default dtype) and the checkpoint is
    copied into it, instead of built in fp32 and converted: a ViT-B-32 vision worker built that
    way peaked at 1.05 GB instead of 1.33 GB (torch CUDA build).  A random-init model is built
    in fp32 and converted, so that fp32 and bf16 runs hold the same (seeded) weights."""
    import open_clip
    import torch

    dev = device or p.device
    prec = precision or resolve_precision(p.precision, dev)
    dtype = torch.bfloat16 if prec == "bf16" else torch.float32
    with _default_dtype(dtype):  # real weights: the checkpoint's values, whatever the dtype built
        model, preprocess, weights = _resolve(p)
    if model is None and tower == "vision":  # seeded random init of the vision tower alone
        model, preprocess = _random_vision_tower(p)
    if model is None:  # seeded random init in fp32 first, so both precisions hold the same weights
        torch.manual_seed(p.seed)
        model, _, preprocess = open_clip.create_model_and_transforms(p.model, pretrained=None, device="cpu")
    if tower != "both":
        _drop_tower(model, tower)
    model.eval().to(dev, dtype)
    tokenizer = open_clip.get_tokenizer(p.model)
    import gc

    gc.collect()  # the dropped tower
    return LoadedClip(model, preprocess, tokenizer, p.model, weights, dev, prec)
