"""Machine-readable outputs of a report summary: the JSON document, DVC metrics and the plot CSV."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from curation.io.atomic import write_json, write_text


def summary_json(summary: dict[str, Any]) -> str:
    """The summary as JSON: key order fixed by the summary's construction, no NaN, trailing newline."""
    return json.dumps(summary, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def report_metrics(summary: dict[str, Any]) -> dict[str, Any]:
    """Small metrics for `dvc metrics show`: per-tier clips/hours and the random-init flag."""
    tot = summary["totals"]
    return {
        "clips": tot["clips"],
        "hours": tot["hours"],
        "tiered_clips": tot["tiered_clips"],
        "excluded_clips": tot["excluded_clips"],
        "rejected_files": tot["rejected_files"],
        "random_init": summary["weights"]["random_init"],
        "tiers": {str(t["tier"]): {"clips": t["clips"], "hours": t["hours"]} for t in summary["tiers"]},
    }


def histogram_csv(summary: dict[str, Any]) -> str:
    """`difficulty_bin,clips` rows (bin centres over 0..1) for `dvc plots`."""
    hist = summary["difficulty_histogram"]
    lines = ["difficulty_bin,clips"]
    lines += [f"{c:.6g},{n}" for c, n in zip(hist["centers"], hist["clips"], strict=True)]
    return "\n".join(lines) + "\n"


def write_summary_json(summary: dict[str, Any], dest: str | Path) -> Path:
    return write_text(dest, summary_json(summary))


def write_metrics(summary: dict[str, Any], metrics_json: str | Path, hist_csv: str | Path) -> tuple[Path, Path]:
    return write_json(metrics_json, report_metrics(summary)), write_text(hist_csv, histogram_csv(summary))
