"""Turning loader batches into model inputs: shape fitting, held-out split, batch sources.

A *batch source* is any callable `make(phase_index, batch_size, state) -> iterable of batch dicts`
(the VAE uses phase_index None = all tiers).  When the iterable has `state_dict()`, the trainers
store it in every checkpoint and pass it back as `state` on resume.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import numpy as np
import torch

Batch = dict[str, Any]


class BatchSource(Protocol):
    def __call__(self, phase_index: int | None, batch_size: int, state: dict[str, Any] | None) -> Iterable[Batch]: ...


def fit_video(video: torch.Tensor, temporal_multiple: int, spatial_multiple: int) -> torch.Tensor:
    """Crop (B, T, C, H, W) so T is a multiple of temporal_multiple (keep the first frames) and
    H, W multiples of spatial_multiple (centre crop).  Raises ValueError when nothing is left."""
    if video.dim() != 5:
        raise ValueError(f"video must be (B,T,C,H,W), got {tuple(video.shape)}")
    b, t, c, h, w = video.shape
    t2 = t - t % temporal_multiple
    h2 = h - h % spatial_multiple
    w2 = w - w % spatial_multiple
    if min(t2, h2, w2) <= 0:
        raise ValueError(f"video {t}x{h}x{w} is smaller than one latent cell ({temporal_multiple} frames, {spatial_multiple} px)")
    top, left = (h - h2) // 2, (w - w2) // 2
    return video[:, :t2, :, top : top + h2, left : left + w2]


def _unit_hash(clip_id: str) -> float:
    return int.from_bytes(hashlib.sha256(clip_id.encode("utf-8")).digest()[:8], "big") / 2**64


def is_heldout(clip_id: str, fraction: float) -> bool:
    """Stable hash split: the same clip is always held out (or not), whatever the batch order.

    `fraction` is a threshold on the clip's hash in [0, 1): about that share of clips is held out."""
    if fraction <= 0:
        return False
    return _unit_hash(clip_id) < fraction


def holdout_threshold(clip_ids: Iterable[str], fraction: float) -> float:
    """The `is_heldout` threshold for a known set of clips: `fraction`, raised just enough that
    at least one clip is held out when fraction > 0 and there are two clips or more (a small
    corpus would otherwise often hold out none, and the VAE report would have no SSIM/PSNR)."""
    hashes = sorted({_unit_hash(str(c)) for c in clip_ids})
    if fraction <= 0 or len(hashes) < 2 or hashes[0] < fraction:
        return fraction
    return float(np.nextafter(hashes[0], 1.0))


def select(batch: Batch, keep: list[bool]) -> Batch | None:
    """Rows of a batch where keep is True (tensors and lists); None when no row is kept."""
    if all(keep):
        return batch
    idx = [i for i, k in enumerate(keep) if k]
    if not idx:
        return None
    out: Batch = {}
    index = torch.tensor(idx, dtype=torch.long)
    for key, val in batch.items():
        if isinstance(val, torch.Tensor) and val.dim() > 0 and val.shape[0] == len(keep):
            out[key] = val.index_select(0, index)
        elif isinstance(val, list) and len(val) == len(keep):
            out[key] = [val[i] for i in idx]
        else:
            out[key] = val
    return out


def flow_curve(batch: Batch) -> torch.Tensor | None:
    """The per-sample optical-flow curve (B, L) if the loader provides one."""
    for key in ("flow_curve", "flow"):
        val = batch.get(key)
        if isinstance(val, torch.Tensor) and val.dim() == 2:
            return val.float()
    return None


def source_state(it: Iterable[Batch]) -> dict[str, Any] | None:
    fn: Callable[[], dict[str, Any]] | None = getattr(it, "state_dict", None)
    return fn() if callable(fn) else None
