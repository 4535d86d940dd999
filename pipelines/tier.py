"""DVC stage `tier`: clips + captions + scores -> data/tiers.parquet (one joined row per clip), metrics/tiers.json.

Tier 5 (refinement) takes the highest-quality clips first (tier.refinement_fraction, or
tier.refinement_hours with method hours); the rest fill tiers 1-4 in difficulty order by
quantile (tier.quantiles) or by hours budgets (tier.hours, overflow to tier 4).
Near-duplicates and clips whose score failed get tier 0 with an excluded_reason.
Rules: curation/tier/assign.py.  Prints clips and hours per tier.
"""

from __future__ import annotations

import argparse

from curation.config import load_params
from curation.tier import run_tier


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipelines.tier", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    args = ap.parse_args(argv)
    run_tier(load_params(args.params))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
