"""Optical flow with OpenCV DIS on downscaled grey adjacent-frame pairs.

For each pair (i, i+1) chosen by `frames.flow_pair_starts` (flow.sample_fps
pairs per second), both frames are converted RGB -> grey and downscaled to
`flow.width` (aspect kept, area filter), and `cv2.DISOpticalFlow` (preset from params) gives the
per-pixel flow in downscaled pixels.  Magnitudes are divided by the downscaled
width, so they are a FRACTION OF THE FRAME WIDTH PER FRAME PAIR, independent of
resolution; multiplied by the clip fps (the pair rate: pairs are adjacent
frames) they become fraction of width per second.

Per clip:
    flow_mean        mean over pairs of the mean magnitude, width / second
    flow_p95         mean over pairs of the 95th-percentile pixel magnitude,
                     width / second (fast small objects that the mean hides)
    moving_fraction  mean over pairs of the share of pixels whose magnitude
                     exceeds `flow.moving_threshold` (width / frame pair)
    flow_curve       per second of clip: mean flow (width / second) of the
                     pairs in that second; seconds without a pair are linearly
                     interpolated from their neighbours (list<float32>,
                     ceil(duration) values)
    temporal_noise   see `curation.score.signals` (warp residual)

Adjacent frames keep displacements small, which is where DIS is accurate;
sampling pairs (not every pair) keeps the cost bounded.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from curation.config import FlowParams
from curation.score.signals import warp_residual

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def make_dis(preset: str) -> cv2.DISOpticalFlow:
    return cv2.DISOpticalFlow_create(PRESETS[preset])


class FlowMeter:
    """Accumulates flow statistics pair by pair (memory: a few floats per pair)."""

    def __init__(self, params: FlowParams, fps: float, dis: cv2.DISOpticalFlow | None = None):
        self.params = params
        self.fps = float(fps)
        self.dis = dis if dis is not None else make_dis(params.preset)
        self.times: list[float] = []
        self.means: list[float] = []
        self.p95s: list[float] = []
        self.moving: list[float] = []
        self.residuals: list[float] = []

    def add_pair(self, first: np.ndarray, second: np.ndarray, time_s: float) -> np.ndarray:
        """first, second: grey uint8 frames at flow width; time_s: time of the pair's midpoint.

        Returns the DIS flow (H x W x 2 float32, px at the flow width, first -> second), so the
        other flow-based signals (camera motion) reuse it instead of computing it again."""
        flow = self.dis.calc(first, second, None)
        mag = np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2) / float(first.shape[1])
        self.times.append(time_s)
        self.means.append(float(mag.mean()))
        self.p95s.append(float(np.percentile(mag, 95)))
        self.moving.append(float(np.mean(mag > self.params.moving_threshold)))
        self.residuals.append(warp_residual(first, second, flow))
        return flow

    @property
    def pairs(self) -> int:
        return len(self.means)

    def result(self, duration_s: float) -> dict:
        if not self.means:
            return {"flow_mean": None, "flow_p95": None, "moving_fraction": None, "flow_curve": [], "temporal_noise": None, "flow_pairs": 0}
        per_s = np.asarray(self.means) * self.fps
        return {
            "flow_mean": float(per_s.mean()),
            "flow_p95": float(np.mean(self.p95s) * self.fps),
            "moving_fraction": float(np.mean(self.moving)),
            "flow_curve": per_second_curve(self.times, per_s, duration_s),
            "temporal_noise": float(np.mean(self.residuals)),
            "flow_pairs": len(self.means),
        }


def per_second_curve(times: list[float], values: np.ndarray, duration_s: float) -> list[float]:
    n = max(1, math.ceil(duration_s - 1e-9))
    t = np.asarray(times, dtype=np.float64)
    sec = np.minimum(np.floor(t).astype(int), n - 1)
    curve = np.full(n, np.nan)
    for s in range(n):
        sel = sec == s
        if sel.any():
            curve[s] = float(values[sel].mean())
    have = ~np.isnan(curve)
    if not have.all():
        centres = np.arange(n) + 0.5
        curve[~have] = np.interp(centres[~have], centres[have], curve[have])
    return [float(v) for v in curve.astype(np.float32)]
