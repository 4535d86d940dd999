"""Local engine: process pools on one machine (the laptop default).

The chain of stages is split into segments of consecutive stages with the same
resource kind (CPU / GPU).  Each segment runs in its own spawn pool: CPU segments on
`workers` processes, a GPU segment on one process per GPU (`gpus`, default: the CUDA
devices torch sees), each pinned to its device with CUDA_VISIBLE_DEVICES.  So with a
GPU, decode keeps every CPU worker busy while CLIP runs batched on the GPU; on a
CPU-only machine the whole chain is one segment and runs fused in each worker.  A
single CPU segment with one worker runs in this process (no pool).

Batches are fed lazily with bounded in-flight work (memory stays flat for any number
of items) and results are yielded as batches COMPLETE, not in input order; the driver
orders at assembly.  A worker that dies (segfault, OOM kill) takes its pool with it:
the pool is restarted and the batches it was running are retried one at a time; a batch
that breaks its pool alone is split into single items, and an item that breaks its
pool alone gets an error ("worker process died") while the run goes on.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from curation.engines.chain import ItemState, run_chain, start_states, to_results
from curation.stage import BatchResult, Row, Stage, StageConfigError

_WORKER_STAGES: list[Stage] = []
_SETUP_ERROR: str | None = None


class WorkerSetupError(RuntimeError):
    """A stage's setup() failed in a worker (missing weights, a broken model dir ...): the run stops."""


def _init_worker(stages: list[Stage], device_counter, gpu_ids: list[int]) -> None:
    global _WORKER_STAGES, _SETUP_ERROR
    if device_counter is not None:  # one GPU per process of a GPU pool
        with device_counter.get_lock():
            slot = device_counter.value
            device_counter.value += 1
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu_ids[slot % len(gpu_ids)])
    _WORKER_STAGES = stages
    try:
        for s in stages:
            s.setup()
    except Exception as exc:  # reported by the first batch (a failing initializer would only break the pool)
        _SETUP_ERROR = f"{', '.join(s.name for s in stages)} worker setup failed: {type(exc).__name__}: {exc}"


def _run_segment(states: list[ItemState]) -> list[ItemState]:
    if _SETUP_ERROR is not None:
        raise WorkerSetupError(_SETUP_ERROR)
    return run_chain(_WORKER_STAGES, states)


def split_segments(stages: Sequence[Stage]) -> list[list[Stage]]:
    """Consecutive stages with the same resource kind (cpu / gpu)."""
    segs: list[list[Stage]] = []
    for s in stages:
        if segs and segs[-1][-1].resources.kind() == s.resources.kind():
            segs[-1].append(s)
        else:
            segs.append([s])
    return segs


def cuda_device_count() -> int:
    try:
        import torch

        return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
    except Exception:  # no torch / broken driver: no GPU
        return 0


@dataclass
class _Job:
    batch_id: int
    segment: int
    states: list[ItemState]
    part: int | None = None  # position in its batch, for a batch split into single items
    alone: bool = False  # ran as the only job of its pool (a crash is then its own)
    generation: int = 0  # of the pool it was submitted to


WORKER_DIED = "WorkerDied: the worker process died while processing this item (crash or out of memory)"


