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

import numpy as np

from curation.labels import RANDOM_INIT

CLIP_SIMILARITY = "clip-caption-similarity"
FALLBACK = "sharpness-exposure"
SHARPNESS_SCALE = 300.0


def fallback_quality_array(sharpness: np.ndarray, exposure: np.ndarray, n_temporal_noise: np.ndarray) -> np.ndarray:
    """Elementwise fallback quality (NaN where an input is missing)."""
    with np.errstate(invalid="ignore"):
        sharp = 1.0 - np.exp(-np.maximum(0.0, sharpness) / SHARPNESS_SCALE)
        return sharp * np.clip(exposure, 0.0, 1.0) * (1.0 - np.clip(n_temporal_noise, 0.0, 1.0))


def fallback_quality(sharpness: float | None, exposure: float | None, n_temporal_noise: float | None) -> float | None:
    vals = (sharpness, exposure, n_temporal_noise)
    if any(v is None or not math.isfinite(v) for v in vals):
        return None
    return float(fallback_quality_array(np.array([sharpness]), np.array([exposure]), np.array([n_temporal_noise]))[0])


def quality_arrays(clip_weights: list[str | None], captioned: np.ndarray, similarity: np.ndarray, sharpness: np.ndarray, exposure: np.ndarray, n_temporal_noise: np.ndarray) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(quality (NaN = none), quality_method, rank group) per clip."""
    real = np.array([(w or RANDOM_INIT) != RANDOM_INIT for w in clip_weights], dtype=bool)
    use_sim = real & captioned & np.isfinite(similarity)
    fb = fallback_quality_array(sharpness, exposure, n_temporal_noise)
    quality = np.where(use_sim, similarity, fb)
    why = np.where(real, "no caption", "CLIP weights are random-init")
    method = [CLIP_SIMILARITY if s else f"{FALLBACK} (fallback: {w})" for s, w in zip(use_sim, why, strict=True)]
    return quality, method, np.where(use_sim, 0, 1)


def clip_quality(row: dict[str, Any]) -> tuple[float | None, str, int]:
    """(quality, quality_method, rank group) of one scored clip (a row dict)."""
    def f(k: str) -> float:
        v = row.get(k)
        return float(v) if v is not None else math.nan

    captioned = bool((row.get("caption") or "").strip())
    q, m, g = quality_arrays([row.get("clip_weights")], np.array([captioned]), np.array([f("caption_similarity")]), np.array([f("sharpness")]), np.array([f("exposure")]), np.array([f("n_temporal_noise")]))
    return (None if not math.isfinite(q[0]) else float(q[0])), m[0], int(g[0])
