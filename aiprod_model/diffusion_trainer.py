"""Curriculum trainer for the diffusion backbone: five phases from params.curriculum.phases.

Each phase has its own lr and batch size (the seed table scaled by train.lr_scale /
train.batch_scale) and step count; one AdamW optimizer carries its moments across phases.
Which data a phase trains on comes from the batch source: for the shard set,
`shards.curriculum.schedule` in `curriculum.order` (curriculum / shuffled / reversed: the same
clips and counts, steps, batch sizes and lrs, only the order of the tiers changes).  Clips of
the held-out split never reach a step: the loader leaves them out and the trainer refuses a
batch that holds one (`batches.HeldOutLeak`).
Per step: encode the clip with the frozen VAE (posterior mean x scale_factor), draw t / noise /
caption drop from the trainer's own generator, v-prediction MSE, grad clipping, EMA update.

Checkpoints (every train.checkpoint_every steps and at every phase end) hold the weights, EMA,
flattened optimizer state, the generator state and the loader state, so a killed run resumes
from the last checkpoint and continues exactly as if it had never stopped.  A run directory
whose checkpoint was made with other params (or another VAE) is not resumed but started afresh.

Under torchrun (aiprod_model.distributed) the backbone is wrapped in DDP, each rank trains on
its share of the phase's global batch with its own generator (seed + 1 + rank), losses are
logged as global means, and rank 0 alone writes checkpoints (holding every rank's loader and
generator state) and metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from aiprod_model.backbone import HybridBackbone
from aiprod_model.batches import BatchSource, check_not_heldout, fit_video, flow_curve, source_state
from aiprod_model.checkpoint import flatten_optimizer, load_checkpoint, read_manifest, unflatten_optimizer
from aiprod_model.diffusion import diffusion_loss, resample_curve
from aiprod_model.distributed import Dist, current, reset_run, restore_rank_state, save_run_checkpoint
from aiprod_model.presets import ResolvedModel, resolve
from aiprod_model.runtime import EMA, LossWindows, autocast, count_params, resolve_device, setup_torch, stable_hash
from aiprod_model.tracking import ClipLog, MetricsLog
from aiprod_model.vae import VideoVAE
from curation.config import Params

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Phase:
    index: int  # 0-based; phase number = index + 1
    tiers: dict[int, float]
    lr: float
    batch_size: int
    steps: int


def phase_plan(params: Params) -> list[Phase]:
    """The curriculum's per-phase lr / batch size / steps, scaled to this config."""
    tr = params.train
    return [
        Phase(i, dict(ph.tiers), ph.lr * tr.lr_scale, ph.scaled_batch_size(tr.batch_scale), ph.steps)
        for i, ph in enumerate(params.curriculum.phases)
    ]


def build_backbone(resolved: ResolvedModel, flow_bins: int) -> HybridBackbone:
    return HybridBackbone(resolved.backbone, resolved.vae.latent_channels, flow_bins)


