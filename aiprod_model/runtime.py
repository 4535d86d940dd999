"""Device choice, autocast, seeding, EMA, and the loss-window bookkeeping used by both trainers."""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
from collections import deque
from typing import Any

import numpy as np
import torch
from torch import nn


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"train.device={name!r} but CUDA is not available; use 'auto' or 'cpu'")
    return dev


def autocast(device: torch.device):
    """bf16 autocast on GPU; full fp32 on CPU (CPU bf16 is slower and noisier for tiny models)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def setup_torch(seed: int, threads: int) -> None:
    if threads > 0:
        torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def stable_hash(obj: Any, length: int = 16) -> str:
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class EMA:
    """Exponential moving average of a model's floating-point parameters and buffers.

    The decay ramps up as min(decay, (1 + n) / (10 + n)) so early averages are not dominated
    by the random init.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.shadow = {k: v.detach().clone().float() for k, v in model.state_dict().items() if v.dtype.is_floating_point}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for k, v in model.state_dict().items():
            if k in self.shadow:
                self.shadow[k].mul_(d).add_(v.detach().float(), alpha=1 - d)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow

    def load_state_dict(self, sd: dict[str, torch.Tensor], updates: int) -> None:
        missing = set(self.shadow) - set(sd)
        if missing:
            raise KeyError(f"EMA state lacks {sorted(missing)[:5]}")
        for k in self.shadow:
            self.shadow[k].copy_(sd[k])
        self.updates = updates

    def copy_to(self, model: nn.Module) -> None:
        sd = model.state_dict()
        with torch.no_grad():
            for k, v in self.shadow.items():
                sd[k].copy_(v.to(sd[k].dtype))


class LossWindows:
    """Loss history summary: mean of the first and of the last `window` steps, per key."""

    def __init__(self, window: int):
        self.window = window
        self.first: dict[str, list[float]] = {}
        self.last: dict[str, deque] = {}

    def add(self, key: str, value: float) -> None:
        f = self.first.setdefault(key, [])
        if len(f) < self.window:
            f.append(value)
        self.last.setdefault(key, deque(maxlen=self.window)).append(value)

    def summary(self, key: str) -> dict[str, float] | None:
        if key not in self.first:
            return None
        first = float(np.mean(self.first[key]))
        last = float(np.mean(self.last[key]))
        return {"first_window_mean": first, "last_window_mean": last, "drop": first - last}

    def state(self) -> dict[str, Any]:
        return {"window": self.window, "first": self.first, "last": {k: list(v) for k, v in self.last.items()}}

    def load(self, st: dict[str, Any]) -> None:
        self.first = {k: list(v) for k, v in st.get("first", {}).items()}
        self.last = {k: deque(v, maxlen=self.window) for k, v in st.get("last", {}).items()}
