"""One stage abstraction for every curation step.

A stage turns one task (a plain dict: a video path, a clip row ...) into zero or
more output rows (plain dicts).  Stages know nothing about how they are run:
an engine (`curation.engines`) maps them over tasks on a local process pool or
on Ray Data.  Heavy resources (models) are created in `setup()`, which every
engine calls once per worker before the first task, never in `__init__`, so a
stage object stays small and picklable.

Per-task failures that are about the *input* (a corrupt video, a missing
sidecar) are the stage's business: it returns a row that says so.  Anything
that escapes `process()` is caught by the engine and reported as a
`TaskResult.error`, so one bad input never stops the run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]


class Stage(ABC):
    #: short name, used for progress bars and logs
    name: str = "stage"

    def setup(self) -> None:
        """Load per-worker resources (models, tokenizers). Called once per worker."""

    @abstractmethod
    def process(self, task: Row) -> list[Row]:
        """Process one task and return its output rows (possibly none)."""


@dataclass
class TaskResult:
    index: int
    task: Row
    rows: list[Row] = field(default_factory=list)
    error: str | None = None
