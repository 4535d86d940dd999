"""Data-parallel training under torchrun (DDP): process group, rank helpers, per-rank state.

`torchrun --nproc_per_node=N -m pipelines.train_diffusion` starts N processes with RANK,
WORLD_SIZE, LOCAL_RANK (and MASTER_ADDR / MASTER_PORT) in their environment.  `session(device)`
reads them, initialises the default process group -- backend nccl when the training device
is CUDA (each process on cuda:LOCAL_RANK), gloo on the CPU -- and destroys it at the end.
Without that environment (or with WORLD_SIZE=1) nothing is initialised and every helper of
`Dist` is the single-process identity, so a plain `python -m pipelines.train_diffusion`
runs exactly as before.

What the trainers do with it:
* the trainable model is wrapped in DistributedDataParallel (`Dist.wrap`) when world > 1;
* a phase's batch size is the GLOBAL batch: rank r trains on `Dist.local_batch(B)` samples
  (floor(B / W), one more for the first B mod W ranks; at least 1, so B < W trains on W);
  each rank's loss is weighted by its share of the global batch, so the averaged gradient is
  the gradient of the mean loss over the global batch, whatever the split;
* `Dist.lockstep` ends a pass of the loader on every rank as soon as one rank runs out (one
  all-reduce per batch), so all ranks run the same steps and "phase skipped" is decided alike;
* logged losses are all-reduced means over the global batch; only rank 0 writes checkpoints,
  metrics and manifests, the others wait at a barrier;
* the trainer's generator (t / noise / caption drop) is seeded with seed + rank, and every
  rank's generator and loader state is gathered into the checkpoint (`pack_rank_states`).
  Resuming under the same world size restores each rank's own state; under another world
  size the loader of the phase in progress starts afresh (logged) (`unpack_rank_state`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

log = logging.getLogger(__name__)

T = TypeVar("T")
_END = object()


def env_ranks() -> tuple[int, int, int]:
    """(rank, world size, local rank) from the torchrun environment; (0, 1, 0) without it."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return 0, 1, 0
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    return rank, world, int(os.environ.get("LOCAL_RANK", rank))


def is_main_process() -> bool:
    """True on rank 0 (and in a plain single-process run)."""
    return env_ranks()[0] == 0


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str | None = None  # None: no process group (single process)

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """The device this rank trains on: cuda:LOCAL_RANK under DDP on CUDA, else `device`."""
        if self.active and device.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return device

    def local_batch(self, global_batch: int) -> int:
        """This rank's share of a global batch: floor(B / W), +1 for the first B mod W ranks; at least 1."""
        if not self.active:
            return global_batch
        return max(1, global_batch // self.world + (1 if self.rank < global_batch % self.world else 0))

    # ---------------------------------------------------------------- collectives
    def _comm_device(self) -> torch.device:
        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")

    def all_reduce_sum(self, values: Iterable[float]) -> list[float]:
        """Element-wise sum over ranks (float64); the values themselves in a single process."""
        vals = [float(v) for v in values]
        if not self.active:
            return vals
        import torch.distributed as td

        t = torch.tensor(vals, dtype=torch.float64, device=self._comm_device())
        td.all_reduce(t)
        return t.tolist()

    def all_reduce_mean(self, value: float) -> float:
        return self.all_reduce_sum([value])[0] / self.world

    def all_gather_object(self, obj: Any) -> list[Any]:
        """[obj of rank 0, obj of rank 1, ...] on every rank (picklable objects)."""
        if not self.active:
            return [obj]
        import torch.distributed as td

        out: list[Any] = [None] * self.world
        td.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as td

            if self.backend == "nccl":
                td.barrier(device_ids=[self.local_rank])
            else:
                td.barrier()

    def lockstep(self, batches: Iterable[T], rows=None) -> Iterator[tuple[T, int]]:
        """(batch, rows in the global batch) while EVERY rank still has a batch.

        One all-reduce per batch of [ranks without a batch, rows]: the pass ends on all ranks
        as soon as one rank's iterable is exhausted.  `rows(batch)` counts a batch's samples
        (default: len of batch["video"]).  Single process: the batches as they come."""
        count = rows or (lambda b: int(b["video"].shape[0]))
        if not self.active:
            for b in batches:
                yield b, count(b)
            return
        it = iter(batches)
        while True:
            b = next(it, _END)
            missing, total = self.all_reduce_sum([b is _END, 0 if b is _END else count(b)])
            if missing:
                return
            yield b, int(total)  # type: ignore[misc]

    def share_weighted(self, loss: torch.Tensor, rows: int, global_rows: int) -> torch.Tensor:
        """The loss to back-propagate on this rank: weighted by its share of the global batch, so
        DDP's gradient average equals the gradient of the mean loss over the global batch."""
        return loss * (rows * self.world / global_rows) if self.active else loss

    def wrap(self, model: nn.Module, find_unused_parameters: bool = False) -> nn.Module:
        """DistributedDataParallel(model) when world > 1, else the model itself."""
        if not self.active:
            return model
        from torch.nn.parallel import DistributedDataParallel

        on_cuda = next(model.parameters()).device.type == "cuda"
        return DistributedDataParallel(model, device_ids=[self.local_rank] if on_cuda else None, find_unused_parameters=find_unused_parameters)


SINGLE = Dist()
_current: Dist = SINGLE


def current() -> Dist:
    """The Dist of the active `session` (single process outside one)."""
    return _current


@contextlib.contextmanager
def session(device: str = "auto") -> Iterator[Dist]:
    """Initialise the process group from the torchrun environment for the block, then destroy it.

    `device` is params.train.device: CUDA -> nccl (this process on cuda:LOCAL_RANK), else gloo.
    No torchrun environment / WORLD_SIZE=1: yields the single-process Dist, initialises nothing."""
    global _current
    rank, world, local = env_ranks()
    if world <= 1:
        yield SINGLE
        return
    import torch.distributed as td

    from aiprod_model.runtime import resolve_device

    dev = resolve_device(device)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local)
    created = not td.is_initialized()
    if created:
        td.init_process_group(backend=backend)
    d = Dist(rank=td.get_rank(), world=td.get_world_size(), local_rank=local, backend=td.get_backend())
    log.info("distributed: rank %d of %d (local rank %d), backend %s", d.rank, d.world, d.local_rank, d.backend)
    prev, _current = _current, d
    try:
        yield d
    finally:
        _current = prev
        if created:
            td.destroy_process_group()


