"""DVC stage `report`: reports/difficulty.{html,json}, metrics/report.json, metrics/difficulty_hist.csv."""

from __future__ import annotations

import argparse

from curation.config import load_params
from curation.report import write_stage_outputs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipelines.report", description=__doc__)
    ap.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    args = ap.parse_args(argv)
    for name, path in write_stage_outputs(load_params(args.params)).items():
        print(f"report: wrote {name}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
