"""Named model sizes (tiny/S/M/L) and how params.yaml refines them.

Resolution order, later wins:
1. the code preset for `model.size` (below);
2. `model.configs[size]` in params.yaml: {"vae": {...}, "backbone": {...}};
3. fields written explicitly under `model.vae` / `model.backbone` in params.yaml.

`resolve(model_params)` returns validated `VAEParams` / `BackboneParams` objects, so every
consumer (trainer, sampler, benchmark) builds exactly the same network from the same params.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiprod_model.params import BackboneParams, ModelParams, VAEParams
from curation.params_base import ParamsError, deep_merge

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # CPU demo: 4x spatial / 2x temporal VAE (~0.6 M params), a 2-attention + 1-conv block backbone (~0.4 M)
    "tiny": {
        "vae": {"base_channels": 16, "channel_mult": [1, 2, 2], "num_res_blocks": 1, "latent_channels": 4, "spatial_down": 4, "temporal_down": 2, "attn_heads": 2, "groups": 8},
        "backbone": {"dim": 64, "heads": 4, "attn_blocks": 2, "conv_blocks": 1, "patch_size": 2, "text_tokens": 4, "ffn_mult": 2.0},
    },
    # the seed ratio 30:18 attention:conv, scaled down (10:6, 20:12, 30:18)
    "S": {
        "vae": {"base_channels": 32, "channel_mult": [1, 2, 4, 4], "num_res_blocks": 1, "latent_channels": 4, "spatial_down": 8, "temporal_down": 4, "attn_heads": 4},
        "backbone": {"dim": 384, "heads": 6, "attn_blocks": 10, "conv_blocks": 6, "patch_size": 2, "ffn_mult": 2.667},
    },
    "M": {
        "vae": {"base_channels": 64, "channel_mult": [1, 2, 4, 4], "num_res_blocks": 2, "latent_channels": 8, "spatial_down": 8, "temporal_down": 4, "attn_heads": 8},
        "backbone": {"dim": 640, "heads": 10, "attn_blocks": 20, "conv_blocks": 12, "patch_size": 2, "ffn_mult": 2.667},
    },
    "L": {
        "vae": {"base_channels": 128, "channel_mult": [1, 2, 4, 4], "num_res_blocks": 2, "latent_channels": 16, "spatial_down": 8, "temporal_down": 4, "attn_heads": 8},
        "backbone": {"dim": 896, "heads": 14, "attn_blocks": 30, "conv_blocks": 18, "patch_size": 2, "ffn_mult": 2.667},
    },
}


@dataclass(frozen=True)
class ResolvedModel:
    size: str
    vae: VAEParams
    backbone: BackboneParams

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "vae": self.vae.model_dump(mode="json"), "backbone": self.backbone.model_dump(mode="json")}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ResolvedModel":
        return cls(size=data["size"], vae=VAEParams.model_validate(data["vae"]), backbone=BackboneParams.model_validate(data["backbone"]))


def _explicit(section) -> dict[str, Any]:
    return {k: v for k, v in section.model_dump(mode="json").items() if k in section.model_fields_set}


def resolve(model: ModelParams, size: str | None = None) -> ResolvedModel:
    size = size or model.size
    if size not in PRESETS:
        raise ParamsError(f"model.size: unknown size {size!r} (one of {sorted(PRESETS)})")
    base = PRESETS[size]
    over = model.configs.get(size, {})
    bad = sorted(set(over) - {"vae", "backbone"})
    if bad:
        raise ParamsError(f"model.configs.{size}: unknown keys {bad} (expected 'vae' and/or 'backbone')")
    vae = deep_merge(deep_merge(base["vae"], over.get("vae", {})), _explicit(model.vae))
    bb = deep_merge(deep_merge(base["backbone"], over.get("backbone", {})), _explicit(model.backbone))
    try:
        vae_p = VAEParams.model_validate(vae)
        bb_p = BackboneParams.model_validate(bb)
    except Exception as exc:  # pydantic ValidationError -> one readable line
        raise ParamsError(f"model ({size}): {exc}") from None
    levels = len(vae_p.channel_mult) - 1
    for name in ("spatial_down", "temporal_down"):
        k = getattr(vae_p, name).bit_length() - 1
        if k > levels:
            raise ParamsError(f"model.vae.{name}={getattr(vae_p, name)} needs {k} downsampling levels but channel_mult has only {levels}")
    if bb_p.dim % bb_p.heads:
        raise ParamsError(f"model.backbone.dim={bb_p.dim} must be divisible by heads={bb_p.heads}")
    return ResolvedModel(size=size, vae=vae_p, backbone=bb_p)
