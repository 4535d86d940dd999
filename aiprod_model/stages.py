"""The three DVC stages of the model, as library calls: train_vae, train_diffusion, sample.

They wire the trainers to the streaming shard loader (shards.loader): the VAE reads every
tier (`make_tiers_loader`), the diffusion curriculum reads phase by phase
(`make_phase_loader`, with the batch size already scaled by train.batch_scale).
Outputs: <models_dir>/vae, <models_dir>/diffusion (checkpoint run directories),
<metrics_dir>/train_vae, <metrics_dir>/train_diffusion (dvclive), <reports_dir>/samples.
Both training stages run as one process or, under torchrun, as N data-parallel ranks
(aiprod_model.distributed.session); `max_steps` stops early without a final checkpoint (a
kill drill: the run resumes from its last checkpoint), `clip_log` records each rank's clips.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import Any

from aiprod_model.batches import Batch, BatchSource
from curation.config import Params

log = logging.getLogger(__name__)


class EmptySource(list):
    """What a batch source returns when the shard set cannot serve the request; `reason` says why."""

    def __init__(self, reason: str):
        super().__init__()
        self.reason = reason


def shard_source(params: Params, shards_dir: str | Path | None = None) -> BatchSource:
    """BatchSource over the shard set: phase None = all tiers (VAE), else curriculum phase index."""
    from shards.curriculum import CurriculumError
    from shards.loader import make_phase_loader, make_tiers_loader

    root = Path(shards_dir or params.paths.shards_dir)

    def make(phase_index: int | None, batch_size: int, state: dict[str, Any] | None) -> Iterable[Batch]:
        try:
            if phase_index is None:
                loader, _ = make_tiers_loader(params, root, state=state, batch_size=batch_size)
            else:
                loader, _ = make_phase_loader(params, phase_index, root, state=state, batch_size=batch_size)
        except CurriculumError as exc:
            log.warning("%s", exc)
            return EmptySource(str(exc))
        return loader

    return make


def eval_batches(params: Params, shards_dir: str | Path | None = None) -> Iterable[Batch]:
    """A bounded pass over every tier for the VAE's held-out SSIM/PSNR (twice the sample count)."""
    from shards.curriculum import CurriculumError
    from shards.loader import make_tiers_loader
    from shards.manifest import read_manifest

    root = Path(shards_dir or params.paths.shards_dir)
    total = int(read_manifest(root)["totals"]["samples"])
    bs = params.train.vae_batch_size
    try:
        loader, _ = make_tiers_loader(params, root, batch_size=bs, loader_overrides={"seed": params.loader.seed + 1})
    except CurriculumError as exc:
        log.warning("VAE eval: %s", exc)
        return []
    return islice(loader, 2 * math.ceil(total / bs))


def vae_holdout(params: Params) -> float:
    """The VAE's held-out threshold over the tiered clips of paths.tiers_table (the clips the
    shard set holds): train.vae_holdout, raised so that at least one clip is held out."""
    from aiprod_model.batches import holdout_threshold

    table = Path(params.paths.tiers_table)
    if not table.exists():
        log.warning("%s not found: held-out clips by hash only (train.vae_holdout=%s)", table, params.train.vae_holdout)
        return params.train.vae_holdout
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    t = pq.read_table(table, columns=["clip_id", "tier"])
    ids = t.filter(pc.greater(t["tier"], 0))["clip_id"].to_pylist()
    return holdout_threshold(ids, params.train.vae_holdout)


def run_train_vae(params: Params, progress: bool = True, *, max_steps: int | None = None, clip_log: str | Path | None = None) -> dict[str, Any]:
    from aiprod_model.distributed import session
    from aiprod_model.vae_trainer import VAETrainer

    with session(params.train.device) as dist:
        tr = VAETrainer(params, Path(params.paths.models_dir) / "vae", Path(params.paths.metrics_dir) / "train_vae", progress=progress, dist=dist,
                        clip_log=clip_log, holdout=vae_holdout(params))
        tr.try_resume()
        return tr.train(shard_source(params), eval_batches(params), max_steps=max_steps)


def run_train_diffusion(params: Params, progress: bool = True, *, max_steps: int | None = None, clip_log: str | Path | None = None) -> dict[str, Any]:
    from aiprod_model.diffusion_trainer import DiffusionTrainer
    from aiprod_model.distributed import session
    from aiprod_model.runtime import resolve_device
    from aiprod_model.vae_trainer import load_vae

    models = Path(params.paths.models_dir)
    with session(params.train.device) as dist:
        vae, manifest = load_vae(models / "vae", dist.device(resolve_device(params.train.device)))
        tr = DiffusionTrainer(params, vae, manifest, models / "diffusion", Path(params.paths.metrics_dir) / "train_diffusion", progress=progress, dist=dist, clip_log=clip_log)
        tr.try_resume()
        return tr.train(shard_source(params), max_steps=max_steps)


def run_sample(params: Params) -> list[dict[str, Any]]:
    from aiprod_model.sampler import VideoGenerator, write_samples

    models = Path(params.paths.models_dir)
    gen = VideoGenerator(models / "diffusion", models / "vae", device=params.train.device, threads=params.train.threads)
    s = gen.default_settings(params)
    sp = params.sample
    return write_samples(gen, sp.prompts, s, Path(params.paths.reports_dir) / "samples", fps=sp.fps, display_size=sp.display_size, crf=sp.crf)
