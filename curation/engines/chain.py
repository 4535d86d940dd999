"""Run a chain of stages over one batch of items, isolating failures per item.

Shared by every engine, so a batch gives the same rows and the same error texts
whichever engine (and however many processes) ran it.

* The rows stage k returns for an item are the tasks stage k+1 gets for it; the
  item's result is the concatenation of what the last stage returned.
* Each stage sees the batch's rows in chunks of its own `batch_size`
  (`Stage.process_batch`).
* An exception in a chunk is retried item by item, so only the item that raised gets
  `error` (its type, message and a short traceback); later stages skip it.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field

from curation.stage import ItemResult, Row, Stage


@dataclass
class ItemState:
    rows: list[Row] = field(default_factory=list)  # tasks for the next stage, or the final rows
    error: str | None = None


class _Failed:
    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message


def format_error(exc: BaseException) -> str:
    tb = traceback.format_exc(limit=3)
    return f"{type(exc).__name__}: {exc}\n{tb}"


def _one(stage: Stage, task: Row) -> list[Row] | _Failed:
    try:
        out = stage.process_batch([task])
        if len(out) != 1:
            raise RuntimeError(f"{stage.name}.process_batch returned {len(out)} results for 1 task")
        return list(out[0])
    except Exception as exc:  # one bad task never stops the run
        return _Failed(format_error(exc))


def call_stage(stage: Stage, tasks: Sequence[Row]) -> list[list[Row] | _Failed]:
    """Results of `stage` for `tasks`, in order, chunked by `stage.batch_size`."""
    out: list[list[Row] | _Failed] = []
    step = max(1, int(stage.batch_size))
    for s in range(0, len(tasks), step):
        chunk = list(tasks[s : s + step])
        if len(chunk) == 1:
            out.append(_one(stage, chunk[0]))
            continue
        try:
            res = stage.process_batch(chunk)
            if len(res) != len(chunk):
                raise RuntimeError(f"{stage.name}.process_batch returned {len(res)} results for {len(chunk)} tasks")
            out.extend(list(r) for r in res)
        except Exception:  # find the item that fails: the others still get their rows
            out.extend(_one(stage, t) for t in chunk)
    return out


def apply_stage(stage: Stage, states: list[ItemState]) -> list[ItemState]:
    flat = [(i, row) for i, st in enumerate(states) if st.error is None for row in st.rows]
    results = call_stage(stage, [row for _, row in flat])
    new = [ItemState([], st.error) for st in states]
    for (i, _), res in zip(flat, results, strict=True):
        if new[i].error is not None:
            continue
        if isinstance(res, _Failed):
            new[i].error, new[i].rows = res.message, []
        else:
            new[i].rows.extend(res)
    return new


def start_states(tasks: Sequence[Row]) -> list[ItemState]:
    return [ItemState([t]) for t in tasks]


def run_chain(stages: Sequence[Stage], states: list[ItemState]) -> list[ItemState]:
    for stage in stages:
        states = apply_stage(stage, states)
    return states


def to_results(states: list[ItemState]) -> list[ItemResult]:
    return [ItemResult(i, st.rows if st.error is None else [], st.error) for i, st in enumerate(states)]
