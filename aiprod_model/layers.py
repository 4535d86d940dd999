"""Building blocks shared by the VAE and the backbone: norms, convs, GEGLU, embeddings."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def group_count(channels: int, groups: int) -> int:
    """Largest divisor of `channels` that is <= `groups` (GroupNorm needs an exact divisor)."""
    g = max(1, min(groups, channels))
    while channels % g:
        g -= 1
    return g


def norm(channels: int, groups: int = 8) -> nn.GroupNorm:
    return nn.GroupNorm(group_count(channels, groups), channels, eps=1e-6)


class RMSNorm(nn.Module):
    """RMSNorm over the last dim (used on q and k: QK-norm)."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return (x * self.weight.float()).to(dtype)


class Conv3d(nn.Module):
    """3D conv with 'same' spatial padding and either causal (pad past frames only) or symmetric temporal padding.

    Input/output layout: (B, C, T, H, W).  With `causal=True` output frame t depends on input
    frames <= t only; temporal stride s keeps frames 0, s, 2s ... (T must be divisible by s).
    """

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int, int] = 3, stride: tuple[int, int, int] = (1, 1, 1), causal: bool = True):
        super().__init__()
        kt, kh, kw = (kernel, kernel, kernel) if isinstance(kernel, int) else kernel
        self.causal = causal
        self.kt = kt
        self.st = stride[0]
        self.pad_hw = (kw // 2, kw // 2, kh // 2, kh // 2)
        self.conv = nn.Conv3d(cin, cout, (kt, kh, kw), stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.causal:
            # past frames only; stride s aligns outputs on frames s-1, 2s-1 ... (the newest frame of each window)
            pad_t = (self.kt - self.st, 0) if self.kt >= self.st else (0, 0)
        else:
            total = max(self.kt - self.st, 0)
            pad_t = (total // 2, total - total // 2)
        x = F.pad(x, self.pad_hw + (0, 0), mode="constant")
        if pad_t != (0, 0):
            x = F.pad(x, (0, 0, 0, 0) + pad_t, mode="replicate")
        return self.conv(x)


class ResBlock3d(nn.Module):
    """GroupNorm -> SiLU -> Conv3d, twice, plus a (1x1x1-projected) skip."""

    def __init__(self, cin: int, cout: int, groups: int = 8, causal: bool = True, dropout: float = 0.0):
        super().__init__()
        self.n1 = norm(cin, groups)
        self.c1 = Conv3d(cin, cout, 3, causal=causal)
        self.n2 = norm(cout, groups)
        self.drop = nn.Dropout(dropout)
        self.c2 = Conv3d(cout, cout, 3, causal=causal)
        self.skip = nn.Conv3d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c1(F.silu(self.n1(x)))
        h = self.c2(self.drop(F.silu(self.n2(h))))
        return self.skip(x) + h


class GEGLU(nn.Module):
    """Feed-forward with a GELU-gated linear unit: W2(a * gelu(b)), [a, b] = W1 x."""

    def __init__(self, dim: int, mult: float = 4.0, dropout: float = 0.0):
        super().__init__()
        hidden = max(8, int(dim * mult))
        self.proj_in = nn.Linear(dim, hidden * 2)
        self.drop = nn.Dropout(dropout)
        self.proj_out = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.proj_in(x).chunk(2, dim=-1)
        return self.proj_out(self.drop(a * F.gelu(b)))


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (B,) float timesteps (scaled to 0..1000) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * 1000.0 * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


def sincos_1d(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Fixed sin/cos position embedding of integer positions -> (N, dim)."""
    half = dim // 2
    omega = 1.0 / (10000 ** (torch.arange(half, dtype=torch.float32, device=positions.device) / max(half, 1)))
    out = positions.float()[:, None] * omega[None]
    emb = torch.cat([torch.sin(out), torch.cos(out)], dim=-1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


def sincos_3d(t: int, h: int, w: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """Factorized fixed position embedding for a (t, h, w) token grid -> (t, h*w, dim).

    A quarter of the channels encode time, the rest rows and columns; any grid size works,
    so one model trains and samples at several resolutions / lengths.
    """
    dt = dim // 4
    dh = (dim - dt) // 2
    dw = dim - dt - dh
    et = sincos_1d(torch.arange(t, device=device), dt)  # (t, dt)
    eh = sincos_1d(torch.arange(h, device=device), dh)  # (h, dh)
    ew = sincos_1d(torch.arange(w, device=device), dw)  # (w, dw)
    spatial = torch.cat([eh[:, None, :].expand(h, w, dh), ew[None, :, :].expand(h, w, dw)], dim=-1).reshape(h * w, dh + dw)
    return torch.cat([et[:, None, :].expand(t, h * w, dt), spatial[None].expand(t, h * w, dh + dw)], dim=-1)
