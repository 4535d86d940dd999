"""Cheap per-clip signals computed during the one decode pass (besides CLIP and flow).

All of them work on frames that decord returns as **RGB**; grey is always
`cv2.COLOR_RGB2GRAY` (luma 0.299 R + 0.587 G + 0.114 B).

spatial_complexity
    Mean luma gradient magnitude of the flow frames (downscaled to
    `flow.width`), in grey levels per pixel divided by 255: Sobel 3x3 responses
    divided by 8 are the derivative of a linear ramp, so a flat frame gives 0
    and a frame of fine texture gives ~0.05-0.2.  Measured at a fixed width, so
    clips of any resolution compare.

cut_density
    Residual hard cuts per second inside the clip, counted by the same detector and
    params that ingest splits with (`curation.media.cuts`, params `cuts`): what is
    left are cuts ingest did not act on (cuts disabled, or clips not made by ingest),
    flashes, very fast whip pans.

temporal_noise
    Mean absolute luma residual NOT explained by the optical flow: the second
    frame of each flow pair is warped back onto the first with the DIS flow
    (cv2.remap, border replicate) and the mean |first - warped| / 255 is taken.
    Sensor noise, flicker, compression shimmer, occlusions and motion the flow
    cannot follow all raise it; smooth motion does not.

sharpness, exposure  (quality signals, used for tier 5 when CLIP cannot judge)
    sharpness = variance of the Laplacian of the grey CLIP frames at clip
    resolution (mean over frames).  exposure = (1 - share of clipped pixels
    (luma < 8 or > 247)) x (1 - |mean luma / 255 - 0.5|), 1 for a well-exposed
    frame, 0 for a black or blown-out one.

thumb_signature
    Four RGB 8x8 thumbnails at 1/8, 3/8, 5/8, 7/8 of the clip, concatenated
    (768 values, 0..255): a content fingerprint for near-duplicate detection
    that does not depend on CLIP weights (see `curation.score.dedup`).
"""

from __future__ import annotations

import cv2
import numpy as np

THUMB_SIDE = 8
THUMB_POSITIONS = 4


def to_grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def spatial_complexity(grey: np.ndarray) -> float:
    g = grey.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    return float(np.mean(np.sqrt(gx * gx + gy * gy)) / 8.0 / 255.0)


def sharpness(grey: np.ndarray) -> float:
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def exposure(grey: np.ndarray) -> float:
    clipped = float(np.mean((grey < 8) | (grey > 247)))
    mean = float(grey.mean()) / 255.0
    return (1.0 - clipped) * (1.0 - abs(mean - 0.5))


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    return cv2.resize(rgb, (THUMB_SIDE, THUMB_SIDE), interpolation=cv2.INTER_AREA).astype(np.float32).reshape(-1)


def thumb_positions(num_frames: int) -> list[int]:
    return [min(num_frames - 1, int((k + 0.5) * num_frames / THUMB_POSITIONS)) for k in range(THUMB_POSITIONS)]


def warp_residual(first: np.ndarray, second: np.ndarray, flow: np.ndarray) -> float:
    """Mean |first - second warped back by flow| / 255 (grey uint8 frames, flow first->second)."""
    h, w = first.shape
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    warped = cv2.remap(second, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return float(np.mean(np.abs(first.astype(np.float32) - warped.astype(np.float32))) / 255.0)
