"""The difficulty report: per-tier summary (terminal table, JSON), a self-contained HTML page, DVC metrics.

Public API::

    from curation.report import ReportPaths, load, build_summary, build_html, write_stage_outputs

`build_summary` returns the one dict every output is made from (see `summary.py`).
"""

from curation.report.build import ReportPaths, build_html, build_plots, build_summary, load, write_stage_outputs
from curation.report.load import ReportInputError, ReportInputs

__all__ = [
    "ReportInputError",
    "ReportInputs",
    "ReportPaths",
    "build_html",
    "build_plots",
    "build_summary",
    "load",
    "write_stage_outputs",
]
