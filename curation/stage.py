"""The stage contract: what a per-item step declares, and what an engine runs.

A `Stage` turns one task (a plain dict: a source video, a clip row ...) into zero
or more output rows (plain dicts).  It declares

* `name`       for progress bars, logs and summaries;
* `resources`  what ONE worker needs (`Resources(cpus, gpus, memory_gb)`): the Ray
               engine passes them to its actors (a GPU stage's actors request GPUs),
               the local engine sizes its pools by them;
* `batch_size` how many items one `process_batch` call gets (a GPU stage batches
               across items; the stage driver persists each finished batch).

Stages know nothing about how they are run.  An engine (`curation.engines`) maps a
CHAIN of stages over batches of items: the rows stage k returns for an item are the
tasks stage k+1 gets for it, and the item's result is what the last stage returns.
So score is two stages, a CPU one (decode, flow, cheap signals, frames) and a CLIP
one (batched embeddings), that an engine may run in different processes (a GPU pool)
or fuse into one worker (CPU only).

Heavy resources (models) are created in `setup()`, which an engine calls once per
worker before the first batch, never in `__init__`, so a stage object stays small
and picklable.  `check()` runs in the driver before any work and raises
`StageConfigError` for a setup that cannot work (e.g. `device: cuda` without CUDA).

Per-item failures that are about the *input* (a corrupt video, a missing sidecar) are
the stage's business: it returns a row that says so.  Anything that escapes
`process()` is caught and reported as `ItemResult.error` for that item only (a failing
batch is retried item by item), so one bad input never stops the run.

The per-item DRIVER contract on top of this (input table and key, output schemas,
reuse keys, persisted parts, error rows) is `curation.driver.ItemStageSpec`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]


class StageConfigError(RuntimeError):
    """A stage cannot run with this configuration (raised by `Stage.check()` before any work)."""


@dataclass(frozen=True)
class Resources:
    """What one worker of a stage needs."""

    cpus: float = 1.0
    gpus: float = 0.0
    memory_gb: float = 0.0  # 0: not declared (Ray does not reserve memory for it)

    @property
    def uses_gpu(self) -> bool:
        return self.gpus > 0

    def kind(self) -> str:
        return "gpu" if self.uses_gpu else "cpu"


class Stage(ABC):
    #: short name, used for progress bars, logs and summaries
    name: str = "stage"
    #: what one worker needs
    resources: Resources = Resources()
    #: items per `process_batch` call
    batch_size: int = 1

    def check(self) -> None:
        """Validate the configuration in the driver, before any work (cheap; no model loading)."""

    def setup(self) -> None:
        """Load per-worker resources (models, tokenizers). Called once per worker."""

    @abstractmethod
    def process(self, task: Row) -> list[Row]:
        """Process one task and return its output rows (possibly none)."""

    def process_batch(self, tasks: list[Row]) -> list[list[Row]]:
        """Rows for each task, in task order.  Override to batch across items (GPU stages)."""
        return [self.process(t) for t in tasks]


@dataclass
class ItemResult:
    """What an engine returns for one item: its rows, or the error that stopped it."""

    index: int  # the item's position in the batch the engine was given
    rows: list[Row] = field(default_factory=list)
    error: str | None = None


@dataclass
class BatchResult:
    batch_id: int
    items: list[ItemResult]
    node: str = "local"  # where the batch's last stage ran (a Ray node id, or "local")