# --------------------------------------------------------------------------- per-rank checkpoint state
def generator_key(rank: int) -> str:
    """Name of rank r's generator state in trainer.safetensors ("generator" for rank 0, as single-process)."""
    return "generator" if rank == 0 else f"generator.rank{rank}"


def pack_rank_states(dist: Dist, loader_state: dict[str, Any] | None, gen: torch.Generator) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Gather every rank's (loader state, generator) -> (trainer tensors, extra meta).  Collective.

    Single process: ({"generator": state}, {}) -- the checkpoint is unchanged.  World W > 1:
    tensors "generator", "generator.rank1", ...; meta {"world_size": W, "loader_states": [...]}
    (meta "loader_state" stays rank 0's)."""
    gathered = dist.all_gather_object((loader_state, gen.get_state()))
    tensors = {generator_key(r): g for r, (_, g) in enumerate(gathered)}
    extra = {} if not dist.active else {"world_size": dist.world, "loader_states": [ls for ls, _ in gathered]}
    return tensors, extra


def unpack_rank_state(dist: Dist, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> tuple[torch.Tensor | None, dict[str, Any] | None]:
    """This rank's (generator state, loader state) from a checkpoint.

    Same world size: exactly what this rank saved.  Other world size: the loader state is None
    (the phase in progress restarts its stream) and the generator is this rank's saved one if
    the old run had this rank, else None (the caller seeds a fresh one)."""
    saved = int(meta.get("world_size", 1))
    if saved == dist.world:
        loader = meta["loader_state"] if saved == 1 else meta["loader_states"][dist.rank]
        return tensors[generator_key(dist.rank)], loader
    if dist.is_main:
        log.warning("checkpoint was written by %d process(es), this run has %d: the loader of the phase in progress starts afresh", saved, dist.world)
    return tensors.get(generator_key(dist.rank)), None


def save_run_checkpoint(dist: Dist, out_dir: str | Path, step: int, keep: int, loader_state: dict[str, Any] | None, gen: torch.Generator,
                        build: Callable[[dict[str, torch.Tensor], dict[str, Any]], tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]]) -> Path:
    """Checkpoint a trainer's run (collective under DDP): every rank's loader and generator state is
    gathered (`pack_rank_states`), rank 0 writes `build(trainer tensors, extra meta)` -> (files, meta),
    the others wait.  Returns the checkpoint directory."""
    from aiprod_model.checkpoint import checkpoint_dir, write_checkpoint

    trainer, extra = pack_rank_states(dist, loader_state, gen)
    if dist.is_main:
        files, meta = build(trainer, extra)
        write_checkpoint(out_dir, step, files, meta, keep=keep)
    dist.barrier()
    return checkpoint_dir(out_dir, step)


def reset_run(dist: Dist, out_dir: str | Path) -> None:
    """Start a run directory afresh: rank 0 clears it once every rank has read its manifest."""
    from aiprod_model.checkpoint import reset_run_dir

    dist.barrier()
    if dist.is_main:
        reset_run_dir(out_dir)
    dist.barrier()


def restore_rank_state(dist: Dist, tensors: dict[str, torch.Tensor], meta: dict[str, Any], gen: torch.Generator, seed: int, step: int) -> dict[str, Any] | None:
    """Set `gen` to this rank's saved state (`unpack_rank_state`), or seed it from (seed, rank, step)
    when the checkpoint has none for this rank; returns this rank's loader state (or None)."""
    from aiprod_model.runtime import stable_hash

    gen_state, loader_state = unpack_rank_state(dist, tensors, meta)
    if gen_state is not None:
        gen.set_state(gen_state)
    else:
        gen.manual_seed(int(stable_hash([seed, dist.rank, step]), 16))
    return loader_state
