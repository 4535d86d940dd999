"""Hybrid diffusion backbone over VAE latents: DiT-style attention blocks + local 3D-conv blocks.

latents (B, Cz, T, H, W) -> patchify (1 x p x p) -> tokens (B, T, N, D)
  attention block: AdaLN-Zero( spatial self-attn -> temporal self-attn -> GEGLU FFN ),
                   plus cross-attention to text tokens (pre-norm, zero-initialised output);
                   q and k are RMS-normalised per head (QK-norm), attention is torch SDPA.
  conv block:      tokens back on their (T, H/p, W/p) grid: depthwise 3x3x3 conv, GroupNorm with
                   scale/shift from the conditioning, pointwise MLP with a zero-initialised output.
-> AdaLN final layer -> unpatchify -> v prediction (B, Cz, T, H, W)

Conditioning vector c = MLP(timestep) + MLP(pooled text) [+ strength * MLP(flow curve)].
The text embedding (B, text_dim) is also projected to `text_tokens` cross-attention tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aiprod_model.layers import GEGLU, RMSNorm, norm, sincos_3d, timestep_embedding
from aiprod_model.params import BackboneParams


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    # x (B, ..., D); shift/scale (B, D)
    view = (x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)
    return x * (1 + scale.view(view)) + shift.view(view)


def _gate(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return x * g.view((x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],))


class Attention(nn.Module):
    """Multi-head attention with QK-norm; self-attention when `context` is None."""

    def __init__(self, dim: int, heads: int, context_dim: int | None = None, dropout: float = 0.0):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(context_dim or dim, 2 * dim)
        self.q_norm = RMSNorm(self.head_dim)
        self.k_norm = RMSNorm(self.head_dim)
        self.proj = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, d = x.shape
        ctx = x if context is None else context
        q = self.q(x).view(b, n, self.heads, self.head_dim).transpose(1, 2)
        k, v = self.kv(ctx).view(b, ctx.shape[1], 2, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k = self.q_norm(q), self.k_norm(k)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(b, n, d))


class AttentionBlock(nn.Module):
    """Factorized spatial -> temporal self-attention, text cross-attention, GEGLU FFN; AdaLN-Zero."""

    def __init__(self, p: BackboneParams):
        super().__init__()
        d = p.dim
        self.norm_s = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn_s = Attention(d, p.heads, dropout=p.dropout)
        self.norm_t = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn_t = Attention(d, p.heads, dropout=p.dropout)
        self.norm_x = nn.LayerNorm(d, eps=1e-6)
        self.cross = Attention(d, p.heads, dropout=p.dropout)
        self.norm_f = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.ffn = GEGLU(d, p.ffn_mult, p.dropout)
        # shift/scale/gate for spatial, temporal, ffn; gate for cross-attention
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 10 * d))
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        b, t, n, d = x.shape
        ss, sc, sg, ts, tc, tg, fs, fc, fg, xg = self.ada(c).chunk(10, dim=-1)
        # spatial attention: tokens of one frame attend to each other
        h = modulate(self.norm_s(x), ss, sc).reshape(b * t, n, d)
        x = x + _gate(self.attn_s(h).view(b, t, n, d), sg)
        # temporal attention: one spatial position across frames
        h = modulate(self.norm_t(x), ts, tc).transpose(1, 2).reshape(b * n, t, d)
        x = x + _gate(self.attn_t(h).view(b, n, t, d).transpose(1, 2), tg)
        # cross-attention to the text tokens
        h = self.cross(self.norm_x(x).reshape(b, t * n, d), context=text).view(b, t, n, d)
        x = x + _gate(h, xg)
        h = modulate(self.norm_f(x), fs, fc)
        return x + _gate(self.ffn(h), fg)


class ConvBlock(nn.Module):
    """Local 3D-conv residual block on the token grid (ConvNeXt-style, so it stays compact at large dim):
    depthwise 3x3x3 conv -> GroupNorm with conditioning scale/shift -> 1x1x1 expand -> SiLU ->
    1x1x1 project (zero-initialised, so the block starts as the identity)."""

    def __init__(self, p: BackboneParams):
        super().__init__()
        d = p.dim
        hidden = max(8, int(d * p.ffn_mult))
        self.dw = nn.Conv3d(d, d, 3, padding=1, groups=d)
        self.norm = norm(d, 32)
        self.pw1 = nn.Conv3d(d, hidden, 1)
        self.pw2 = nn.Conv3d(hidden, d, 1)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.drop = nn.Dropout(p.dropout)
        for m in (self.pw2, self.ada[1]):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        b, t, n, d = x.shape
        gh, gw = grid
        v = x.permute(0, 3, 1, 2).reshape(b, d, t, gh, gw)
        shift, scale = self.ada(c).chunk(2, dim=-1)
        h = self.norm(self.dw(v)) * (1 + scale[:, :, None, None, None]) + shift[:, :, None, None, None]
        h = self.pw2(self.drop(F.silu(self.pw1(h))))
        return x + h.reshape(b, d, t, n).permute(0, 2, 3, 1)


def block_layout(p: BackboneParams) -> list[str]:
    """Order of 'attn' / 'conv' blocks: sequential (all attention first) or interleaved (conv spread evenly)."""
    a, c = p.attn_blocks, p.conv_blocks
    if p.layout == "sequential" or a == 0 or c == 0:
        return ["attn"] * a + ["conv"] * c
    out: list[str] = []
    placed = 0
    for i in range(a):
        out.append("attn")
        want = round((i + 1) * c / a)
        out += ["conv"] * (want - placed)
        placed = want
    return out


class HybridBackbone(nn.Module):
    def __init__(self, p: BackboneParams, latent_channels: int, flow_bins: int = 16):
        super().__init__()
        self.params = p
        self.latent_channels = latent_channels
        self.flow_bins = flow_bins
        d, ps = p.dim, p.patch_size
        self.patch = nn.Conv3d(latent_channels, d, kernel_size=(1, ps, ps), stride=(1, ps, ps))
        self.t_embed = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.text_pool = nn.Sequential(nn.Linear(p.text_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.text_tokens = nn.Linear(p.text_dim, p.text_tokens * d)
        self.flow_embed = nn.Sequential(nn.Linear(flow_bins, d), nn.SiLU(), nn.Linear(d, d))
        nn.init.zeros_(self.flow_embed[2].weight)  # flow conditioning starts as a no-op
        nn.init.zeros_(self.flow_embed[2].bias)
        # learned "no caption" embedding, used for classifier-free guidance
        self.null_text = nn.Parameter(torch.randn(p.text_dim) * 0.02)
        self.layout = block_layout(p)
        self.blocks = nn.ModuleList([AttentionBlock(p) if kind == "attn" else ConvBlock(p) for kind in self.layout])
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.final = nn.Linear(d, ps * ps * latent_channels)
        for m in (self.final_ada[1], self.final):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def text_or_null(self, text_emb: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Replace rows where keep is False by the learned null embedding."""
        null = self.null_text.to(text_emb.dtype).expand_as(text_emb)
        return torch.where(keep[:, None], text_emb, null)

    def forward(
        self,
        z: torch.Tensor,
        t: torch.Tensor,
        text_emb: torch.Tensor,
        flow: torch.Tensor | None = None,
        flow_strength: float = 0.0,
    ) -> torch.Tensor:
        """z (B, Cz, T, H, W) noisy latents, t (B,) in [0, 1], text_emb (B, text_dim) -> v (B, Cz, T, H, W)."""
        b, cz, tt, h, w = z.shape
        ps, d = self.params.patch_size, self.params.dim
        if h % ps or w % ps:
            raise ValueError(f"latent {h}x{w} not divisible by patch_size {ps}")
        gh, gw = h // ps, w // ps
        x = self.patch(z).permute(0, 2, 3, 4, 1).reshape(b, tt, gh * gw, d)
        x = x + sincos_3d(tt, gh, gw, d, z.device).to(x.dtype)[None]
        c = self.t_embed(timestep_embedding(t, d).to(x.dtype)) + self.text_pool(text_emb)
        if flow is not None and flow_strength > 0:
            c = c + flow_strength * self.flow_embed(flow.to(c.dtype))
        text = self.text_tokens(text_emb).view(b, self.params.text_tokens, d)
        for kind, blk in zip(self.layout, self.blocks):
            x = blk(x, c, text) if kind == "attn" else blk(x, c, (gh, gw))
        shift, scale = self.final_ada(c).chunk(2, dim=-1)
        x = self.final(modulate(self.final_norm(x), shift, scale))  # (B, T, N, ps*ps*Cz)
        x = x.view(b, tt, gh, gw, ps, ps, cz).permute(0, 6, 1, 2, 4, 3, 5)
        return x.reshape(b, cz, tt, h, w)
