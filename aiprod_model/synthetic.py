"""Deterministic synthetic video batches in the loader's format (tests and benchmarks).

Each sample is a coloured square moving over a gradient; its class (colour + direction) is
also encoded in a fixed random unit text embedding, so a conditional model can learn it.
Batches are dicts exactly like shards.loader's: video (B,T,C,H,W) in [-1,1], text_emb (B,D),
has_text, caption, tier, difficulty, clip_id.  The source is resumable: `state_dict()` gives
the index of the next batch and `SyntheticVideos(..., state=...)` continues from it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

COLOURS = [(1.0, -0.6, -0.6), (-0.6, 1.0, -0.6), (-0.6, -0.6, 1.0), (1.0, 1.0, -0.8)]
DIRECTIONS = [(1, 0), (0, 1), (-1, 0), (0, -1)]


def synthetic_video(cls: int, frames: int, size: int, phase: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    side = max(2, size // 4)
    dx, dy = DIRECTIONS[cls % len(DIRECTIONS)]
    colour = torch.tensor(COLOURS[cls % len(COLOURS)]).view(3, 1, 1)
    out = torch.empty(frames, 3, size, size)
    for f in range(frames):
        bg = torch.stack([0.3 * xx, 0.3 * yy, -0.2 * xx * yy]) - 0.3
        x0 = (size // 2 - side // 2 + dx * (f + phase) * max(1, size // 16)) % size
        y0 = (size // 2 - side // 2 + dy * (f + phase) * max(1, size // 16)) % size
        idx_y = (torch.arange(side) + y0) % size
        idx_x = (torch.arange(side) + x0) % size
        bg[:, idx_y[:, None], idx_x[None, :]] = colour
        out[f] = bg
    return out.clamp(-1, 1)


class SyntheticVideos:
    def __init__(self, batch_size: int, frames: int = 8, size: int = 32, text_dim: int = 384, classes: int = 4, seed: int = 0, state: dict[str, Any] | None = None, limit: int | None = None):
        self.batch_size, self.frames, self.size, self.text_dim = batch_size, frames, size, text_dim
        self.classes, self.seed, self.limit = classes, seed, limit
        g = torch.Generator().manual_seed(seed)
        emb = torch.randn(classes, text_dim, generator=g)
        self.embeddings = emb / emb.norm(dim=1, keepdim=True)
        self.index = int((state or {}).get("index", 0))

    def state_dict(self) -> dict[str, Any]:
        return {"index": self.index}

    def make(self, index: int) -> dict[str, Any]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        cls = torch.randint(0, self.classes, (self.batch_size,), generator=g)
        phase = torch.randint(0, 16, (self.batch_size,), generator=g)
        video = torch.stack([synthetic_video(int(c), self.frames, self.size, int(p)) for c, p in zip(cls, phase)])
        ids = [f"syn-{index:06d}-{i}" for i in range(self.batch_size)]
        return {
            "video": video,
            "text_emb": self.embeddings[cls],
            "has_text": torch.ones(self.batch_size, dtype=torch.bool),
            "caption": [f"class {int(c)}" for c in cls],
            "tier": torch.ones(self.batch_size, dtype=torch.long),
            "difficulty": torch.zeros(self.batch_size),
            "clip_id": ids,
            "flow_curve": torch.full((self.batch_size, self.frames - 1), 0.1) * (cls[:, None] + 1).float(),
        }

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while self.limit is None or self.index < self.limit:
            batch = self.make(self.index)
            self.index += 1
            yield batch
