"""Engines run a `Stage` over tasks; stages never know which engine runs them.

`run_stage(stage, tasks, params.engine)` picks the engine from `EngineParams`:
``local`` (a process pool, `curation.engines.local.LocalEngine`) or ``ray``
(Ray Data, `curation.engines.ray_engine.RayEngine`, needs the ``ray`` extra).
Both call `Stage.setup()` once per worker, turn per-task exceptions into
`TaskResult.error` and yield results in task order, so outputs are identical.

Pipelines expose the engine on their command line with two helpers::

    add_engine_arguments(parser)                     # --engine, --workers, --ray-address
    params = load_params(args.params, overrides=engine_overrides(args))
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from typing import Any

from curation.config import EngineParams
from curation.stage import Row, Stage, TaskResult

ENGINE_NAMES = ("local", "ray")


def run_stage(stage: Stage, tasks: Iterable[Row], engine: EngineParams, progress: bool = True) -> Iterator[TaskResult]:
    """Run `stage` over `tasks` with the configured engine; results come back in task order."""
    tasks = list(tasks)
    if engine.name == "ray":
        from curation.engines.ray_engine import RayEngine

        return RayEngine(workers=engine.workers, address=engine.ray_address).run(stage, tasks, progress=progress)
    from curation.engines.local import LocalEngine

    return LocalEngine(workers=engine.workers).run(stage, tasks, progress=progress)


def add_engine_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add --engine / --workers / --ray-address; unset options keep params.yaml's `engine` block."""
    group = parser.add_argument_group("engine", "how per-item work runs (overrides the `engine` block of params.yaml)")
    group.add_argument("--engine", choices=ENGINE_NAMES, default=None, help="local: process pool on this machine; ray: Ray Data (pip install '.[ray]')")
    group.add_argument("--workers", type=int, default=None, metavar="N", help="worker processes (local) or actors, one CPU each (ray)")
    group.add_argument("--ray-address", default=None, metavar="ADDR", help='Ray cluster to join ("auto", "ray://host:10001"); default: start a private local Ray')
    return parser


def engine_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The `load_params(..., overrides=...)` dict for the engine options given on the command line."""
    over: dict[str, Any] = {}
    for opt, key in (("engine", "name"), ("workers", "workers"), ("ray_address", "ray_address")):
        value = getattr(args, opt, None)
        if value is not None:
            over[key] = value
    return {"engine": over} if over else {}
