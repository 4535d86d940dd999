"""Engines run a `Stage` over tasks; stages never know which engine runs them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from curation.config import EngineParams
from curation.stage import Row, Stage, TaskResult


def run_stage(stage: Stage, tasks: Iterable[Row], engine: EngineParams, progress: bool = True) -> Iterator[TaskResult]:
    """Run `stage` over `tasks` with the configured engine; results come back in task order."""
    tasks = list(tasks)
    if engine.name == "ray":
        from curation.engines.ray_engine import RayEngine

        return RayEngine(workers=engine.workers, address=engine.ray_address).run(stage, tasks, progress=progress)
    from curation.engines.local import LocalEngine

    return LocalEngine(workers=engine.workers).run(stage, tasks, progress=progress)
