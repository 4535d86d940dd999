"""Ray engine: run a chain of stages over batches with Ray Data, on one machine or a cluster.

Same contract as `curation.engines.local.LocalEngine`:

* the chain is split into segments of consecutive stages with the same resource kind
  (`local.split_segments`); each segment is one `Dataset.map_batches` over a fixed-size
  actor pool (`ActorPoolStrategy`), and every actor requests the segment's declared
  resources: `num_cpus`, `num_gpus` (a GPU stage's actors get GPUs), `memory`;
* the actor constructor calls `setup()` once; each call runs the segment over one
  batch with the very same `chain.run_chain` as the local engine, so rows and error
  texts are identical;
* batches stream through the segments (Ray Data's streaming executor: a GPU segment
  starts on the first batch the CPU segment finishes) and come back as they complete,
  each with the id of the Ray node that ran its first segment.

Values are never converted: every batch travels through Ray Data's Arrow blocks as one
pickled `bytes` cell, so rows come back exactly as the stage made them.

Pool sizes: a CPU segment gets `workers` actors; a GPU segment one actor per
`resources.gpus` GPUs of the cluster (or of `gpus` for a private local Ray).  Without an
address the engine starts a private local Ray with `num_cpus` = the actors' CPUs and
`num_gpus` = `gpus` (default: the CUDA devices torch sees), no dashboard, and shuts it
down at the end; with an address ("auto", "ray://host:10001", "host:6379") it joins
that cluster and leaves it running.  If Ray is already initialised in this process it
is used as is (tests start Ray with logical GPUs that way).
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from curation.engines.chain import run_chain, start_states, to_results
from curation.engines.local import cuda_device_count, split_segments
from curation.stage import BatchResult, Row, Stage, StageConfigError

#: object store of the private local Ray (batches of frames between segments stream through it)
LOCAL_OBJECT_STORE_BYTES = 512 * 1024 * 1024

_PICKLE_PROTOCOL = pickle.HIGHEST_PROTOCOL


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("engine.name=ray needs Ray Data: pip install 'aiprod-curation[ray]' (or pip install 'ray[data]')") from exc
    return ray


class _SegmentWorker:
    """Callable class for `map_batches`: one instance per Ray actor.

    `_blob` (the cloudpickled stages of the segment) is set on a per-run subclass made
    by `_worker_class`; the constructor unpickles the stages and runs `setup()` once;
    each call runs the segment over pickled `(batch_id, states, node)` cells.
    """

    _blob: bytes = b""
    _first: bool = False  # the first segment records the node it ran on

    def __init__(self) -> None:
        import ray
        from ray import cloudpickle

        self.stages: list[Stage] = cloudpickle.loads(self._blob)
        for s in self.stages:
            s.setup()
        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        out = []
        for blob in batch.column("batch").to_pylist():
            bid, states, node = pickle.loads(blob)
            states = run_chain(self.stages, states)
            out.append(pickle.dumps((bid, states, self.node if self._first else node), protocol=_PICKLE_PROTOCOL))
        return pa.table({"batch": pa.array(out, pa.binary())})


def _worker_class(stages: list[Stage], first: bool) -> type[_SegmentWorker]:
    """A `_SegmentWorker` subclass that carries `stages` (cloudpickled: stages defined in a
    script's `__main__` work too; importable stage classes are referenced by name)."""
    from ray import cloudpickle

    name = "Segment_" + "_".join(type(s).__name__ for s in stages)
    return type(name, (_SegmentWorker,), {"_blob": cloudpickle.dumps(stages), "_first": first, "__module__": __name__})


class RayEngine:
    def __init__(self, workers: int = 1, address: str | None = None, gpus: int | None = None):
        self.workers = max(1, int(workers))
        self.address = address
        self.gpus = gpus  # logical GPUs of a private local Ray; None: the CUDA devices torch sees

    # ------------------------------------------------------------------ ray lifecycle
    def _ensure_ray(self, ray: Any, cpus: int, gpus: int) -> bool:
        """Initialise Ray if needed; True when this engine started it (and must stop it)."""
        if ray.is_initialized():
            return False
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline machines: no usage reporting
        common = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING, configure_logging=True)
        if self.address:
            ray.init(address=self.address, **common)
        else:
            # workers import what the driver imports (stages defined in tests, scripts ...),
            # like the local engine's spawn pool which inherits sys.path
            pythonpath = os.pathsep.join(p for p in sys.path if p and os.path.exists(p))
            ray.init(num_cpus=cpus, num_gpus=gpus, object_store_memory=LOCAL_OBJECT_STORE_BYTES, runtime_env={"env_vars": {"PYTHONPATH": pythonpath}}, **common)
        return True

    def _gpus_available(self, ray: Any) -> int:
        if ray.is_initialized():
            return int(ray.cluster_resources().get("GPU", 0))
        return cuda_device_count() if self.gpus is None else int(self.gpus)

    def _actors(self, seg: list[Stage], gpus: int) -> int:
        if not seg[0].resources.uses_gpu:
            return self.workers
        per = max(s.resources.gpus for s in seg)
        n = int(math.floor(gpus / per + 1e-9))
        if n < 1:
            raise StageConfigError(f"stage {seg[0].name} declares {per:g} GPU(s) per worker, but the Ray cluster has {gpus} GPU(s)")
        return n

    # ------------------------------------------------------------------ run
    def run(self, stages: Sequence[Stage], batches: Iterable[list[Row]]) -> Iterator[BatchResult]:
        items = [pickle.dumps((bid, start_states(tasks), ""), protocol=_PICKLE_PROTOCOL) for bid, tasks in enumerate(batches)]
        if not items:  # like the local engine: no tasks, no setup, no Ray
            return
        ray = _import_ray()
        from ray.data import ActorPoolStrategy, DataContext

        segments = split_segments(list(stages))
        started = False
        if not ray.is_initialized():
            gpus = 0 if self.address else (cuda_device_count() if self.gpus is None else int(self.gpus))
            cpus = sum(self._actors(seg, gpus) * max(1, math.ceil(max(s.resources.cpus for s in seg))) for seg in segments) if not self.address else 0
            started = self._ensure_ray(ray, cpus, gpus)
        try:
            gpus = self._gpus_available(ray)
            ctx = DataContext.get_current()
            quiet = {"enable_progress_bars": False, "print_on_execution_start": False}  # the driver has its own bar
            saved = {k: getattr(ctx, k) for k in quiet if hasattr(ctx, k)}
            for k in saved:
                setattr(ctx, k, quiet[k])
            logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
            try:
                ds = ray.data.from_items([{"batch": b} for b in items], override_num_blocks=len(items))
                for k, seg in enumerate(segments):
                    res = seg[0].resources
                    kw: dict[str, Any] = {"num_cpus": max(s.resources.cpus for s in seg)}
                    if res.uses_gpu:
                        kw["num_gpus"] = max(s.resources.gpus for s in seg)
                    mem = max(s.resources.memory_gb for s in seg)
                    if mem > 0:
                        kw["memory"] = int(mem * 1024**3)
                    ds = ds.map_batches(
                        _worker_class(seg, first=k == 0),
                        batch_size=1,  # one driver batch per call
                        batch_format="pyarrow",  # bytes cells stay bytes
                        compute=ActorPoolStrategy(size=min(self._actors(seg, gpus), len(items)), max_tasks_in_flight_per_actor=2),
                        **kw,
                    )
            finally:
                for k, v in saved.items():
                    setattr(ctx, k, v)
            seen = 0
            for block in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                for blob in block.column("batch").to_pylist():
                    bid, states, node = pickle.loads(blob)
                    seen += 1
                    yield BatchResult(int(bid), to_results(states), node)
            if seen != len(items):
                raise RuntimeError(f"Ray engine lost {len(items) - seen} of {len(items)} batch result(s)")
        finally:
            if started:
                ray.shutdown()

