"""Ray engine: run a `Stage` over tasks with Ray Data (one actor per worker).

Same contract as `curation.engines.local.LocalEngine`:

* `Stage.setup()` runs once per worker: the stage is wrapped in a callable class
  that `Dataset.map_batches` runs on a fixed-size actor pool
  (`ray.data.ActorPoolStrategy(size=workers)`), and the class constructor calls
  `setup()`.
* Each task goes through the very same `_call` as the local engine, so an
  exception in `process()` becomes `TaskResult.error` (same text) and the other
  tasks complete.
* Results are yielded in task order (a small reorder buffer on the driver),
  whatever order Ray Data finishes them in.

Values are never converted: every task and every result travels through Ray
Data's Arrow blocks as one pickled `bytes` cell, so dicts with lists, tuples,
None, ints vs floats, numpy scalars ... come back exactly as the stage made
them, and the rows equal the local engine's rows.

Without an address the engine starts a private local Ray with `num_cpus=workers`
(no dashboard, worker logs not forwarded) and shuts it down when the run ends;
with an address ("auto", "ray://...") it joins that cluster and leaves it
running.  If Ray is already initialised in this process it is used as is.
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
from collections.abc import Iterator
from typing import Any

from tqdm.auto import tqdm

from curation.engines.local import _call
from curation.stage import Row, Stage, TaskResult

#: upper bound on Ray Data blocks: one task per block (best load balancing for
#: heavy per-video tasks) up to this many tasks, then several tasks per block
MAX_BLOCKS = 2000
#: object store of the private local Ray: tasks and rows are small pickles
LOCAL_OBJECT_STORE_BYTES = 256 * 1024 * 1024

_PICKLE_PROTOCOL = pickle.HIGHEST_PROTOCOL


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("engine.name=ray needs Ray Data: pip install 'aiprod-curation[ray]' (or pip install 'ray[data]')") from exc
    return ray


class _StageWorker:
    """Callable class for `map_batches`: one instance per Ray actor.

    `_stage_blob` (the cloudpickled stage) is set on a per-run subclass made by
    `_worker_class`; the constructor unpickles the stage and runs `setup()` once;
    each call processes a batch of pickled `(index, task)` cells and returns
    pickled `(rows, error)` cells.
    """

    _stage_blob: bytes = b""

    def __init__(self) -> None:
        from ray import cloudpickle

        self.stage: Stage = cloudpickle.loads(self._stage_blob)
        self.stage.setup()

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        out_index: list[int] = []
        out_result: list[bytes] = []
        for blob in batch.column("task").to_pylist():
            index, task = pickle.loads(blob)
            res = _call(self.stage, index, task)
            out_index.append(index)
            out_result.append(pickle.dumps((res.rows, res.error), protocol=_PICKLE_PROTOCOL))
        return pa.table({"index": pa.array(out_index, pa.int64()), "result": pa.array(out_result, pa.binary())})


def _worker_class(stage: Stage) -> type[_StageWorker]:
    """A `_StageWorker` subclass that carries `stage` (cloudpickled) in its class.

    cloudpickle ships the stage by value where plain pickling would need its
    class to be importable on the worker (e.g. a stage defined in a script's
    `__main__`); importable stage classes are still referenced by name.
    """
    from ray import cloudpickle

    name = f"StageWorker_{type(stage).__name__}"
    return type(name, (_StageWorker,), {"_stage_blob": cloudpickle.dumps(stage), "__module__": __name__})


class RayEngine:
    def __init__(self, workers: int = 1, address: str | None = None):
        self.workers = max(1, int(workers))
        self.address = address

    # ------------------------------------------------------------------ ray lifecycle
    def _ensure_ray(self, ray: Any) -> bool:
        """Initialise Ray if needed; True when this engine started it (and must stop it)."""
        if ray.is_initialized():
            return False
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline machines: no usage reporting
        common = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING, configure_logging=True)
        if self.address:
            ray.init(address=self.address, **common)
        else:
            # workers import what the driver imports (stages defined in scripts' packages,
            # tests ...), like the local engine's spawn pool which inherits sys.path
            pythonpath = os.pathsep.join(p for p in sys.path if p and os.path.exists(p))
            ray.init(
                num_cpus=self.workers,
                num_gpus=0,
                object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                runtime_env={"env_vars": {"PYTHONPATH": pythonpath}},
                **common,
            )
        return True

    # ------------------------------------------------------------------ run
    def run(self, stage: Stage, tasks: list[Row], progress: bool = True) -> Iterator[TaskResult]:
        tasks = list(tasks)
        if not tasks:  # like the local engine: no tasks, no setup, no Ray
            return
        ray = _import_ray()
        from ray.data import ActorPoolStrategy, DataContext

        bar = tqdm(total=len(tasks), desc=stage.name, unit="task", disable=not progress, dynamic_ncols=True)
        started = self._ensure_ray(ray)
        try:
            ctx = DataContext.get_current()
            quiet = {"enable_progress_bars": False, "print_on_execution_start": False}  # our own tqdm bar counts tasks
            saved = {k: getattr(ctx, k) for k in quiet if hasattr(ctx, k)}
            for k in saved:
                setattr(ctx, k, quiet[k])
            # ... so Ray Data's "progress bars disabled" notice is noise
            logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
            try:
                items = [{"task": pickle.dumps((i, t), protocol=_PICKLE_PROTOCOL)} for i, t in enumerate(tasks)]
                ds = ray.data.from_items(items, override_num_blocks=min(len(tasks), MAX_BLOCKS))
                n_actors = min(self.workers, len(tasks))
                ds = ds.map_batches(
                    _worker_class(stage),
                    batch_size=1,  # one task per call: heavy per-video work, fine-grained balancing
                    batch_format="pyarrow",  # bytes cells stay bytes (no numpy fixed-width strings)
                    compute=ActorPoolStrategy(size=n_actors, max_tasks_in_flight_per_actor=2),
                    num_cpus=1,
                )
            finally:
                for k, v in saved.items():
                    setattr(ctx, k, v)

            pending: dict[int, tuple[list[Row], str | None]] = {}
            next_index = 0
            for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                for index, blob in zip(batch.column("index").to_pylist(), batch.column("result").to_pylist()):
                    pending[int(index)] = pickle.loads(blob)
                    bar.update(1)
                while next_index in pending:  # task order => deterministic outputs
                    rows, error = pending.pop(next_index)
                    yield TaskResult(next_index, tasks[next_index], rows, error)
                    next_index += 1
            if next_index != len(tasks):
                missing = sorted(set(range(next_index, len(tasks))) - set(pending))
                raise RuntimeError(f"Ray engine lost {len(missing)} task result(s) (first: {missing[:5]})")
        finally:
            bar.close()
            if started:
                ray.shutdown()
