"""Difficulty: one weighted mean of fixed, per-clip normalized components.

Every raw component is mapped to [0, 1] by a FIXED transform that looks at that
clip alone (never at the rest of the corpus), so a clip's difficulty does not
move when clips are added or removed:

    n(x) = 1 - exp(-max(x, 0) / scale)          (saturating: n(scale) = 0.63, n(3*scale) = 0.95)
    n_moving_fraction = clip(moving_fraction, 0, 1)   (already a fraction)

    difficulty = sum_i(w_i * n_i) / sum_i(w_i)   over the components used

with the weights w_i from `params.score.weights` and these scales:

| component          | raw unit                                             | scale |
|--------------------|------------------------------------------------------|-------|
| flow_mean          | mean optical flow, fraction of frame width / second  | 0.15  |
| flow_p95           | mean per-pair 95th-percentile flow, width / second   | 0.40  |
| moving_fraction    | share of pixels moving more than the threshold       |   -   |
| semantic_change    | 1 - mean cosine of consecutive CLIP frame embeddings | 0.10  |
| spatial_complexity | mean luma gradient, grey levels per pixel / 255      | 0.05  |
| cut_density        | residual hard cuts per second                        | 0.50  |
| temporal_noise     | mean abs luma residual after flow warping / 255      | 0.02  |

The scales are set so that ordinary footage lands mid-range (a pan across 15 %
of the frame per second gives n_flow_mean = 0.63) and the hardest content saturates
towards 1 instead of dominating.  `semantic_change` is measured with CLIP; when
the CLIP weights are random-init it carries no semantics, so it is left out of
the sum (its weight counts as 0) and the row's `difficulty_components` says
which components were used.  A component that is missing (None) is left out the
same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from curation.config import DifficultyWeights

FORMULA_VERSION = "difficulty-v1"

#: raw components, in the order they appear in tables and reports
COMPONENTS: tuple[str, ...] = (
    "flow_mean",
    "flow_p95",
    "moving_fraction",
    "semantic_change",
    "spatial_complexity",
    "cut_density",
    "temporal_noise",
)

#: scale of the saturating transform 1 - exp(-x / scale); None: identity clipped to [0, 1]
SCALES: dict[str, float | None] = {
    "flow_mean": 0.15,
    "flow_p95": 0.40,
    "moving_fraction": None,
    "semantic_change": 0.10,
    "spatial_complexity": 0.05,
    "cut_density": 0.50,
    "temporal_noise": 0.02,
}

#: components that need real CLIP weights to mean anything
NEEDS_REAL_CLIP: frozenset[str] = frozenset({"semantic_change"})


def _formula() -> str:
    lines = [
        "difficulty = sum_i(w_i * n_i) / sum_i(w_i)   (weights: params.score.weights)",
        "n_i = 1 - exp(-x_i / scale_i)   for each raw component x_i >= 0 (fixed scales, independent of the corpus)",
        "n_moving_fraction = clip(moving_fraction, 0, 1)",
        "scales: " + ", ".join(f"{k}={v}" for k, v in SCALES.items() if v is not None),
        "semantic_change is left out (weight 0) when CLIP weights are random-init; missing components are left out too",
    ]
    return "\n".join(lines)


#: human-readable formula for reports (`difficulty-report` prints it)
FORMULA: str = _formula()


def normalize(name: str, value: float | None) -> float | None:
    """Fixed map of one raw component to [0, 1] (None stays None)."""
    if value is None or not math.isfinite(value):
        return None
    scale = SCALES[name]
    if scale is None:
        return min(1.0, max(0.0, float(value)))
    return 1.0 - math.exp(-max(0.0, float(value)) / scale)


def normalize_all(raw: Mapping[str, float | None]) -> dict[str, float | None]:
    """{'n_<name>': normalized value} for every component."""
    return {f"n_{name}": normalize(name, raw.get(name)) for name in COMPONENTS}


def difficulty(raw: Mapping[str, float | None], weights: DifficultyWeights, clip_is_real: bool) -> tuple[float | None, list[str]]:
    """(difficulty in [0, 1], names of the components used). None when no component could be used."""
    w = weights.model_dump()
    num = den = 0.0
    used: list[str] = []
    for name in COMPONENTS:
        if name in NEEDS_REAL_CLIP and not clip_is_real:
            continue
        n = normalize(name, raw.get(name))
        if n is None or w[name] <= 0:
            continue
        num += w[name] * n
        den += w[name]
        used.append(name)
    if den <= 0:
        return None, used
    return num / den, used
