"""Tier stage: five curriculum tiers from the scores (plus tier 0 = excluded).

Public entry point: `run_tier(params, verbose=True)` joins `paths.clips_table`,
`paths.captions_table` and `paths.scores_table` into ONE row per clip, adds
tier, tier_name, tier_reason, excluded_reason, quality, quality_method,
tier_method, tier_params_hash, and writes `paths.tiers_table` (schema
`curation.schemas.TIERS`) and `<metrics_dir>/tiers.json` (clips and hours per tier).

Modules: `join` (the one joined row per clip), `quality` (the tier-5 score),
`assign` (the tier rules, documented there), `run` (drives it, prints the table).
"""

from curation.tier.assign import TIER_NAMES, assign_tiers
from curation.tier.run import TierSummary, run_tier

__all__ = ["TIER_NAMES", "TierSummary", "assign_tiers", "run_tier"]
