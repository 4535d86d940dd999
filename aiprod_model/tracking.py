"""Training metrics through dvclive: <dir>/metrics.json (summary) and <dir>/plots/metrics/*.tsv (history).

`Live(dir=..., save_dvc_exp=False, dvcyaml=None)`: the stage's outputs are declared in the
project's dvc.yaml, so dvclive writes no dvc.yaml of its own and saves no experiment.  On resume
the history rows after the checkpoint step are dropped first, so replayed steps are not doubled.
No timestamps are logged (re-runs give identical files).  `ClipLog` (optional) records which clips
each step trained on.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from curation.io.atomic import write_text


def truncate_history(live_dir: str | Path, max_step: int) -> None:
    """Drop rows with step > max_step from every dvclive metric history file."""
    for tsv in sorted((Path(live_dir) / "plots" / "metrics").rglob("*.tsv")):
        rows = list(csv.reader(io.StringIO(tsv.read_text(encoding="utf-8")), delimiter="\t"))
        if not rows or "step" not in rows[0]:
            continue
        col = rows[0].index("step")
        kept = [rows[0]] + [r for r in rows[1:] if r and int(float(r[col])) <= max_step]
        buf = io.StringIO()
        csv.writer(buf, delimiter="\t", lineterminator="\n").writerows(kept)
        write_text(tsv, buf.getvalue())


class MetricsLog:
    def __init__(self, live_dir: str | Path, resume_step: int | None = None):
        from dvclive import Live

        self.dir = Path(live_dir)
        if resume_step is not None:
            truncate_history(self.dir, resume_step)
        self.live = Live(dir=str(self.dir), resume=resume_step is not None, save_dvc_exp=False, dvcyaml=None, report=None)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self.live.step = step
        for name, val in sorted(metrics.items()):
            self.live.log_metric(name, float(val))
        self.live.make_summary()

    def summary(self, values: dict[str, Any]) -> None:
        self.live.summary.update(values)
        self.live.make_summary()

    def close(self) -> None:
        self.live.end()


class ClipLog:
    """Append-only JSON-lines record of the clips each training step used: <dir>/<name>.jsonl,
    one {"step", "phase", "clips"} line per step (phase null for the VAE).  Off by default;
    the trainers write it when given `clip_log` (pipelines: --clip-log DIR), one file per rank,
    to audit how the data is split across ranks."""

    def __init__(self, log_dir: str | Path, name: str):
        self.path = Path(log_dir) / f"{name}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, step: int, phase: int | None, clips: Any) -> None:
        line = json.dumps({"step": int(step), "phase": phase, "clips": [str(c) for c in clips]})
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
