"""VAE trainer: reconstruction + beta-KL on clips from every tier, SSIM/PSNR on held-out clips.

Held-out clips: the project's one held-out split (`shards.curriculum.heldout_split`: per tier,
a stable hash of clip_id, `train.vae_holdout` / `train.holdout_min_per_tier`) is left out by the
training loader; the trainer refuses any batch that still holds one (`batches.HeldOutLeak`).
At the end up to `train.vae_eval_clips` clips of the eval source (the held-out clips, one fixed
window each: `aiprod_model.evaluate.heldout_batches`) are reconstructed for SSIM/PSNR; the
evaluate stage scores every held-out clip per tier.  The latent scale factor the diffusion model uses (1 / std of the
posterior means over the last `train.loss_window` steps) is stored in the VAE manifest.
Checkpoints and resume work as in the diffusion trainer (weights, optimizer, generator, loader).

Under torchrun (aiprod_model.distributed) the VAE is wrapped in DDP and each rank trains on its
share of train.vae_batch_size (the global batch); losses and the latent statistics are summed
over ranks.  Every rank evaluates the same (deterministic) held-out windows; rank 0 writes.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from aiprod_model.batches import BatchSource, check_not_heldout, fit_video, source_state
from aiprod_model.checkpoint import flatten_optimizer, load_checkpoint, read_manifest, unflatten_optimizer
from aiprod_model.distributed import Dist, current, reset_run, restore_rank_state, save_run_checkpoint
from aiprod_model.metrics import psnr, ssim
from aiprod_model.params import VAEParams
from aiprod_model.presets import resolve
from aiprod_model.runtime import LossWindows, autocast, count_params, resolve_device, setup_torch, stable_hash
from aiprod_model.tracking import ClipLog, MetricsLog
from aiprod_model.vae import Posterior, VideoVAE, vae_loss
from curation.config import Params

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


class _Reconstruct(torch.nn.Module):
    """encode -> posterior sample (noise from the trainer's generator, drawn on the CPU) -> decode,
    as one forward: the module DDP wraps (DDP only synchronises what runs through forward)."""

    def __init__(self, vae: VideoVAE):
        super().__init__()
        self.vae = vae

    def forward(self, video: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        post = self.vae.encode(video)
        noise = torch.randn(post.mean.shape, generator=generator).to(video.device, post.mean.dtype)
        z = post.mean + torch.exp(0.5 * post.logvar) * noise
        return self.vae.decode(z), post.mean, post.logvar


class VAETrainer:
    """`dist` / `clip_log`: as for DiffusionTrainer (clip_log/vae-rank<r>.jsonl)."""

    def __init__(self, params: Params, out_dir: str | Path, metrics_dir: str | Path | None = None, progress: bool = True,
                 dist: Dist | None = None, clip_log: str | Path | None = None, heldout: frozenset[str] = frozenset(), heldout_digest: str = ""):
        """`heldout`: clip ids of the held-out split (a batch holding one is refused);
        `heldout_digest`: its stable hash (`HeldOut.digest`), part of the run hash."""
        self.params = params
        self.dist = dist or current()
        self.tp = params.train
        self.heldout = frozenset(heldout)
        self.heldout_digest = heldout_digest
        self.out_dir = Path(out_dir)
        self.metrics_dir = Path(metrics_dir) if metrics_dir else None
        self.progress = progress and self.dist.is_main
        self.clip_log = ClipLog(clip_log, f"vae-rank{self.dist.rank}") if clip_log else None
        setup_torch(self.tp.seed, self.tp.threads)
        self.device = self.dist.device(resolve_device(self.tp.device))
        self.resolved = resolve(params.model)
        self.vp = self.resolved.vae
        self.model = build_vae(self.vp).to(self.device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=self.tp.vae_lr, betas=(0.9, 0.99), weight_decay=self.tp.weight_decay)
        self.gen = torch.Generator().manual_seed(self.tp.seed + 2 + self.dist.rank)
        self.net: torch.nn.Module = _Reconstruct(self.model)  # DDP-wrapped when training starts (world > 1)
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
                "heldout": self.heldout_digest,
            }
        )

    # ------------------------------------------------------------------ checkpoints
    def meta(self, completed: bool = False, extra: dict[str, Any] | None = None) -> dict[str, Any]:
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
            "heldout": self.heldout_digest,
            "model": self.resolved.to_json(),
            "params_count": count_params(self.model),
        } | (extra or {})

    def save(self, completed: bool = False) -> Path:
        """Checkpoint the run (collective under DDP: every rank's state is gathered, rank 0 writes)."""

        def build(trainer: dict[str, torch.Tensor], extra: dict[str, Any]) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
            files = {"model": self.model.state_dict(), "optimizer": flatten_optimizer(self.opt.state_dict())[0], "trainer": trainer}
            return files, self.meta(completed, extra)

        return save_run_checkpoint(self.dist, self.out_dir, self.step, self.tp.keep_checkpoints, self.loader_state, self.gen, build)

    def try_resume(self) -> bool:
        manifest = read_manifest(self.out_dir)
        if manifest is None or manifest["meta"].get("run_hash") != self.run_hash:
            reset_run(self.dist, self.out_dir)
            return False
        files, manifest = load_checkpoint(self.out_dir)
        meta = manifest["meta"]
        self.model.load_state_dict(files["model"])
        self.opt.load_state_dict(unflatten_optimizer(files["optimizer"], meta["optimizer"]))
        self.step = int(manifest["step"])
        self.loader_state = restore_rank_state(self.dist, files["trainer"], meta, self.gen, self.tp.seed + 2, self.step)
        self.windows.load(meta["windows"])
        self.latent_stats = list(meta["latent_stats"])
        self.scale_factor = meta["scale_factor"]
        self.eval = dict(meta.get("eval") or {})
        return True

    # ------------------------------------------------------------------ training
    def prepare(self, video: torch.Tensor) -> torch.Tensor:
        return fit_video(video, self.vp.temporal_down, self.vp.spatial_down).to(self.device).float()

    def train_step(self, batch: dict[str, Any], global_rows: int | None = None) -> dict[str, float]:
        """One step; under DDP the returned losses are means over the global batch of `global_rows`
        clips (each rank's loss weighted by its share) and the latent statistics sums over ranks."""
        self.model.train()
        video = self.prepare(batch["video"])
        for g in self.opt.param_groups:
            g["lr"] = self.tp.vae_lr * min(1.0, (self.step + 1) / max(1, self.tp.warmup_steps))
        with autocast(self.device):
            recon, mean, logvar = self.net(video, self.gen)
        post = Posterior(mean, logvar)
        loss, parts = vae_loss(recon, video, post, self.vp)
        rows = int(video.shape[0])
        total = global_rows or rows
        self.opt.zero_grad(set_to_none=True)
        self.dist.share_weighted(loss, rows, total).backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.tp.grad_clip)
        self.opt.step()
        self.step += 1
        new_stats: list[float] = []
        if self.tp.vae_steps - self.step < self.tp.loss_window:
            m = post.mean.detach().float()
            new_stats = [m.numel(), float(m.sum()), float((m * m).sum())]
        if self.dist.active:
            keys = sorted(parts)
            red = self.dist.all_reduce_sum([parts[k] * rows for k in keys] + new_stats)
            parts = {k: red[i] / total for i, k in enumerate(keys)}
            new_stats = red[len(keys):]
        if new_stats:
            self.latent_stats = [a + b for a, b in zip(self.latent_stats, new_stats)]
        return parts

    def _batches(self, source: BatchSource) -> Iterable[tuple[dict[str, Any], Any, int]]:
        state = self.loader_state
        while True:
            it = source(None, self.dist.local_batch(self.tp.vae_batch_size), state)
            got = False
            for batch, rows in self.dist.lockstep(it):
                got = True
                yield batch, it, rows
            if not got:
                return
            state = None

    def train(self, source: BatchSource, eval_source: Iterable[dict[str, Any]] | None = None, max_steps: int | None = None) -> dict[str, Any]:
        live = MetricsLog(self.metrics_dir, self.step if self.step else None) if self.metrics_dir and self.dist.is_main else None
        if self.dist.active and isinstance(self.net, _Reconstruct):
            self.net = self.dist.wrap(self.net)
        bar = tqdm(total=self.tp.vae_steps, initial=self.step, desc="vae", disable=not self.progress, unit="step")
        t0, n0 = time.perf_counter(), self.step
        recent: list[dict[str, float]] = []
        completed = True
        try:
            if self.step < self.tp.vae_steps:
                for batch, it, rows in self._batches(source):
                    if max_steps is not None and self.step >= max_steps:
                        completed = False
                        break
                    check_not_heldout(batch, self.heldout)
                    parts = self.train_step(batch, rows)
                    if self.clip_log:
                        self.clip_log.write(self.step, None, batch.get("clip_id", []))
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
                if self.step < self.tp.vae_steps and self.dist.is_main:
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
        """SSIM / PSNR of posterior-mean reconstructions of the first train.vae_eval_clips distinct
        clips of `eval_source` (the held-out windows).  Deterministic: every rank gets the same."""
        self.model.eval()
        seen: set[str] = set()
        ssims: list[float] = []
        psnrs: list[float] = []
        for batch in eval_source:
            for i, cid in enumerate(batch["clip_id"]):
                if len(seen) >= self.tp.vae_eval_clips or str(cid) in seen:
                    continue
                seen.add(str(cid))
                video = self.prepare(batch["video"][i : i + 1])
                recon = self.model.decode(self.model.encode(video).mean).float()
                ssims.append(float(ssim(recon, video)))
                psnrs.append(float(psnr(recon, video)))
            if len(seen) >= self.tp.vae_eval_clips:
                break
        if not ssims:
            return {"clips": 0, "reason": "no held-out clip in the eval source"}
        return {"clips": len(ssims), "ssim": sum(ssims) / len(ssims), "psnr": sum(psnrs) / len(psnrs)}
