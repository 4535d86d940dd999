"""Persistent overlays: logos, watermarks, tickers, burned-in subtitle bands - regions whose edges stay
put while the picture around them changes.  Streaming, from grey frames the score pass already has.

Feed `OverlayDetector.add(grey)` with grey frames at a roughly steady rate (the first frames of the
flow pairs, ~4 per second, are what the score pass has at hand); each is downscaled (area) to
`width` and compared with the frame fed `lag` frames earlier (0.5 s back at 4 frames/s: far
enough for a pan to move the background, short enough for one subtitle line to stay up).  Per
pixel, three counters (memory: 3 arrays of width x height, plus `lag` + 1 small frames):

    stationary edge  the pixel is an edge (Sobel magnitude / 8 >= `edge_threshold` grey levels/px) in
                     both frames and its luma changed by at most `still_tol`;
    changed          its luma changed by more than `change_tol`;
    compared         number of comparisons (the same for every pixel).

`result()`:
    * changing_share = share of pixels that changed in at least `changed_min_rate` of the
      comparisons.  Below `min_changing_share` the clip is too still to tell an overlay from the
      picture (a static shot: everything is "persistent") and the answer is UNKNOWN:
      overlay_fraction None.
    * persistence P = stationary-edge count / comparisons per pixel; its local density (mean over a
      `density_window`-px square) >= `density_min` marks overlay candidates; nearby candidates are
      joined (closing with a `join_px` x `join_px // 3` rectangle: glyphs of a subtitle line join
      along the line) and each connected region is a candidate box.
    * a candidate is kept when it is neither tiny nor huge (`min_area` .. `max_area` of the frame),
      its density peaks at `peak_density_min` or more somewhere (a drawn overlay keeps most of its
      edges; texture that happens to line up now and then in moving footage reaches ~0.1), and
      the ring around it (`ring_px` wide, the part inside the frame) changed: mean changed rate
      >= `ring_change_min`.  That is the "while the rest changes" test, made locally, so a still
      background region in a shot where only part of the picture moves is not called an overlay,
      while a logo over a moving background is.  The kept box is then tightened to the region's
      pixels with persistence >= max(density_min, 0.25) (undoing the spread of the density
      window and of the closing): measured within 1-2 px of the drawn box.
    * overlay_boxes: kept boxes as [x, y, w, h] relative to the frame (0..1), largest first
      (at most `max_boxes`); overlay_box the largest (None when none); overlay_fraction the share
      of the frame their union covers (0.0 when none).

Known limits: an overlay on a part of the picture that does not change (a logo in a corner of
flat sky, any overlay in a static shot) cannot be told from the picture and is not reported; a
still object surrounded by motion (a parked car in busy traffic seen by a static camera) looks
like an overlay, and so does the fixed point at the centre of a zoom (a small box there).  Only grey
edges are used, so a flat semi-transparent tint is not found.  change_tol sits above the luma noise
of ordinary footage; very grainy static shots can pass the changing-share test (they then rely on
the peak density and ring tests).
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

from curation.config import OverlayParams
from curation.media.cuts import resize_width


def _edges(grey: np.ndarray, threshold: float) -> np.ndarray:
    g = grey.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.magnitude(gx, gy) >= 8.0 * threshold


def _tight_box(persistence: np.ndarray, mine: np.ndarray, x: int, y: int, p: OverlayParams) -> tuple[int, int, int, int]:
    """Bounding box of the region's persistent edge pixels (persistence >= density_min), without the
    spread that the density window and the closing added; falls back to the region's box."""
    ys, xs = np.nonzero(mine & (persistence >= max(p.density_min, 0.25)))
    if ys.size == 0:
        return x, y, mine.shape[1], mine.shape[0]
    return x + int(xs.min()), y + int(ys.min()), int(xs.max() - xs.min()) + 1, int(ys.max() - ys.min()) + 1


class OverlayDetector:
    """Streaming persistent-overlay detector; memory fixed by the analysis size, not the clip length."""

    def __init__(self, params: OverlayParams | None = None):
        self.params = params or OverlayParams()
        self._frames: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=self.params.lag + 1)
        self._stationary: np.ndarray | None = None
        self._changed: np.ndarray | None = None
        self.comparisons = 0
        self.frames = 0

    def add(self, grey: np.ndarray) -> None:
        """A grey uint8 frame (any size; same size every time)."""
        p = self.params
        small = resize_width(grey, p.width) if grey.shape[1] != p.width else grey
        frame = (small.astype(np.int16), _edges(small, p.edge_threshold))
        if self._frames and self._frames[-1][0].shape != frame[0].shape:
            raise ValueError("frames of one clip must all have the same size")
        self._frames.append(frame)
        self.frames += 1
        if len(self._frames) <= p.lag:
            return
        (old, old_edges), (new, new_edges) = self._frames[0], self._frames[-1]
        diff = np.abs(new - old)
        if self._stationary is None:
            self._stationary = np.zeros(new.shape, np.uint16)
            self._changed = np.zeros(new.shape, np.uint16)
        self._stationary += old_edges & new_edges & (diff <= p.still_tol)
        self._changed += diff > p.change_tol
        self.comparisons += 1

    def result(self) -> dict:
        p = self.params
        unknown = {"overlay_fraction": None, "overlay_box": None, "overlay_boxes": [], "overlay_status": "unknown", "changing_share": None}
        if self.comparisons < p.min_comparisons or self._stationary is None:
            return unknown
        n = float(self.comparisons)
        changed_rate = self._changed.astype(np.float32) / n
        changing_share = float(np.mean(changed_rate >= p.changed_min_rate))
        if changing_share < p.min_changing_share:
            return unknown | {"changing_share": changing_share}
        persistence = self._stationary.astype(np.float32) / n
        density = cv2.blur(persistence, (p.density_window, p.density_window))
        cand = (density >= p.density_min).astype(np.uint8)
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (p.join_px, max(1, p.join_px // 3)))
        joined = cv2.morphologyEx(cand, cv2.MORPH_CLOSE, kernel)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
        h, w = cand.shape
        boxes: list[tuple[int, int, int, int]] = []
        for k in range(1, count):
            x, y, bw, bh, _area = (int(v) for v in stats[k])
            if not (p.min_area <= bw * bh / (w * h) <= p.max_area):
                continue
            mine = labels[y : y + bh, x : x + bw] == k
            if float(density[y : y + bh, x : x + bw][mine].max()) < p.peak_density_min:
                continue
            x0, y0 = max(0, x - p.ring_px), max(0, y - p.ring_px)
            x1, y1 = min(w, x + bw + p.ring_px), min(h, y + bh + p.ring_px)
            ring = np.ones((y1 - y0, x1 - x0), bool)
            ring[y - y0 : y - y0 + bh, x - x0 : x - x0 + bw] = False
            if not ring.any() or float(changed_rate[y0:y1, x0:x1][ring].mean()) < p.ring_change_min:
                continue
            boxes.append(_tight_box(persistence[y : y + bh, x : x + bw], mine, x, y, p))
        boxes.sort(key=lambda b: (-b[2] * b[3], b[1], b[0]))
        boxes = boxes[: p.max_boxes]
        cover = np.zeros((h, w), bool)
        for x, y, bw, bh in boxes:
            cover[y : y + bh, x : x + bw] = True
        rel = [[x / w, y / h, bw / w, bh / h] for x, y, bw, bh in boxes]
        return {
            "overlay_fraction": float(cover.mean()),
            "overlay_box": rel[0] if rel else None,
            "overlay_boxes": rel,
            "overlay_status": "found" if rel else "none",
            "changing_share": changing_share,
        }