class _Replica:
    """What diffusion_loss sees under DDP: calls go through the DDP wrapper, text_or_null to the module."""

    def __init__(self, wrapped: torch.nn.Module, module: HybridBackbone):
        self.wrapped, self.module = wrapped, module

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        return self.wrapped(*args, **kwargs)

    def text_or_null(self, text_emb: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return self.module.text_or_null(text_emb, keep)


class DiffusionTrainer:
    """`dist`: the torchrun session (default: aiprod_model.distributed.current(), single process
    outside one).  `clip_log`: a directory; when set, every rank appends the clip ids of each
    step's batch to clip_log/diffusion-rank<r>.jsonl (auditing the data split across ranks).
    `heldout` / `heldout_digest`: the held-out split's clip ids (refused in any batch) and its
    stable hash (part of the run hash)."""

    def __init__(self, params: Params, vae: VideoVAE, vae_manifest: dict[str, Any], out_dir: str | Path, metrics_dir: str | Path | None = None, progress: bool = True,
                 dist: Dist | None = None, clip_log: str | Path | None = None, heldout: frozenset[str] = frozenset(), heldout_digest: str = ""):
        self.params = params
        self.heldout = frozenset(heldout)
        self.heldout_digest = heldout_digest
        self.dist = dist or current()
        self.tp = params.train
        self.dp = params.model.diffusion
        self.out_dir = Path(out_dir)
        self.metrics_dir = Path(metrics_dir) if metrics_dir else None
        self.progress = progress and self.dist.is_main
        self.clip_log = ClipLog(clip_log, f"diffusion-rank{self.dist.rank}") if clip_log else None
        setup_torch(self.tp.seed, self.tp.threads)
        self.device = self.dist.device(resolve_device(self.tp.device))
        self.resolved = resolve(params.model)
        if self.resolved.vae != vae.params:
            raise ValueError("the VAE checkpoint was trained with another VAE config than params.model; re-run train_vae")
        self.vae = vae.to(self.device).eval().requires_grad_(False)
        self.scale_factor = float(vae_manifest["meta"].get("scale_factor") or 1.0)
        self.vae_ref = {"step": vae_manifest["step"], "sha256": vae_manifest["files"]["model"]["sha256"]}
        self.plan = phase_plan(params)
        self.model = build_backbone(self.resolved, self.dp.flow_bins).to(self.device)
        self.ema = EMA(self.model, self.tp.ema_decay)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=self.plan[0].lr if self.plan else 1e-4, betas=(0.9, 0.99), weight_decay=self.tp.weight_decay)
        self.gen = torch.Generator().manual_seed(self.tp.seed + 1 + self.dist.rank)
        self.net: torch.nn.Module | None = None  # the DDP wrapper (world > 1), made when training starts
        self.step = 0  # global optimisation steps done
        self.phase = 0  # index of the phase in progress
        self.phase_step = 0  # steps done inside it
        self.loader_state: dict[str, Any] | None = None
        self.windows = LossWindows(self.tp.loss_window)
        self.skipped: dict[str, str] = {}
        self.run_hash = stable_hash(
            {
                "model": self.resolved.to_json(),
                "diffusion": self.dp.model_dump(mode="json"),
                "train": self.tp.model_dump(mode="json"),
                "curriculum": params.curriculum.model_dump(mode="json"),
                "loader": params.loader.model_dump(mode="json"),
                "vae": self.vae_ref,
                "heldout": self.heldout_digest,
            }
        )
        if self.dp.flow_guidance and self.dp.flow_strength <= 0:
            log.warning("model.diffusion.flow_guidance is on but flow_strength is 0: the flow curve has no effect")

    # ------------------------------------------------------------------ checkpoints
    def state_files(self, trainer: dict[str, torch.Tensor] | None = None) -> dict[str, dict[str, torch.Tensor]]:
        opt_tensors, _ = flatten_optimizer(self.opt.state_dict())
        return {
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": opt_tensors,
            "trainer": trainer if trainer is not None else {"generator": self.gen.get_state()},
        }

    def meta(self, completed: bool = False, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        _, opt_meta = flatten_optimizer(self.opt.state_dict())
        return {
            "kind": "diffusion",
            "run_hash": self.run_hash,
            "completed": completed,
            "phase": self.phase,
            "phase_step": self.phase_step,
            "loader_state": self.loader_state,
            "optimizer": opt_meta,
            "ema_updates": self.ema.updates,
            "windows": self.windows.state(),
            "skipped_phases": self.skipped,
            "model": self.resolved.to_json(),
            "diffusion": self.dp.model_dump(mode="json"),
            "text_encoder": self.params.caption.text_encoder.model_dump(mode="json"),
            "sample_size": {"frames": self.params.loader.frames, "size": self.params.loader.size},
            "scale_factor": self.scale_factor,
            "vae": self.vae_ref,
            "curriculum_order": self.params.curriculum.order,
            "heldout": self.heldout_digest,
            "phases": [asdict(p) | {"tiers": {str(k): v for k, v in p.tiers.items()}} for p in self.plan],
            "params_count": count_params(self.model),
        } | (extra or {})

    def save(self, completed: bool = False) -> Path:
        """Checkpoint the run (collective under DDP: every rank's state is gathered, rank 0 writes)."""
        return save_run_checkpoint(self.dist, self.out_dir, self.step, self.tp.keep_checkpoints, self.loader_state, self.gen,
                                   lambda trainer, extra: (self.state_files(trainer), self.meta(completed, extra)))

    def try_resume(self) -> bool:
        """Resume from out_dir's newest checkpoint when it belongs to this run; else start clean."""
        manifest = read_manifest(self.out_dir)
        if manifest is None or manifest["meta"].get("run_hash") != self.run_hash:
            if manifest is not None and self.dist.is_main:
                log.info("%s: checkpoint from other params (run %s); starting afresh", self.out_dir, manifest["meta"].get("run_hash"))
            reset_run(self.dist, self.out_dir)
            return False
        files, manifest = load_checkpoint(self.out_dir)
        meta = manifest["meta"]
        self.model.load_state_dict(files["model"])
        self.ema.load_state_dict(files["ema"], meta["ema_updates"])
        self.opt.load_state_dict(unflatten_optimizer(files["optimizer"], meta["optimizer"]))
        self.step = int(manifest["step"])
        self.loader_state = restore_rank_state(self.dist, files["trainer"], meta, self.gen, self.tp.seed + 1, self.step)
        self.phase, self.phase_step = int(meta["phase"]), int(meta["phase_step"])
        self.windows.load(meta["windows"])
        self.skipped = dict(meta.get("skipped_phases", {}))
        log.info("resumed %s at step %d (phase %d, step %d in phase)", self.out_dir, self.step, self.phase + 1, self.phase_step)
        return True

    # ------------------------------------------------------------------ one step
    @torch.no_grad()
    def encode(self, video: torch.Tensor) -> torch.Tensor:
        video = fit_video(video, self.vae.temporal_down, self.vae.spatial_down * self.resolved.backbone.patch_size)
        with autocast(self.device):
            post = self.vae.encode(video.to(self.device, non_blocking=True).float())
        return post.mean.float() * self.scale_factor

    def train_step(self, batch: dict[str, Any], lr: float, global_rows: int | None = None) -> float:
        """One optimisation step; returns the loss (under DDP: the mean over the global batch of
        `global_rows` samples, each rank's loss weighted by its share so gradients match that mean)."""
        self.model.train()
        x0 = self.encode(batch["video"])
        text = batch["text_emb"].to(self.device).float()
        has_text = batch["has_text"].to(self.device).bool()
        flow = None
        if self.dp.flow_guidance:
            curve = flow_curve(batch)
            if curve is None:
                raise ValueError("model.diffusion.flow_guidance is on but the batches carry no 'flow_curve' (enable shard.include_flow_curve)")
            flow = resample_curve(curve, self.dp.flow_bins).to(self.device)
        for g in self.opt.param_groups:
            g["lr"] = lr * min(1.0, (self.step + 1) / max(1, self.tp.warmup_steps))
        net = self.model if self.net is None else _Replica(self.net, self.model)
        with autocast(self.device):
            loss = diffusion_loss(net, x0, text, has_text, self.gen, self.dp.cfg_drop, flow, self.dp.flow_strength)
        rows = int(x0.shape[0])
        total = global_rows or rows
        self.opt.zero_grad(set_to_none=True)
        self.dist.share_weighted(loss, rows, total).backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.tp.grad_clip)
        self.opt.step()
        self.ema.update(self.model)
        self.step += 1
        if self.dist.active:
            return self.dist.all_reduce_sum([float(loss.detach()) * rows])[0] / total
        return float(loss.detach())

    def wrap_model(self) -> None:
        """DDP-wrap the backbone once (world > 1).  The flow embedding is unused when flow
        conditioning is off, which DDP must be told (find_unused_parameters)."""
        if self.dist.active and self.net is None:
            flow_on = self.dp.flow_guidance and self.dp.flow_strength > 0
            self.net = self.dist.wrap(self.model, find_unused_parameters=not flow_on)

    # ------------------------------------------------------------------ loop
    def _batches(self, source: BatchSource, phase: Phase) -> Iterator[tuple[dict[str, Any], Iterable, int]]:
        """(batch, its source, rows in the global batch) of one phase, restarting the source (a new
        pass) when it runs out.  Under DDP each rank asks for its share of the phase's batch size
        and a pass ends on every rank as soon as one rank runs out (Dist.lockstep)."""
        state = self.loader_state
        while True:
            it = source(phase.index, self.dist.local_batch(phase.batch_size), state)
            got = False
            for batch, rows in self.dist.lockstep(it):
                got = True
                yield batch, it, rows
            if not got:
                reasons = self.dist.all_gather_object(getattr(it, "reason", None))
                self._empty_reason = next((r for r in reasons if r), None)
                return
            state = None

    def train(self, source: BatchSource, max_steps: int | None = None) -> dict[str, Any]:
        """Run (or resume) the curriculum. `max_steps` stops early (tests / interrupted-run drills)."""
        live = MetricsLog(self.metrics_dir, self.step if self.step else None) if self.metrics_dir and self.dist.is_main else None
        self.wrap_model()
        total = sum(p.steps for p in self.plan)
        bar = tqdm(total=total, initial=self.step, desc="diffusion", disable=not self.progress, unit="step")
        t0, n0 = time.perf_counter(), self.step
        recent: list[float] = []
        try:
            while self.phase < len(self.plan):
                phase = self.plan[self.phase]
                if self.phase_step < phase.steps:
                    ran_out = True
                    for batch, it, rows in self._batches(source, phase):
                        if max_steps is not None and self.step >= max_steps:
                            return self.finish(live, bar, t0, n0, completed=False)
                        check_not_heldout(batch, self.heldout)
                        loss = self.train_step(batch, phase.lr, rows)
                        if self.clip_log:
                            self.clip_log.write(self.step, phase.index + 1, batch.get("clip_id", []))
                        self.phase_step += 1
                        self.loader_state = source_state(it)
                        self.windows.add("loss", loss)
                        self.windows.add(f"phase{phase.index + 1}", loss)
                        recent.append(loss)
                        bar.update(1)
                        bar.set_postfix(phase=phase.index + 1, loss=f"{loss:.4f}")
                        if live and (self.step % self.tp.log_every == 0 or self.phase_step == phase.steps):
                            m = sum(recent) / len(recent)
                            live.log(self.step, {"loss": m, f"phase{phase.index + 1}/loss": m, "lr": self.opt.param_groups[0]["lr"]})
                            recent = []
                        if self.phase_step >= phase.steps:
                            ran_out = False
                            break
                        if self.step % self.tp.checkpoint_every == 0:
                            self.save()
                    if ran_out and self.phase_step < phase.steps:
                        why = getattr(self, "_empty_reason", None) or "the loader gave no batches"
                        self.skipped[str(phase.index + 1)] = f"{why} (after {self.phase_step} of {phase.steps} steps)"
                        if self.dist.is_main:
                            log.warning("phase %d: %s", phase.index + 1, self.skipped[str(phase.index + 1)])
                self.phase += 1
                self.phase_step = 0
                self.loader_state = None
                self.save(completed=self.phase >= len(self.plan))
            return self.finish(live, bar, t0, n0, completed=True)
        finally:
            bar.close()

    def finish(self, live: MetricsLog | None, bar, t0: float, n0: int, completed: bool) -> dict[str, Any]:
        elapsed = time.perf_counter() - t0
        summary: dict[str, Any] = {
            "steps": self.step,
            "completed": completed,
            "params": count_params(self.model),
            "skipped_phases": self.skipped,
            "loss_windows": {k: self.windows.summary(k) for k in sorted(self.windows.first)},
        }
        log.info("diffusion: %d steps in %.1fs (%.2f steps/s)", self.step - n0, elapsed, (self.step - n0) / max(elapsed, 1e-9))
        if live:
            overall = self.windows.summary("loss") or {}
            live.summary({"loss_first_window_mean": overall.get("first_window_mean"), "loss_last_window_mean": overall.get("last_window_mean"), "phases": {k: v for k, v in summary["loss_windows"].items() if k != "loss"}, "skipped_phases": self.skipped, "completed": completed})
            live.close()
        return summary
