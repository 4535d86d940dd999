"""VideoVAE: a 3D-conv encoder/decoder with a temporal-attention bottleneck and a diagonal Gaussian latent.

Videos are (B, T, C, H, W) in [-1, 1] (the loader's layout); latents are (B, Cz, T/td, H/sd, W/sd)
with sd = `spatial_down`, td = `temporal_down` (powers of two).  Each resolution level of
`channel_mult` ends with a downsample (except the last): spatial 2x at the first log2(sd)
levels and temporal 2x at the first log2(td).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aiprod_model.layers import Conv3d, ResBlock3d, norm
from aiprod_model.params import VAEParams


class TemporalAttention(nn.Module):
    """Self-attention along time at every spatial position (B, C, T, H, W) -> same; causal when the VAE is."""

    def __init__(self, channels: int, heads: int, groups: int, causal: bool):
        super().__init__()
        self.heads = max(1, min(heads, channels))
        while channels % self.heads:
            self.heads -= 1
        self.causal = causal
        self.norm = norm(channels, groups)
        self.qkv = nn.Linear(channels, channels * 3)
        self.proj = nn.Linear(channels, channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        y = self.norm(x).permute(0, 3, 4, 2, 1).reshape(b * h * w, t, c)
        q, k, v = self.qkv(y).reshape(b * h * w, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal and t > 1)
        y = self.proj(y.transpose(1, 2).reshape(b * h * w, t, c))
        return x + y.reshape(b, h, w, t, c).permute(0, 4, 3, 1, 2)


def _level_strides(p: VAEParams) -> list[tuple[int, int]]:
    """(temporal, spatial) stride of the downsample after each level but the last."""
    ks = p.spatial_down.bit_length() - 1
    kt = p.temporal_down.bit_length() - 1
    return [(2 if i < kt else 1, 2 if i < ks else 1) for i in range(len(p.channel_mult) - 1)]


class Encoder(nn.Module):
    def __init__(self, p: VAEParams, in_channels: int = 3):
        super().__init__()
        ch = [p.base_channels * m for m in p.channel_mult]
        self.stem = Conv3d(in_channels, ch[0], 3, causal=p.causal)
        blocks: list[nn.Module] = []
        cin = ch[0]
        strides = _level_strides(p)
        for i, c in enumerate(ch):
            for _ in range(p.num_res_blocks):
                blocks.append(ResBlock3d(cin, c, p.groups, p.causal))
                cin = c
            if i < len(strides) and strides[i] != (1, 1):
                st, ss = strides[i]
                blocks.append(Conv3d(c, c, 3, stride=(st, ss, ss), causal=p.causal))
        self.blocks = nn.Sequential(*blocks)
        self.mid1 = ResBlock3d(cin, cin, p.groups, p.causal)
        self.attn = TemporalAttention(cin, p.attn_heads, p.groups, p.causal)
        self.mid2 = ResBlock3d(cin, cin, p.groups, p.causal)
        self.out_norm = norm(cin, p.groups)
        self.out = Conv3d(cin, 2 * p.latent_channels, 3, causal=p.causal)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.stem(x))
        h = self.mid2(self.attn(self.mid1(h)))
        return self.out(F.silu(self.out_norm(h)))


class Upsample(nn.Module):
    def __init__(self, channels: int, st: int, ss: int, causal: bool):
        super().__init__()
        self.scale = (st, ss, ss)
        self.conv = Conv3d(channels, channels, 3, causal=causal)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=self.scale, mode="nearest"))


class Decoder(nn.Module):
    def __init__(self, p: VAEParams, out_channels: int = 3):
        super().__init__()
        ch = [p.base_channels * m for m in p.channel_mult]
        strides = _level_strides(p)
        cin = ch[-1]
        self.stem = Conv3d(p.latent_channels, cin, 3, causal=p.causal)
        self.mid1 = ResBlock3d(cin, cin, p.groups, p.causal)
        self.attn = TemporalAttention(cin, p.attn_heads, p.groups, p.causal)
        self.mid2 = ResBlock3d(cin, cin, p.groups, p.causal)
        blocks: list[nn.Module] = []
        for i in reversed(range(len(ch))):
            for _ in range(p.num_res_blocks):
                blocks.append(ResBlock3d(cin, ch[i], p.groups, p.causal))
                cin = ch[i]
            if i > 0 and strides[i - 1] != (1, 1):
                st, ss = strides[i - 1]
                blocks.append(Upsample(cin, st, ss, p.causal))
        self.blocks = nn.Sequential(*blocks)
        self.out_norm = norm(cin, p.groups)
        self.out = Conv3d(cin, out_channels, 3, causal=p.causal)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid2(self.attn(self.mid1(self.stem(z))))
        h = self.blocks(h)
        return self.out(F.silu(self.out_norm(h)))


@dataclass
class Posterior:
    mean: torch.Tensor
    logvar: torch.Tensor

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + torch.exp(0.5 * self.logvar) * noise

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)), mean over latent elements."""
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar).mean()


class VideoVAE(nn.Module):
    def __init__(self, p: VAEParams, channels: int = 3):
        super().__init__()
        self.params = p
        self.encoder = Encoder(p, channels)
        self.decoder = Decoder(p, channels)

    @property
    def spatial_down(self) -> int:
        return self.params.spatial_down

    @property
    def temporal_down(self) -> int:
        return self.params.temporal_down

    def check_input(self, t: int, h: int, w: int) -> None:
        if t % self.temporal_down or h % self.spatial_down or w % self.spatial_down:
            raise ValueError(f"video of {t} frames {h}x{w}: frames must be a multiple of {self.temporal_down} and sides of {self.spatial_down}")

    def latent_shape(self, t: int, h: int, w: int) -> tuple[int, int, int, int]:
        self.check_input(t, h, w)
        return (self.params.latent_channels, t // self.temporal_down, h // self.spatial_down, w // self.spatial_down)

    def encode(self, video: torch.Tensor) -> Posterior:
        """(B, T, C, H, W) in [-1, 1] -> posterior over (B, Cz, t, h, w)."""
        b, t, c, h, w = video.shape
        self.check_input(t, h, w)
        moments = self.encoder(video.permute(0, 2, 1, 3, 4))
        mean, logvar = moments.chunk(2, dim=1)
        return Posterior(mean, logvar.clamp(-30.0, 20.0))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, Cz, t, h, w) -> (B, T, C, H, W) (unclamped; clamp to [-1, 1] for display)."""
        return self.decoder(z).permute(0, 2, 1, 3, 4)

    def forward(self, video: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, Posterior]:
        post = self.encode(video)
        return self.decode(post.sample(generator)), post


def vae_loss(recon: torch.Tensor, video: torch.Tensor, post: Posterior, p: VAEParams) -> tuple[torch.Tensor, dict[str, float]]:
    """Reconstruction (L1 or MSE, mean over pixels) + kl_beta * KL (mean over latent elements)."""
    recon = recon.float()
    rec = F.l1_loss(recon, video) if p.recon_loss == "l1" else F.mse_loss(recon, video)
    kl = post.kl()
    loss = rec + p.kl_beta * kl
    return loss, {"loss": float(loss.detach()), "recon": float(rec.detach()), "kl": float(kl.detach())}
