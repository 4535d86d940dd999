"""The quality score that picks tier 5 (refinement on the highest-quality clips).

* "clip-caption-similarity": the cosine between the caption's CLIP text embedding
  and the clip's mean CLIP image embedding (`caption_similarity`), used when the
  CLIP weights are real and the clip has a caption: clips whose pictures match
  their text best are the ones worth a last high-quality pass.
* "sharpness-exposure": the FALLBACK when CLIP cannot judge (random-init weights,
  or no caption):

      quality = (1 - exp(-sharpness / 300)) x exposure x (1 - n_temporal_noise)

  with sharpness the variance of the Laplacian, exposure in 0..1 (see
  `curation.score.signals`) and n_temporal_noise the normalized flow-warp
  residual (`curation.score.difficulty`).  The last factor is there because
  sensor noise also has a high Laplacian variance: without it a clip of pure
  noise ranks as the "sharpest".  It ranks sharp, well-exposed, stable footage
  first and knows nothing about content.

Ranking for tier 5 is by (group, -quality, clip_id): with real CLIP weights,
captioned clips (group 0, CLIP similarity) come before uncaptioned ones (group 1,
fallback), because the two scores are on different scales.  With random-init
weights every clip is in the fallback group and the tier reason, the
`quality_method` column and metrics/tiers.json all say so.
"""

from __future__ import annotations

import math
from typing import Any

CLIP_SIMILARITY = "clip-caption-similarity"
FALLBACK = "sharpness-exposure"
SHARPNESS_SCALE = 300.0
RANDOM_INIT = "random-init"


def fallback_quality(sharpness: float | None, exposure: float | None, n_temporal_noise: float | None) -> float | None:
    vals = (sharpness, exposure, n_temporal_noise)
    if any(v is None or not math.isfinite(v) for v in vals):
        return None
    sharp = 1.0 - math.exp(-max(0.0, sharpness) / SHARPNESS_SCALE)
    return sharp * max(0.0, min(1.0, exposure)) * (1.0 - max(0.0, min(1.0, n_temporal_noise)))


def clip_quality(row: dict[str, Any]) -> tuple[float | None, str, int]:
    """(quality, quality_method, rank group) of one scored clip."""
    real = (row.get("clip_weights") or RANDOM_INIT) != RANDOM_INIT
    sim = row.get("caption_similarity")
    captioned = bool((row.get("caption") or "").strip())
    if real and captioned and sim is not None and math.isfinite(sim):
        return float(sim), CLIP_SIMILARITY, 0
    why = "CLIP weights are random-init" if not real else "no caption"
    return fallback_quality(row.get("sharpness"), row.get("exposure"), row.get("n_temporal_noise")), f"{FALLBACK} (fallback: {why})", 1
