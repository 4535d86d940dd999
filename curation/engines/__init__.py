"""Engines run a chain of `Stage`s over batches of items; stages never know which engine runs them.

`make_engine(params.engine)` picks the engine from `EngineParams`: ``local`` (process
pools, `curation.engines.local.LocalEngine`) or ``ray`` (Ray Data on a local Ray or a
cluster, `curation.engines.ray_engine.RayEngine`, needs the ``ray`` extra).  Both:

* call `Stage.setup()` once per worker, never for a run without items;
* run the chain with `curation.engines.chain` (same rows, same per-item error texts);
* give each declared `Resources` its own pool (GPU stages on GPU workers);
* yield one `BatchResult` per batch as batches complete (not in input order).

The per-item stage driver (`curation.driver.run_items`) is the usual caller; `light_engine`
picks the engine of a light side step (in-process on the local engine).  Pipelines
expose the engine on their command line with two helpers::

    add_engine_arguments(parser)                     # --engine, --workers, --gpus, --ray-address
    params = load_params(args.params, overrides=engine_overrides(args))
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from curation.config import EngineParams
from curation.stage import BatchResult, Row, Stage

ENGINE_NAMES = ("local", "ray")


class Engine(Protocol):
    def run(self, stages: Sequence[Stage], batches: Iterable[list[Row]]) -> Iterator[BatchResult]: ...


def make_engine(engine: EngineParams) -> Engine:
    if engine.name == "ray":
        from curation.engines.ray_engine import RayEngine

        return RayEngine(workers=engine.workers, address=engine.ray_address, gpus=engine.gpus)
    from curation.engines.local import LocalEngine

    return LocalEngine(workers=engine.workers, gpus=engine.gpus)


def light_engine(engine: EngineParams, stages: Sequence[Stage]) -> EngineParams:
    """The engine for a light step that a stage runs beside its main one (hashing files, embedding
    the distinct caption texts): on the local engine a CPU-only chain runs in the calling process,
    where a process pool would cost more to start (each worker imports torch and loads a model) and
    tear down than the work itself; a GPU chain keeps its GPU pool and Ray keeps its cluster."""
    if engine.name == "local" and not any(s.resources.uses_gpu for s in stages):
        return engine.model_copy(update={"workers": 1})
    return engine


def add_engine_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add --engine / --workers / --gpus / --ray-address; unset options keep params.yaml's `engine` block."""
    group = parser.add_argument_group("engine", "how per-item work runs (overrides the `engine` block of params.yaml)")
    group.add_argument("--engine", choices=ENGINE_NAMES, default=None, help="local: process pools on this machine; ray: Ray Data on a local Ray or a cluster (pip install '.[ray]')")
    group.add_argument("--workers", type=int, default=None, metavar="N", help="CPU workers: processes (local) or actors (ray) of each CPU stage")
    group.add_argument("--gpus", type=int, default=None, metavar="N", help="GPUs for GPU stages (local pool / private local Ray); default: the CUDA devices torch sees")
    group.add_argument("--ray-address", default=None, metavar="ADDR", help='Ray cluster to join ("auto", "HOST:6379", "ray://HOST:10001"); default: start a private local Ray')
    return parser


def engine_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The `load_params(..., overrides=...)` dict for the engine options given on the command line."""
    over: dict[str, Any] = {}
    for opt, key in (("engine", "name"), ("workers", "workers"), ("gpus", "gpus"), ("ray_address", "ray_address")):
        value = getattr(args, opt, None)
        if value is not None:
            over[key] = value
    return {"engine": over} if over else {}