class LocalEngine:
    def __init__(self, workers: int = 1, gpus: int | None = None):
        self.workers = max(1, int(workers))
        self.gpus = gpus  # None: detect with torch when a GPU stage runs

    # ------------------------------------------------------------------ pools
    def _pool_size(self, seg: list[Stage]) -> int:
        if seg[0].resources.uses_gpu:
            per = max(1.0, max(s.resources.gpus for s in seg))
            return max(1, int(self._gpu_count() // per))
        return self.workers

    def _gpu_count(self) -> int:
        n = cuda_device_count() if self.gpus is None else int(self.gpus)
        if n <= 0:
            raise StageConfigError("a stage declares a GPU but no CUDA device is visible (set its device to cpu)")
        return n

    def _make_pool(self, seg: list[Stage]) -> ProcessPoolExecutor:
        ctx = mp.get_context("spawn")  # torch/OpenCV thread pools do not survive fork reliably
        n = self._pool_size(seg)
        if seg[0].resources.uses_gpu:
            ids = list(range(self._gpu_count()))
            return ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_worker, initargs=(seg, ctx.Value("i", 0), ids))
        return ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_worker, initargs=(seg, None, []))

    # ------------------------------------------------------------------ run
    def run(self, stages: Sequence[Stage], batches: Iterable[list[Row]]) -> Iterator[BatchResult]:
        """Run the chain over `batches`; yields one `BatchResult` per batch as it completes."""
        stages = list(stages)
        segments = split_segments(stages)
        if len(segments) == 1 and not segments[0][0].resources.uses_gpu and self.workers == 1:
            yield from self._run_in_process(stages, batches)
        else:
            yield from self._run_pools(segments, batches)

    def _run_in_process(self, stages: list[Stage], batches: Iterable[list[Row]]) -> Iterator[BatchResult]:
        ready = False
        for bid, tasks in enumerate(batches):
            if not ready:  # no tasks, no setup (no model loading)
                for s in stages:
                    s.setup()
                ready = True
            yield BatchResult(bid, to_results(run_chain(stages, start_states(tasks))))

    def _run_pools(self, segments: list[list[Stage]], batches: Iterable[list[Row]]) -> Iterator[BatchResult]:
        """Segment pools with bounded in-flight work.  After a pool breaks, the jobs it was running
        are SUSPECTS: they run one at a time, alone in their pool, so a crash names its culprit
        (a batch is then split into single items, and a single item that still crashes fails)."""
        nseg = len(segments)
        pools: list[ProcessPoolExecutor | None] = [None] * nseg
        generation = [0] * nseg
        sizes = [self._pool_size(seg) for seg in segments]
        queued: list[deque[_Job]] = [deque() for _ in range(nseg)]
        suspects: list[deque[_Job]] = [deque() for _ in range(nseg)]
        running = [0] * nseg
        cap = 2 * sum(sizes)  # batches in flight or queued over all segments: memory stays flat
        source = iter(enumerate(batches))
        inflight: dict[Future, _Job] = {}
        splits: dict[int, dict[int, ItemState]] = {}  # batch id -> position -> final state (split batches)
        split_sizes: dict[int, int] = {}
        ready: list[BatchResult] = []

        def submit(job: _Job) -> None:
            k = job.segment
            if pools[k] is None:
                pools[k] = self._make_pool(segments[k])
            job.generation = generation[k]
            running[k] += 1
            inflight[pools[k].submit(_run_segment, job.states)] = job

        def dispatch() -> None:
            for k in range(nseg):
                if suspects[k]:
                    if running[k] == 0:
                        job = suspects[k].popleft()
                        job.alone = True
                        submit(job)
                    continue
                while queued[k] and running[k] < 2 * sizes[k]:
                    submit(queued[k].popleft())

        def finished(job: _Job, states: list[ItemState]) -> None:
            if job.segment + 1 < nseg:
                queued[job.segment + 1].append(_Job(job.batch_id, job.segment + 1, states, job.part))
            elif job.part is None:
                ready.append(BatchResult(job.batch_id, to_results(states)))
            else:
                got = splits.setdefault(job.batch_id, {})
                got[job.part] = states[0]
                if len(got) == split_sizes[job.batch_id]:
                    n = split_sizes.pop(job.batch_id)
                    del splits[job.batch_id]
                    ready.append(BatchResult(job.batch_id, to_results([got[i] for i in range(n)])))

        def crashed(job: _Job) -> None:
            k = job.segment
            if job.generation == generation[k]:  # the first failure seen from this pool: replace it
                old, pools[k] = pools[k], None
                generation[k] += 1
                if old is not None:
                    old.shutdown(wait=False, cancel_futures=True)
            if not job.alone:
                suspects[k].append(_Job(job.batch_id, k, job.states, job.part))
            elif len(job.states) > 1 and job.part is None:  # this batch kills its worker: find the item
                split_sizes[job.batch_id] = len(job.states)
                for i, st in enumerate(job.states):
                    suspects[k].appendleft(_Job(job.batch_id, k, [st], i))
            else:  # this item kills its worker on its own: it fails, the run goes on
                finished(job, [ItemState([], WORKER_DIED)])

        exhausted = completed = False
        try:
            while True:
                while not exhausted and len(inflight) + sum(map(len, queued)) + sum(map(len, suspects)) < cap:
                    nxt = next(source, None)
                    if nxt is None:
                        exhausted = True
                    else:
                        queued[0].append(_Job(nxt[0], 0, start_states(nxt[1])))
                dispatch()
                if not inflight:
                    break
                done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                for fut in done:
                    job = inflight.pop(fut)
                    running[job.segment] -= 1
                    try:
                        states = fut.result()
                    except BrokenProcessPool:
                        crashed(job)
                        continue
                    finished(job, states)
                while ready:
                    yield ready.pop(0)
            completed = True
        finally:
            for p in pools:
                if p is None:
                    continue
                if not completed:  # interrupted (error, Ctrl-C, consumer gone): do not wait for running batches
                    for proc in list((getattr(p, "_processes", None) or {}).values()):
                        proc.terminate()
                p.shutdown(wait=completed, cancel_futures=True)
