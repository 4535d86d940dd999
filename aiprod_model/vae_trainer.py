"""VAE trainer: reconstruction + beta-KL on clips from every tier, SSIM/PSNR on held-out clips.

Held-out clips are chosen by a stable hash of clip_id (`train.vae_holdout`): they are removed
from every training batch and the first `train.vae_eval_clips` of them seen by the eval source
are reconstructed at the end.  The latent scale factor the diffusion model uses (1 / std of the
posterior means over the last `train.loss_window` steps) is stored in the VAE manifest.
Checkpoints and resume work as in the diffusion trainer (weights, optimizer, generator, loader).
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from aiprod_model.batches import BatchSource, fit_video, is_heldout, select, source_state
from aiprod_model.checkpoint import flatten_optimizer, load_checkpoint, read_manifest, unflatten_optimizer, write_checkpoint
from aiprod_model.metrics import psnr, ssim
from aiprod_model.presets import resolve
from aiprod_model.runtime import LossWindows, autocast, count_params, resolve_device, setup_torch, stable_hash
from aiprod_model.tracking import MetricsLog
from aiprod_model.vae import VideoVAE, vae_loss
from curation.config import Params, VAEParams

log = logging.getLogger(__name__)


def build_vae(p: VAEParams) -> VideoVAE:
    return VideoVAE(p)


def load_vae(root: str | Path, device: torch.device | str = "cpu") -> tuple[VideoVAE, dict[str, Any]]:
    """The trained VAE of a run directory (verified safetensors) and its manifest."""
    files, manifest = load_checkpoint(root, ["model"])
    from aiprod_model.presets import ResolvedModel

    resolved = ResolvedModel.from_json(manifest["meta"]["model"])
    vae = build_vae(resolved.vae)
    vae.load_state_dict(files["model"])
    return vae.to(device).eval(), manifest


class VAETrainer:
    def __init__(self, params: Params, out_dir: str | Path, metrics_dir: str | Path | None = None, progress: bool = True):
        self.params = params
        self.tp = params.train
        self.out_dir = Path(out_dir)
        self.metrics_dir = Path(metrics_dir) if metrics_dir else None
        self.progress = progress
        setup_torch(self.tp.seed, self.tp.threads)
        self.device = resolve_device(self.tp.device)
        self.resolved = resolve(params.model)
        self.vp = self.resolved.vae
        self.model = build_vae(self.vp).to(self.device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=self.tp.vae_lr, betas=(0.9, 0.99), weight_decay=self.tp.weight_decay)
        self.gen = torch.Generator().manual_seed(self.tp.seed + 2)
        self.step = 0
        self.loader_state: dict[str, Any] | None = None
        self.windows = LossWindows(self.tp.loss_window)
        self.latent_stats = [0.0, 0.0, 0.0]  # count, sum, sum of squares (last loss_window steps)
        self.scale_factor: float | None = None
        self.eval: dict[str, Any] = {}
        self.run_hash = stable_hash(
            {
                "model": self.resolved.to_json()["vae"],
                "train": {k: v for k, v in self.tp.model_dump(mode="json").items() if k.startswith("vae") or k in ("seed", "device", "weight_decay", "grad_clip", "warmup_steps", "loss_window")},
                "loader": self.params.loader.model_dump(mode="json"),
            }
        )

    # ------------------------------------------------------------------ checkpoints
    def meta(self, completed: bool = False) -> dict[str, Any]:
        _, opt_meta = flatten_optimizer(self.opt.state_dict())
        return {
            "kind": "vae",
            "run_hash": self.run_hash,
            "completed": completed,
            "loader_state": self.loader_state,
            "optimizer": opt_meta,
            "windows": self.windows.state(),
            "latent_stats": self.latent_stats,
            "scale_factor": self.scale_factor,
            "eval": self.eval,
            "model": self.resolved.to_json(),
            "params_count": count_params(self.model),
        }

    def save(self, completed: bool = False) -> Path:
        files = {"model": self.model.state_dict(), "optimizer": flatten_optimizer(self.opt.state_dict())[0], "trainer": {"generator": self.gen.get_state()}}
        return write_checkpoint(self.out_dir, self.step, files, self.meta(completed), keep=self.tp.keep_checkpoints)

    def try_resume(self) -> bool:
        manifest = read_manifest(self.out_dir)
        if manifest is None or manifest["meta"].get("run_hash") != self.run_hash:
            shutil.rmtree(self.out_dir / "checkpoints", ignore_errors=True)
            (self.out_dir / "manifest.json").unlink(missing_ok=True)
            self.out_dir.mkdir(parents=True, exist_ok=True)
            return False
        files, manifest = load_checkpoint(self.out_dir)
        meta = manifest["meta"]
        self.model.load_state_dict(files["model"])
        self.opt.load_state_dict(unflatten_optimizer(files["optimizer"], meta["optimizer"]))
        self.gen.set_state(files["trainer"]["generator"])
        self.step = int(manifest["step"])
        self.loader_state = meta["loader_state"]
        self.windows.load(meta["windows"])
        self.latent_stats = list(meta["latent_stats"])
        self.scale_factor = meta["scale_factor"]
        self.eval = dict(meta.get("eval") or {})
        return True

    # ------------------------------------------------------------------ training
    def prepare(self, video: torch.Tensor) -> torch.Tensor:
        return fit_video(video, self.vp.temporal_down, self.vp.spatial_down).to(self.device).float()

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        self.model.train()
        video = self.prepare(batch["video"])
        for g in self.opt.param_groups:
            g["lr"] = self.tp.vae_lr * min(1.0, (self.step + 1) / max(1, self.tp.warmup_steps))
        with autocast(self.device):
            post = self.model.encode(video)
            noise = torch.randn(post.mean.shape, generator=self.gen).to(self.device, post.mean.dtype)
            z = post.mean + torch.exp(0.5 * post.logvar) * noise
            recon = self.model.decode(z)
        loss, parts = vae_loss(recon, video, post, self.vp)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.tp.grad_clip)
        self.opt.step()
        self.step += 1
        if self.tp.vae_steps - self.step < self.tp.loss_window:
            m = post.mean.detach().float()
            self.latent_stats = [self.latent_stats[0] + m.numel(), self.latent_stats[1] + float(m.sum()), self.latent_stats[2] + float((m * m).sum())]
        return parts

    def _batches(self, source: BatchSource) -> Iterable[tuple[dict[str, Any], Any]]:
        state = self.loader_state
        while True:
            it = source(None, self.tp.vae_batch_size, state)
            got = False
            for batch in it:
                got = True
                yield batch, it
            if not got:
                return
            state = None

    def train(self, source: BatchSource, eval_source: Iterable[dict[str, Any]] | None = None, max_steps: int | None = None) -> dict[str, Any]:
        live = MetricsLog(self.metrics_dir, self.step if self.step else None) if self.metrics_dir else None
        bar = tqdm(total=self.tp.vae_steps, initial=self.step, desc="vae", disable=not self.progress, unit="step")
        t0, n0 = time.perf_counter(), self.step
        recent: list[dict[str, float]] = []
        completed = True
        try:
            if self.step < self.tp.vae_steps:
                for batch, it in self._batches(source):
                    if max_steps is not None and self.step >= max_steps:
                        completed = False
                        break
                    keep = [not is_heldout(str(c), self.tp.vae_holdout) for c in batch["clip_id"]]
                    sub = select(batch, keep)
                    if sub is None:
                        continue
                    parts = self.train_step(sub)
                    self.loader_state = source_state(it)
                    self.windows.add("loss", parts["loss"])
                    recent.append(parts)
                    bar.update(1)
                    bar.set_postfix(loss=f"{parts['loss']:.4f}")
                    if live and (self.step % self.tp.log_every == 0 or self.step == self.tp.vae_steps):
                        live.log(self.step, {k: sum(r[k] for r in recent) / len(recent) for k in recent[0]})
                        recent = []
                    if self.step >= self.tp.vae_steps:
                        break
                    if self.step % self.tp.checkpoint_every == 0:
                        self.save()
            if completed:
                if self.step < self.tp.vae_steps:
                    log.warning("vae: the loader ran dry after %d of %d steps", self.step, self.tp.vae_steps)
                self.scale_factor = self.compute_scale()
                self.eval = self.evaluate(eval_source) if eval_source is not None else {"clips": 0, "reason": "no eval source"}
                self.save(completed=True)
        finally:
            bar.close()
        elapsed = time.perf_counter() - t0
        overall = self.windows.summary("loss") or {}
        summary = {"steps": self.step, "completed": completed, "params": count_params(self.model), "scale_factor": self.scale_factor, "eval": self.eval, "loss_window": overall, "steps_per_s": (self.step - n0) / max(elapsed, 1e-9)}
        if live:
            live.summary({"loss_first_window_mean": overall.get("first_window_mean"), "loss_last_window_mean": overall.get("last_window_mean"), "scale_factor": self.scale_factor, "eval": self.eval, "completed": completed})
            live.close()
        return summary

    def compute_scale(self) -> float:
        n, s, ss = self.latent_stats
        if n < 2:
            return 1.0
        var = max(ss / n - (s / n) ** 2, 1e-12)
        return float(1.0 / math.sqrt(var))

    @torch.no_grad()
    def evaluate(self, eval_source: Iterable[dict[str, Any]]) -> dict[str, Any]:
        """SSIM / PSNR of posterior-mean reconstructions of up to vae_eval_clips held-out clips."""
        self.model.eval()
        seen: set[str] = set()
        ssims, psnrs = [], []
        for batch in eval_source:
            keep = [is_heldout(str(c), self.tp.vae_holdout) and str(c) not in seen for c in batch["clip_id"]]
            sub = select(batch, keep)
            if sub is None:
                continue
            for i, cid in enumerate(sub["clip_id"]):
                if len(seen) >= self.tp.vae_eval_clips:
                    break
                seen.add(str(cid))
                video = self.prepare(sub["video"][i : i + 1])
                with autocast(self.device):
                    recon = self.model.decode(self.model.encode(video).mean).float()
                ssims.append(float(ssim(recon, video)))
                psnrs.append(float(psnr(recon, video)))
            if len(seen) >= self.tp.vae_eval_clips:
                break
        if not ssims:
            return {"clips": 0, "reason": "no held-out clip in the eval source"}
        return {"clips": len(ssims), "ssim": sum(ssims) / len(ssims), "psnr": sum(psnrs) / len(psnrs)}
