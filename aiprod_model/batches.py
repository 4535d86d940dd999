"""Turning loader batches into model inputs: shape fitting, the held-out guard, batch sources.

A *batch source* is any callable `make(phase_index, batch_size, state) -> iterable of batch dicts`
(the VAE uses phase_index None = all tiers).  When the iterable has `state_dict()`, the trainers
store it in every checkpoint and pass it back as `state` on resume.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

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


class HeldOutLeak(RuntimeError):
    """A training batch holds a held-out clip: the loader failed to leave it out."""


def check_not_heldout(batch: Batch, heldout: frozenset[str]) -> None:
    """Raise HeldOutLeak when `batch` holds a clip of the held-out split (the trainers' last guard:
    the loaders already leave those clips out, see shards.curriculum.heldout_split)."""
    if not heldout:
        return
    leaked = sorted({str(c) for c in batch.get("clip_id", []) if str(c) in heldout})
    if leaked:
        raise HeldOutLeak(f"held-out clip(s) {leaked} reached a training batch; the held-out split must never be trained on")


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
