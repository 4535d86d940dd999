"""Reconstruction quality: SSIM (11x11 Gaussian window, sigma 1.5, Wang et al. 2004) and PSNR, in torch.

Inputs are videos (B, T, C, H, W) or images (N, C, H, W) in [-1, 1]; both are mapped to
[0, 1] (data range 1).  SSIM is computed per frame and channel, then averaged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gaussian_window(size: int = 11, sigma: float = 1.5, device: torch.device | None = None) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).float()


def _as_images(x: torch.Tensor) -> torch.Tensor:
    if x.dim() == 5:
        b, t, c, h, w = x.shape
        x = x.reshape(b * t, c, h, w)
    if x.dim() != 4:
        raise ValueError(f"expected (B,T,C,H,W) or (N,C,H,W), got {tuple(x.shape)}")
    return (x.double().clamp(-1, 1) + 1) / 2  # float64: E[x^2] - E[x]^2 cancels badly in float32


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM of a vs b (same shape).  The window shrinks (odd) for frames smaller than 11 px."""
    x, y = _as_images(a), _as_images(b)
    if x.shape != y.shape:
        raise ValueError(f"shape mismatch {tuple(x.shape)} vs {tuple(y.shape)}")
    n, c, h, w = x.shape
    size = min(window, h, w)
    size -= 1 - size % 2  # odd
    win = gaussian_window(size, sigma, x.device).double().expand(c, 1, size, size).contiguous()
    c1, c2 = 0.01**2, 0.03**2

    def filt(z: torch.Tensor) -> torch.Tensor:
        return F.conv2d(z, win, groups=c)  # 'valid' filtering as in the reference implementation

    mu_x, mu_y = filt(x), filt(y)
    sxx = filt(x * x) - mu_x**2
    syy = filt(y * y) - mu_y**2
    sxy = filt(x * y) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2)
    return (num / den).mean().float()


def psnr(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """PSNR in dB over the whole tensor (data range 1 after mapping [-1,1] -> [0,1])."""
    x, y = _as_images(a), _as_images(b)
    mse = F.mse_loss(x, y)
    return (10 * torch.log10(1.0 / (mse + eps))).float()
