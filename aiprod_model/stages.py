"""The DVC stages of the model, as library calls: train_vae, train_diffusion, evaluate, sample.

They wire the trainers to the streaming shard loader (shards.loader): the VAE reads every
tier (`make_tiers_loader`), the diffusion curriculum reads phase by phase
(`make_phase_loader`, with the batch size already scaled by train.batch_scale, in
curriculum.order).  Both leave out the held-out split (`heldout_split`), which the evaluate
stage scores (aiprod_model.evaluate).
Outputs: <models_dir>/vae, <models_dir>/diffusion (checkpoint run directories),
<metrics_dir>/train_vae, <metrics_dir>/train_diffusion (dvclive), <metrics_dir>/eval.json,
<reports_dir>/samples.
Both training stages run as one process or, under torchrun, as N data-parallel ranks
(aiprod_model.distributed.session); `max_steps` stops early without a final checkpoint (a
kill drill: the run resumes from its last checkpoint), `clip_log` records each rank's clips.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
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


def heldout_split(params: Params, shards_dir: str | Path | None = None):
    """The held-out split of the shard set (shards.curriculum.heldout_split with train.vae_holdout,
    train.holdout_min_per_tier): never trained on, scored by the evaluate stage."""
    from shards.loader import training_heldout
    from shards.manifest import read_manifest

    root = Path(shards_dir or params.paths.shards_dir)
    return training_heldout(params, read_manifest(root), root)


def shard_source(params: Params, shards_dir: str | Path | None = None, heldout=None) -> BatchSource:
    """BatchSource over the shard set: phase None = all tiers (VAE), else curriculum phase index
    (in params.curriculum.order).  Both leave out `heldout` (default: the params' split)."""
    from shards.curriculum import CurriculumError
    from shards.loader import make_phase_loader, make_tiers_loader

    root = Path(shards_dir or params.paths.shards_dir)
    held = heldout if heldout is not None else heldout_split(params, root)

    def make(phase_index: int | None, batch_size: int, state: dict[str, Any] | None) -> Iterable[Batch]:
        try:
            if phase_index is None:
                loader, _ = make_tiers_loader(params, root, state=state, batch_size=batch_size, heldout=held)
            else:
                loader, _ = make_phase_loader(params, phase_index, root, state=state, batch_size=batch_size, heldout=held)
        except CurriculumError as exc:
            log.warning("%s", exc)
            return EmptySource(str(exc))
        return loader

    return make


def heldout_eval_batches(params: Params, heldout, shards_dir: str | Path | None = None) -> list[Batch]:
    """train_vae's own SSIM/PSNR source: one fixed window of up to train.vae_eval_clips held-out clips (tiers in turn)."""
    from aiprod_model.evaluate import first_per_clip, heldout_batches, read_heldout

    root = Path(shards_dir or params.paths.shards_dir)
    items = read_heldout(params, heldout, root, max_per_tier=params.train.vae_eval_clips, windows=3)
    return heldout_batches(first_per_clip(items, params.train.vae_eval_clips), params.train.vae_batch_size)


def run_train_vae(params: Params, progress: bool = True, *, max_steps: int | None = None, clip_log: str | Path | None = None) -> dict[str, Any]:
    from aiprod_model.distributed import is_main_process, session
    from aiprod_model.vae_trainer import VAETrainer

    held = heldout_split(params)
    if is_main_process():
        log.info("%s", held.describe())
    with session(params.train.device) as dist:
        tr = VAETrainer(params, Path(params.paths.models_dir) / "vae", Path(params.paths.metrics_dir) / "train_vae", progress=progress, dist=dist,
                        clip_log=clip_log, heldout=held.clip_ids, heldout_digest=held.digest())
        tr.try_resume()
        return tr.train(shard_source(params, heldout=held), heldout_eval_batches(params, held), max_steps=max_steps)


def run_train_diffusion(params: Params, progress: bool = True, *, max_steps: int | None = None, clip_log: str | Path | None = None) -> dict[str, Any]:
    from aiprod_model.checkpoint import CheckpointError
    from aiprod_model.diffusion_trainer import DiffusionTrainer
    from aiprod_model.distributed import session
    from aiprod_model.runtime import resolve_device
    from aiprod_model.vae_trainer import load_vae

    models = Path(params.paths.models_dir)
    held = heldout_split(params)
    with session(params.train.device) as dist:
        vae, manifest = load_vae(models / "vae", dist.device(resolve_device(params.train.device)))
        if manifest["meta"].get("heldout") != held.digest():
            raise CheckpointError(f"{models / 'vae'}: the VAE was trained with another held-out split than this shard set's; re-run train_vae")
        tr = DiffusionTrainer(params, vae, manifest, models / "diffusion", Path(params.paths.metrics_dir) / "train_diffusion", progress=progress, dist=dist,
                              clip_log=clip_log, heldout=held.clip_ids, heldout_digest=held.digest())
        tr.try_resume()
        return tr.train(shard_source(params, heldout=held), max_steps=max_steps)


def run_evaluate(params: Params) -> dict[str, Any]:
    """The evaluate stage: held-out diffusion loss and VAE SSIM/PSNR per tier -> metrics/eval.json."""
    import torch

    from aiprod_model.evaluate import evaluate_run
    from aiprod_model.runtime import resolve_device, setup_torch
    from curation.io.atomic import write_json

    setup_torch(params.train.seed, params.train.threads)
    models = Path(params.paths.models_dir)
    held = heldout_split(params)
    with torch.inference_mode():
        doc = evaluate_run(params, held, params.paths.shards_dir, models / "vae", models / "diffusion", resolve_device(params.train.device))
    write_json(Path(params.paths.metrics_dir) / "eval.json", doc)
    return doc


def run_sample(params: Params) -> list[dict[str, Any]]:
    from aiprod_model.sampler import VideoGenerator, write_samples

    models = Path(params.paths.models_dir)
    gen = VideoGenerator(models / "diffusion", models / "vae", device=params.train.device, threads=params.train.threads)
    s = gen.default_settings(params)
    sp = params.sample
    return write_samples(gen, sp.prompts, s, Path(params.paths.reports_dir) / "samples", fps=sp.fps, display_size=sp.display_size, crf=sp.crf)
