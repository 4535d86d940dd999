"""Build the report from its inputs: summary, plots, contact sheet, HTML; and the DVC stage's files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curation.config import Params, ReportParams
from curation.io.atomic import write_text
from curation.report.load import ReportInputs, load_inputs
from curation.report.outputs import write_metrics, write_summary_json
from curation.report.summary import difficulty_formula, summarize


@dataclass(frozen=True)
class ReportPaths:
    """Where the report reads from. clips_root: clip files must lie inside it (None: anywhere)."""

    tiers: Path
    rejects: Path | None = None
    metrics_dir: Path | None = None
    shard_manifest: Path | None = None
    clips_root: Path | None = None
    base_dir: Path = Path(".")
    eval_json: Path | None = None  # the evaluate stage's metrics/eval.json (section shown when it exists)
    ablation_json: Path | None = None  # benchmarks/bench_curriculum.py's result (reports/ablation/ablation.json)

    @classmethod
    def from_params(cls, params: Params, base_dir: str | Path = ".") -> ReportPaths:
        base = Path(base_dir)
        p = params.paths
        return cls(
            tiers=base / p.tiers_table,
            rejects=base / p.rejects_table,
            metrics_dir=base / p.metrics_dir,
            shard_manifest=base / p.shards_dir / "manifest.json",
            clips_root=base / p.clips_dir,
            base_dir=base,
            eval_json=base / p.metrics_dir / "eval.json",
            ablation_json=base / p.reports_dir / "ablation" / "ablation.json",
        )


def load(paths: ReportPaths) -> ReportInputs:
    return load_inputs(paths.tiers, paths.rejects, paths.metrics_dir, paths.shard_manifest)


def build_summary(inputs: ReportInputs, params: ReportParams, difficulty_weights: dict[str, float] | None = None) -> dict[str, Any]:
    """The summary dict; `difficulty_weights` (params.score.weights) is shown next to the formula."""
    return summarize(inputs, params, formula=difficulty_formula(), difficulty_weights=difficulty_weights)


def build_plots(inputs: ReportInputs, summary: dict[str, Any]) -> dict[str, bytes]:
    from curation.report import plots  # matplotlib: imported only when a page is built

    clip_random = any(m["column"] == "clip_weights" for m in summary["weights"]["random_init_models"])
    return {
        "difficulty_histogram": plots.difficulty_histogram(summary),
        "hours_per_tier": plots.hours_per_tier(summary),
        "flow_vs_clip": plots.flow_vs_clip(inputs.clips, clip_random),
    }


def build_html(inputs: ReportInputs, summary: dict[str, Any], params: ReportParams, paths: ReportPaths, progress: bool = True) -> str:
    from curation.report.contact_sheet import build_contact_sheet
    from curation.report.evaluation import evaluation_section, load_json
    from curation.report.html_page import render_html

    sheet = build_contact_sheet(
        inputs.clips,
        per_tier=params.contact_sheet_clips,
        frames=params.contact_sheet_frames,
        thumb_width=params.thumb_width,
        base_dir=paths.base_dir,
        allowed_root=paths.clips_root,
        progress=progress,
    )
    sources = {"tiers": str(paths.tiers)}
    if paths.rejects is not None:
        sources["rejects"] = str(paths.rejects)
    extra = evaluation_section(load_json(paths.eval_json), load_json(paths.ablation_json))
    return render_html(summary, build_plots(inputs, summary), sheet, params.contact_sheet_frames, params.max_listed_rejects, sources,
                       extra_sections=[extra] if extra else None)


def write_stage_outputs(params: Params, base_dir: str | Path = ".", progress: bool = True) -> dict[str, Path]:
    """The DVC `report` stage: reports/difficulty.{html,json}, metrics/report.json, metrics/difficulty_hist.csv."""
    base = Path(base_dir)
    paths = ReportPaths.from_params(params, base)
    inputs = load(paths)
    summary = build_summary(inputs, params.report, params.score.weights.model_dump())
    reports = base / params.paths.reports_dir
    metrics = base / params.paths.metrics_dir
    out = {
        "html": reports / "difficulty.html",
        "json": reports / "difficulty.json",
        "metrics": metrics / "report.json",
        "histogram": metrics / "difficulty_hist.csv",
    }
    write_text(out["html"], build_html(inputs, summary, params.report, paths, progress=progress))
    write_summary_json(summary, out["json"])
    write_metrics(summary, out["metrics"], out["histogram"])
    return out
