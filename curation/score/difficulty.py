"""Difficulty: one weighted mean of fixed, per-clip normalized components.

Every raw component is mapped to [0, 1] by a FIXED transform that looks at that
clip alone (never at the rest of the corpus), so a clip's difficulty does not
move when clips are added or removed:

    n(x) = 1 - exp(-max(x, 0) / scale)          (saturating: n(scale) = 0.63, n(3*scale) = 0.95)
    n_moving_fraction = clip(moving_fraction, 0, 1)   (already a fraction)

    difficulty = sum_i(w_i * n_i) / sum_i(w_i)   over the components used

with the weights w_i from `params.score.weights` and these scales:

| component          | raw unit                                             | scale | default w |
|--------------------|------------------------------------------------------|-------|-----------|
| flow_mean          | mean optical flow, fraction of frame width / second  | 0.15  | 0.00      |
| camera_speed       | mean camera-model flow (camera.py), width / second   | 0.15  | 0.15      |
| object_motion      | mean flow the camera model leaves, width / second    | 0.08  | 0.20      |
| flow_p95           | mean per-pair 95th-percentile flow, width / second   | 0.40  | 0.15      |
| moving_fraction    | share of pixels moving more than the threshold       |   -   | 0.10      |
| semantic_change    | 1 - mean cosine of consecutive CLIP frame embeddings | 0.10  | 0.15      |
| spatial_complexity | mean luma gradient, grey levels per pixel / 255      | 0.05  | 0.10      |
| cut_density        | residual hard cuts per second                        | 0.50  | 0.05      |
| temporal_noise     | mean abs luma residual after flow warping / 255      | 0.02  | 0.10      |

The scales are set so that ordinary footage lands mid-range (a pan across 15 %
of the frame per second gives n_flow_mean = n_camera_speed = 0.63; a subject covering
a fifth of the frame moving at 0.4 width/s gives object_motion 0.08, n = 0.63: the
residual is averaged over the whole frame, hence the tighter scale) and the hardest
content saturates towards 1 instead of dominating.

difficulty-v2 (this version) splits the motion term.  v1 weighed the total flow
(flow_mean, 0.35).  The total does not say WHAT moves: a tripod shot of a dancer and a
smooth pan over a still landscape can have the same flow_mean, and they are not equally
hard to learn.  Camera motion is a global, 4-parameter transform of the whole picture
per frame pair (content shifts, scales, turns rigidly), which a video model reproduces
largely by moving what it already drew; object motion is independent, articulated and
deforming motion with occlusions and disocclusions, the hard part of generating video.
So the 0.35 becomes camera_speed 0.15 + object_motion 0.20 (more weight where the
difficulty is), and flow_mean gets weight 0: it is about camera_speed + object_motion,
so weighing it as well would count motion twice.  It stays a component (n_flow_mean is
still computed) so that `score.weights.flow_mean > 0` brings the total back.  flow_p95
(fast small things) and moving_fraction (how much of the frame moves) keep their v1
weights; the weights still sum to 1.0.  Changing weights re-runs only the combine step.
  `semantic_change` is measured with CLIP; when
the CLIP weights are random-init it carries no semantics, so it is left out of
the sum (its weight counts as 0) and the row's `difficulty_components` says
which components were used.  A component that is missing (None) is left out the
same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from curation.config import DifficultyWeights

FORMULA_VERSION = "difficulty-v2"

#: raw components, in the order they appear in tables and reports
COMPONENTS: tuple[str, ...] = (
    "flow_mean",
    "camera_speed",
    "object_motion",
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
    "camera_speed": 0.15,  # same unit and scale as flow_mean
    "object_motion": 0.08,  # the residual is averaged over the whole frame (curation.score.camera.DIFFICULTY_SCALES)
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
        f"{FORMULA_VERSION}: motion is split into camera_speed (camera model of the flow) and object_motion (what it leaves); flow_mean, their total, has weight 0 by default",
    ]
    return "\n".join(lines)


#: human-readable formula for reports (`difficulty-report` prints it)
FORMULA: str = _formula()


def normalize_array(name: str, x: np.ndarray) -> np.ndarray:
    """The fixed map of one raw component to [0, 1], elementwise (NaN stays NaN)."""
    x = np.asarray(x, dtype=np.float64)
    scale = SCALES[name]
    with np.errstate(invalid="ignore"):
        if scale is None:
            return np.clip(x, 0.0, 1.0)
        return 1.0 - np.exp(-np.maximum(0.0, x) / scale)


def normalize(name: str, value: float | None) -> float | None:
    """Fixed map of one raw component to [0, 1] (None stays None)."""
    if value is None or not math.isfinite(value):
        return None
    return float(normalize_array(name, np.array([float(value)]))[0])


def normalize_all(raw: Mapping[str, float | None]) -> dict[str, float | None]:
    """{'n_<name>': normalized value} for every component."""
    return {f"n_{name}": normalize(name, raw.get(name)) for name in COMPONENTS}


def difficulty_arrays(raw: Mapping[str, np.ndarray], weights: DifficultyWeights, clip_is_real: bool) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Vectorized `difficulty` over all clips: (difficulty, {n_<name>: normalized}, {name: used mask}).

    `raw[name]` is a float array per component (NaN = not measured); difficulty is NaN
    where no component could be used."""
    w = weights.model_dump()
    normalized = {f"n_{name}": normalize_array(name, raw[name]) for name in COMPONENTS}
    num = np.zeros(len(raw[COMPONENTS[0]]))
    den = np.zeros_like(num)
    used: dict[str, np.ndarray] = {}
    for name in COMPONENTS:
        n = normalized[f"n_{name}"]
        ok = np.isfinite(n) & (w[name] > 0) & (clip_is_real or name not in NEEDS_REAL_CLIP)
        used[name] = ok
        num += np.where(ok, w[name] * np.nan_to_num(n), 0.0)
        den += np.where(ok, w[name], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return d, normalized, used


def difficulty(raw: Mapping[str, float | None], weights: DifficultyWeights, clip_is_real: bool) -> tuple[float | None, list[str]]:
    """(difficulty in [0, 1], names of the components used) of one clip. None when no component could be used."""
    arrays = {name: np.array([np.nan if raw.get(name) is None else float(raw[name])]) for name in COMPONENTS}
    d, _, used = difficulty_arrays(arrays, weights, clip_is_real)
    names = [name for name in COMPONENTS if used[name][0]]
    return (None if not np.isfinite(d[0]) else float(d[0])), names
