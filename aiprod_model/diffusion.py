"""v-prediction diffusion with a cosine schedule, the training loss, and CFG samplers (DDIM, Euler).

Continuous time t in [0, 1]:  alpha(t) = cos(phi), sigma(t) = sin(phi), phi = t * pi/2 (t clipped
away from the ends), z_t = alpha x0 + sigma eps, target v = alpha eps - sigma x0.
From a v prediction:  x0 = alpha z - sigma v,  eps = sigma z + alpha v.

DDIM (eta = 0) step t -> s:  z_s = alpha_s x0 + sigma_s eps.
Euler on the probability-flow ODE in phi:  dz/dphi = v, so z_s = z_t - (phi_t - phi_s) v.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from aiprod_model.backbone import HybridBackbone

T_MIN, T_MAX = 1e-4, 0.9999


def alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    phi = t.clamp(T_MIN, T_MAX) * (math.pi / 2)
    return torch.cos(phi), torch.sin(phi)


def _bcast(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return x.view((-1,) + (1,) * (ref.dim() - 1))


def q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy latents z_t and the v target."""
    a, s = alpha_sigma(t)
    a, s = _bcast(a, x0), _bcast(s, x0)
    return a * x0 + s * noise, a * noise - s * x0


def resample_curve(curve: torch.Tensor, bins: int) -> torch.Tensor:
    """(B, L) per-frame-pair flow magnitudes (any L >= 1) -> (B, bins) by linear interpolation."""
    if curve.dim() == 1:
        curve = curve[None]
    curve = curve.float()
    if curve.shape[1] == 1:
        return curve.expand(-1, bins).clone()
    return F.interpolate(curve[:, None], size=bins, mode="linear", align_corners=True)[:, 0]


def diffusion_loss(
    model: HybridBackbone,
    x0: torch.Tensor,
    text_emb: torch.Tensor,
    has_text: torch.Tensor,
    generator: torch.Generator,
    cfg_drop: float,
    flow: torch.Tensor | None = None,
    flow_strength: float = 0.0,
) -> torch.Tensor:
    """MSE between predicted and true v.  Captions are dropped (-> learned null embedding) with
    probability `cfg_drop`, and always for clips without a caption.  All randomness comes from
    `generator` (drawn on the CPU), so a run is reproducible and resumable bit for bit."""
    b = x0.shape[0]
    dev = x0.device
    t = torch.rand(b, generator=generator).to(dev)
    noise = torch.randn(x0.shape, generator=generator).to(dev, x0.dtype)
    drop = (torch.rand(b, generator=generator) < cfg_drop).to(dev)
    keep = has_text.to(dev).bool() & ~drop
    z, v = q_sample(x0, t, noise)
    pred = model(z, t, model.text_or_null(text_emb, keep), flow=flow, flow_strength=flow_strength)
    return F.mse_loss(pred.float(), v.float())


def guided_v(
    model: HybridBackbone,
    z: torch.Tensor,
    t: torch.Tensor,
    text_emb: torch.Tensor,
    guidance_scale: float,
    flow: torch.Tensor | None = None,
    flow_strength: float = 0.0,
) -> torch.Tensor:
    """Classifier-free guidance: v_uncond + g * (v_cond - v_uncond), both in one batched forward."""
    b = z.shape[0]
    if guidance_scale == 1.0:
        return model(z, t, text_emb, flow=flow, flow_strength=flow_strength)
    null = model.null_text.to(text_emb.dtype).expand_as(text_emb)
    fl = None if flow is None else torch.cat([flow, flow])
    v = model(torch.cat([z, z]), torch.cat([t, t]), torch.cat([text_emb, null]), flow=fl, flow_strength=flow_strength)
    v_cond, v_unc = v[:b], v[b:]
    return v_unc + guidance_scale * (v_cond - v_unc)


@torch.no_grad()
def sample(
    model: HybridBackbone,
    shape: tuple[int, ...],
    text_emb: torch.Tensor,
    steps: int,
    guidance_scale: float,
    sampler: str = "ddim",
    seed: int = 0,
    flow: torch.Tensor | None = None,
    flow_strength: float = 0.0,
    progress: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Draw latents (shape = (B, Cz, T, H, W)) from pure noise; deterministic for a given seed."""
    if sampler not in ("ddim", "euler"):
        raise ValueError(f"unknown sampler {sampler!r}")
    dev = text_emb.device
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(shape, generator=gen).to(dev)
    ts = torch.linspace(1.0, 0.0, steps + 1)
    for i in range(steps):
        t, s = float(ts[i]), float(ts[i + 1])
        tb = torch.full((shape[0],), t, device=dev)
        v = guided_v(model, z, tb, text_emb, guidance_scale, flow, flow_strength).float()
        a_t, s_t = alpha_sigma(torch.tensor(t))
        a_s, s_s = alpha_sigma(torch.tensor(s))
        if sampler == "ddim":
            x0 = a_t * z - s_t * v
            eps = s_t * z + a_t * v
            z = a_s * x0 + s_s * eps
        else:
            dphi = (min(max(t, T_MIN), T_MAX) - min(max(s, T_MIN), T_MAX)) * (math.pi / 2)
            z = z - dphi * v
        if progress:
            progress(i)
    return z
