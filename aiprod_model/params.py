"""Params of the model, its training and sampling (`model`, `train`, `sample` in params.yaml).

Part of the one params schema: `curation.config.Params` composes these sections
with the curation ones and `curation.config.load_params` validates the whole file.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from curation.params_base import Section


class VAEParams(Section):
    base_channels: int = Field(32, ge=4)
    channel_mult: list[int] = [1, 2, 4, 4]  # channels per resolution level (x base_channels); one downsample between levels
    num_res_blocks: int = Field(1, ge=1, le=4, description="residual blocks per resolution level")
    latent_channels: int = Field(4, ge=1)
    spatial_down: int = Field(8, description="2^k spatial downsampling")
    temporal_down: int = Field(4, description="2^k temporal downsampling")
    causal: bool = Field(True, description="causal temporal padding in the convs and the bottleneck attention (GroupNorm statistics still span the clip)")
    kl_beta: float = Field(1e-6, ge=0)
    recon_loss: Literal["l1", "mse"] = "l1"
    attn_heads: int = Field(4, ge=1, description="heads of the bottleneck temporal attention")
    groups: int = Field(8, ge=1, description="GroupNorm groups (reduced to a divisor of the channels)")

    @model_validator(mode="after")
    def _check(self) -> "VAEParams":
        for name in ("spatial_down", "temporal_down"):
            v = getattr(self, name)
            if v < 1 or v & (v - 1):
                raise ValueError(f"{name} must be a power of two >= 1, got {v}")
        if not self.channel_mult or any(m < 1 for m in self.channel_mult):
            raise ValueError("channel_mult needs at least one entry, all >= 1")
        return self


class BackboneParams(Section):
    dim: int = Field(384, ge=8)
    heads: int = Field(6, ge=1)
    attn_blocks: int = Field(10, ge=0, description="transformer blocks (global context); seed ratio 30:18 with conv_blocks")
    conv_blocks: int = Field(6, ge=0, description="3D-conv residual blocks (local detail)")
    layout: Literal["sequential", "interleaved"] = "sequential"  # conv blocks after all attention blocks, or spread between them
    patch_size: int = Field(2, ge=1)
    text_dim: int = Field(384, ge=1)
    text_tokens: int = Field(4, ge=1, description="the text embedding is projected to this many cross-attention tokens")
    ffn_mult: float = 4.0
    dropout: float = 0.0


class DiffusionParams(Section):
    prediction: Literal["v"] = "v"
    schedule: Literal["cosine"] = "cosine"
    cfg_drop: float = Field(0.1, ge=0, le=1)
    guidance_scale: float = Field(5.0, ge=0)
    sample_steps: int = Field(25, ge=1)
    sampler: Literal["ddim", "euler"] = "ddim"
    flow_guidance: bool = False
    flow_strength: float = Field(0.0, ge=0, le=1)
    flow_bins: int = Field(16, ge=2, description="the optical-flow curve is resampled to this many bins before embedding")


class ModelParams(Section):
    size: Literal["tiny", "S", "M", "L"] = "tiny"
    vae: VAEParams = VAEParams()  # fields set here override the size preset (aiprod_model/presets.py)
    backbone: BackboneParams = BackboneParams()
    diffusion: DiffusionParams = DiffusionParams()
    configs: dict[str, dict[str, Any]] = {}  # per size: {"vae": {...}, "backbone": {...}} overrides of the preset


class TrainParams(Section):
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    seed: int = 0
    threads: int = Field(2, ge=0, description="torch CPU threads (0 = torch default)")
    vae_steps: int = Field(200, ge=0)
    vae_lr: float = Field(2e-4, gt=0)
    vae_batch_size: int = Field(4, ge=1)
    vae_eval_clips: int = Field(8, ge=1, description="held-out clips reconstructed for the SSIM/PSNR in train_vae's own metrics")
    vae_holdout: float = Field(0.1, ge=0, lt=1, description="share of each tier's clips (stable clip_id hash) held out of ALL training, VAE and diffusion: "
                               "the one held-out split the evaluate stage scores (shards.curriculum.heldout_split); 0 = none")
    holdout_min_per_tier: int = Field(1, ge=0, description="with vae_holdout > 0, each tier holds out at least this many clips (its lowest "
                                      "hashes), but never its last training clip")
    lr_scale: float = Field(1.0, gt=0, description="multiplies every phase lr (scale the seed table to the config)")
    batch_scale: float = Field(1.0, gt=0, description="multiplies every phase batch size")
    warmup_steps: int = Field(20, ge=0, description="linear lr warmup at the start of training")
    ema_decay: float = Field(0.999, ge=0, lt=1)
    grad_clip: float = Field(1.0, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    checkpoint_every: int = Field(100, ge=1)
    keep_checkpoints: int = Field(2, ge=1)
    log_every: int = Field(10, ge=1)
    loss_window: int = Field(20, ge=1, description="steps in the first/last loss-window means written to the metrics")


class SampleParams(Section):
    prompts: list[str] = ["a red ball on a grey table", "un coche rojo en la calle"]
    frames: int = Field(8, ge=1)
    seed: int = 0
    fps: float = 8.0
    display_size: int = Field(128, ge=16, description="mp4 frames are upscaled (nearest) to this short side")
    flow_level: float = Field(0.5, ge=0, le=1, description="motion level fed to flow guidance (when enabled)")
    crf: int = Field(18, ge=0, le=51)




class EvalParams(Section):
    """The evaluate stage: held-out loss per tier (the clips of the train.vae_holdout split, never trained on)."""

    timesteps: list[float] = Field([0.1, 0.3, 0.5, 0.7, 0.9], min_length=1, description="diffusion times t in (0, 1) the validation loss is measured at")
    noise_seed: int = Field(0, description="seeds the fixed noise: one draw per (clip, window, timestep), whatever the batch or order")
    windows_per_clip: int = Field(4, ge=1, le=64, description="fixed frame windows per held-out clip, evenly spaced over the clip")
    max_clips_per_tier: int = Field(32, ge=1, description="held-out clips scored per tier (lowest clip_id hashes first; bounds the cost at scale)")
    batch_size: int = Field(8, ge=1, description="windows per forward pass")
    weights: Literal["ema", "model"] = Field("ema", description="which diffusion weights are scored: the EMA the sampler uses, or the raw model")

    @model_validator(mode="after")
    def _check(self) -> "EvalParams":
        bad = [t for t in self.timesteps if not 0.0 < t < 1.0]
        if bad:
            raise ValueError(f"timesteps must lie strictly between 0 and 1, got {bad}")
        if len(set(self.timesteps)) != len(self.timesteps):
            raise ValueError(f"timesteps must be distinct, got {self.timesteps}")
        return self
