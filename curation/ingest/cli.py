"""`curation ingest`: run the ingest stage from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from curation.engines import add_engine_arguments, engine_overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml", help="params file (default params.yaml; built-in defaults when it does not exist)")
    parser.add_argument("--raw", help="input folder (overrides paths.raw)")
    parser.add_argument("--clips-dir", help="output folder of clip files (overrides paths.clips_dir)")
    parser.add_argument("--clips-table", help="overrides paths.clips_table")
    parser.add_argument("--rejects-table", help="overrides paths.rejects_table")
    parser.add_argument("--metrics-dir", help="overrides paths.metrics_dir")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_engine_arguments(parser)


def main(args: argparse.Namespace) -> int:
    from curation.config import load_params, parse_params
    from curation.ingest import run_ingest

    paths = {k: v for k, v in {"raw": args.raw, "clips_dir": args.clips_dir, "clips_table": args.clips_table, "rejects_table": args.rejects_table, "metrics_dir": args.metrics_dir}.items() if v}
    over: dict = {"paths": paths} if paths else {}
    over.update(engine_overrides(args))
    if Path(args.params).exists():
        params = load_params(args.params, over)
    else:
        params = parse_params(over, "defaults")
    run_ingest(params, progress=not args.no_progress)
    return 0
