"""Local engine: a process pool on one machine (the laptop default)."""

from __future__ import annotations

import multiprocessing as mp
import traceback
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

from tqdm.auto import tqdm

from curation.stage import Row, Stage, TaskResult

_WORKER_STAGE: Stage | None = None


def _init_worker(stage: Stage) -> None:
    global _WORKER_STAGE
    _WORKER_STAGE = stage
    stage.setup()


def _call(stage: Stage, index: int, task: Row) -> TaskResult:
    try:
        return TaskResult(index, task, stage.process(task))
    except Exception as exc:  # one bad task never stops the run
        tb = traceback.format_exc(limit=3)
        return TaskResult(index, task, [], f"{type(exc).__name__}: {exc}\n{tb}")


def _run_in_worker(index: int, task: Row) -> TaskResult:
    assert _WORKER_STAGE is not None
    return _call(_WORKER_STAGE, index, task)


class LocalEngine:
    def __init__(self, workers: int = 1):
        self.workers = max(1, int(workers))

    def run(self, stage: Stage, tasks: list[Row], progress: bool = True) -> Iterator[TaskResult]:
        bar = tqdm(total=len(tasks), desc=stage.name, unit="task", disable=not progress or not tasks, dynamic_ncols=True)
        try:
            if self.workers == 1 or len(tasks) <= 1:
                if tasks:
                    stage.setup()
                for i, task in enumerate(tasks):
                    res = _call(stage, i, task)
                    bar.update(1)
                    yield res
                return
            # spawn: torch/OpenCV thread pools do not survive fork reliably
            ctx = mp.get_context("spawn")
            n = min(self.workers, len(tasks))
            with ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_worker, initargs=(stage,)) as pool:
                futures = [pool.submit(_run_in_worker, i, t) for i, t in enumerate(tasks)]
                for fut in futures:
                    fut.add_done_callback(lambda _f: bar.update(1))
                for fut in futures:  # task order => deterministic outputs
                    yield fut.result()
        finally:
            bar.close()
