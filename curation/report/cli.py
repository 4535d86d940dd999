"""`difficulty-report`: summarize the curriculum tiers in the terminal, as JSON, or as one HTML page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DESCRIPTION = """\
Summarize the curriculum tiers built by the pipeline (data/tiers.parquet) and the
files it rejected (data/rejects.parquet).

It prints a table per tier (clips, hours, difficulty
min/median/max, top tags, languages) followed by the excluded clips (tier 0)
and the rejected files by reason.

  --json [OUT|-]  the same summary as JSON (fixed key order, deterministic);
                  '-' or no value writes it to stdout (then no table is printed).
  --html OUT      one self-contained HTML page (no network, no scripts):
                  difficulty histogram by tier, motion vs CLIP scatter, hours
                  per tier, a contact sheet of sampled frames for a few clips
                  per tier (a clip that cannot be read shows its error instead),
                  the difficulty formula, the rejected files, a red banner
                  when any score came from random-init model weights, and the
                  held-out evaluation per tier when metrics/eval.json exists
                  (plus the curriculum ablation's table and loss-vs-step plot
                  when reports/ablation/ablation.json exists).

Paths default to params.yaml (paths.tiers_table, paths.rejects_table,
paths.metrics_dir, paths.shards_dir, paths.clips_dir); contact-sheet size comes
from its report: section. Clip files are only opened inside --clips-dir.
"""

EPILOG = """\
examples:
  difficulty-report
  difficulty-report --json report.json --html report.html
  difficulty-report --tiers other/tiers.parquet --rejects other/rejects.parquet --json -

exit status: 0 on success, 2 on a usage or input error (missing/invalid tiers table or params).
"""


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="difficulty-report", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--params", metavar="YAML", default=None, help="params file (default: params.yaml if it exists, else built-in defaults)")
    ap.add_argument("--tiers", metavar="PATH", help="tier table (default: paths.tiers_table)")
    ap.add_argument("--rejects", metavar="PATH", help="rejects table (default: paths.rejects_table; a missing file means no rejects)")
    ap.add_argument("--metrics-dir", metavar="DIR", help="stage metrics shown in the HTML (default: paths.metrics_dir)")
    ap.add_argument("--shard-manifest", metavar="PATH", help="shard manifest shown in the HTML (default: <paths.shards_dir>/manifest.json)")
    ap.add_argument("--clips-dir", metavar="DIR", help="contact-sheet clips must lie inside this directory (default: paths.clips_dir)")
    ap.add_argument("--json", metavar="OUT|-", nargs="?", const="-", default=None, help="write the summary as JSON to OUT, or to stdout with '-' / no value")
    ap.add_argument("--html", metavar="OUT", help="write the self-contained HTML report to OUT")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar while reading contact-sheet frames")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    from rich.console import Console

    from curation.config import Params, ParamsError, load_params
    from curation.io.atomic import write_text
    from curation.report.build import ReportPaths, build_html, build_summary, load
    from curation.report.load import ReportInputError
    from curation.report.outputs import summary_json
    from curation.report.terminal import print_summary

    err = Console(stderr=True, soft_wrap=True)
    try:
        if args.params is not None:
            params = load_params(args.params)
        elif Path("params.yaml").is_file():
            params = load_params("params.yaml")
        else:
            params = Params()
    except ParamsError as exc:
        err.print(str(exc), markup=False, highlight=False)
        return 2

    defaults = ReportPaths.from_params(params)
    paths = ReportPaths(
        tiers=Path(args.tiers) if args.tiers else defaults.tiers,
        rejects=Path(args.rejects) if args.rejects else defaults.rejects,
        metrics_dir=Path(args.metrics_dir) if args.metrics_dir else defaults.metrics_dir,
        shard_manifest=Path(args.shard_manifest) if args.shard_manifest else defaults.shard_manifest,
        clips_root=Path(args.clips_dir) if args.clips_dir else defaults.clips_root,
        eval_json=defaults.eval_json,
        ablation_json=defaults.ablation_json,
    )
    try:
        inputs = load(paths)
    except ReportInputError as exc:
        err.print(f"difficulty-report: {exc}", markup=False, highlight=False)
        return 2
    summary = build_summary(inputs, params.report, params.score.weights.model_dump())

    if args.html:
        write_text(args.html, build_html(inputs, summary, params.report, paths, progress=not args.no_progress))
        err.print(f"wrote {args.html}", markup=False, highlight=False)
    if args.json is not None:
        text = summary_json(summary)
        if args.json == "-":
            sys.stdout.write(text)
        else:
            write_text(args.json, text)
            err.print(f"wrote {args.json}", markup=False, highlight=False)
    if args.json != "-":  # the table goes to stdout unless stdout carries the JSON
        print_summary(summary, Console())
        from curation.report.evaluation import eval_lines, load_json

        ev = load_json(paths.eval_json)
        for line in eval_lines(ev) if ev is not None else []:
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
