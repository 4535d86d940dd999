"""Cheap hard-cut detector on colour histograms of small downscaled frames.

Fed every decoded frame (in the same decode pass that writes the clips), it
downscales the frame to `analysis_width` pixels wide, builds a 16-bin histogram
per RGB channel (each normalized to sum 1) and takes the L1 distance to the
previous frame's histograms, averaged over the three channels (0 = same colour
distribution, 2 = disjoint).  A frame starts a new shot when the distance is
above `threshold` AND above `ratio` x the mean distance of the last `window`
frames of the current shot (so steady fast motion, whose distances are all
high, does not fire on every frame).  The first two distances of a shot only
feed the mean: a shot lasts at least 3 frames (far below any min clip length).
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

BINS = 16
MIN_HISTORY = 2  # distances seen in the current shot before a cut can fire (shots last >= 3 frames)


def color_histogram(frame: np.ndarray, analysis_width: int = 64) -> np.ndarray:
    """(3, 16) float64 histograms of an (H, W, 3) uint8 frame, each row summing to 1."""
    h, w = frame.shape[:2]
    if w > analysis_width:
        small = cv2.resize(frame, (analysis_width, max(1, round(h * analysis_width / w))), interpolation=cv2.INTER_AREA)
    else:
        small = frame
    idx = (small.reshape(-1, 3) >> 4).astype(np.int64) + np.array([0, BINS, 2 * BINS])
    hist = np.bincount(idx.ravel(), minlength=3 * BINS).reshape(3, BINS).astype(np.float64)
    return hist / hist.sum(axis=1, keepdims=True)


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over channels of the L1 distance between normalized histograms (0..2)."""
    return float(np.abs(a - b).sum(axis=1).mean())


class HistogramCutDetector:
    def __init__(self, threshold: float = 0.35, ratio: float = 3.0, analysis_width: int = 64, window: int = 16):
        self.threshold = float(threshold)
        self.ratio = float(ratio)
        self.analysis_width = int(analysis_width)
        self.recent: deque[float] = deque(maxlen=max(1, int(window)))
        self.prev: np.ndarray | None = None
        self.last_distance = 0.0

    def update(self, frame: np.ndarray) -> bool:
        """Feed the next frame; True when it is the first frame of a new shot."""
        hist = color_histogram(frame, self.analysis_width)
        prev, self.prev = self.prev, hist
        if prev is None:
            return False
        d = histogram_distance(hist, prev)
        self.last_distance = d
        if len(self.recent) < MIN_HISTORY:  # too early in the shot to tell a cut from its own motion
            self.recent.append(d)
            return False
        mean = sum(self.recent) / len(self.recent)
        if d > self.threshold and d > self.ratio * mean:
            self.recent.clear()  # a new shot: its own motion statistics
            return True
        self.recent.append(d)
        return False
