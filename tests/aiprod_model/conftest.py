"""Tiny model configs and params for the aiprod_model tests (fast on 2 CPU cores)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from curation.config import Params, parse_params

TEXT_DIM = 32


def tiny_params(**over: Any) -> Params:
    """A tiny model (tiny preset, smaller text dim), a 2-phase curriculum of 3 steps each, CPU."""
    base: dict[str, Any] = {
        "model": {"size": "tiny", "backbone": {"text_dim": TEXT_DIM}},
        "train": {"device": "cpu", "threads": 1, "vae_steps": 4, "vae_batch_size": 2, "warmup_steps": 1, "checkpoint_every": 2, "log_every": 1, "loss_window": 2, "lr_scale": 10.0, "batch_scale": 0.125, "ema_decay": 0.9},
        "curriculum": {"phases": [
            {"tiers": {1: 1.0}, "lr": 1e-4, "batch_size": 16, "steps": 3},
            {"tiers": {2: 1.0}, "lr": 5e-5, "batch_size": 12, "steps": 3},
        ]},
        "loader": {"frames": 4, "size": 16},
    }
    from curation.config import deep_merge

    return parse_params(deep_merge(base, over))


@pytest.fixture()
def params() -> Params:
    return tiny_params()


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
