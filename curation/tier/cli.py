"""`curation tier`: run the tier stage from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml", help="params file (default params.yaml; built-in defaults when it does not exist)")
    parser.add_argument("--clips-table", help="overrides paths.clips_table")
    parser.add_argument("--captions-table", help="overrides paths.captions_table (missing: caption columns are null)")
    parser.add_argument("--scores-table", help="overrides paths.scores_table")
    parser.add_argument("--tiers-table", help="output table (overrides paths.tiers_table)")
    parser.add_argument("--metrics-dir", help="overrides paths.metrics_dir")
    parser.add_argument("--method", choices=["quantile", "hours"], help="overrides tier.method")
    parser.add_argument("--hours", type=float, nargs=4, metavar=("T1", "T2", "T3", "T4"), help="hours budgets of tiers 1-4 for method hours (overrides tier.hours)")
    parser.add_argument("--refinement-fraction", type=float, help="share of clips promoted to tier 5 (overrides tier.refinement_fraction)")


def main(args: argparse.Namespace) -> int:
    from curation.config import load_params, parse_params
    from curation.tier import run_tier

    names = {"clips_table": args.clips_table, "captions_table": args.captions_table, "scores_table": args.scores_table, "tiers_table": args.tiers_table, "metrics_dir": args.metrics_dir}
    paths = {k: v for k, v in names.items() if v}
    over: dict = {"paths": paths} if paths else {}
    tier: dict = {}
    if args.method:
        tier["method"] = args.method
    if args.hours:
        tier["hours"] = list(args.hours)
    if args.refinement_fraction is not None:
        tier["refinement_fraction"] = args.refinement_fraction
    if tier:
        over["tier"] = tier
    params = load_params(args.params, over) if Path(args.params).exists() else parse_params(over, "defaults")
    run_tier(params)
    return 0
