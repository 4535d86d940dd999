"""Content flags from cheap statistics: `screen` (screen recordings, UI, game-HUD-like flat synthetic
pictures), `still` (no motion at all), `slideshow` (stills joined by cuts or short transitions).

Streaming accumulator `ContentMeter` (memory: a few counters and one 32 x 18 thumbnail), fed
from frames the score pass already decodes, plus `content_flags(summary, ...)`.

Picture statistics (`picture_stats`, on the CLIP frames at clip resolution, RGB; `add_picture`)
    flat_share         share of pixels whose 3 x 3 neighbourhood is flat (grey max - min <=
                       `flat_tol`), leaving out near-black pixels (<= `dark_level`: bars, night,
                       crushed blacks are flat but say nothing about screens)
    flat_levels_share  share of those flat pixels covered by their 4 commonest exact grey levels.
                       The decisive cue: a UI is painted with a few exact colours (background,
                       panel, button), while the flat parts of camera footage (a white wall, sky,
                       asphalt) drift through many levels with shading.  Measured on ingest-like
                       clips (456 x 256, x264): screens 0.73-1.0, test patterns 0.65, real footage
                       0.11-0.48 (../shared/media).
    axis_share         of the strong edge pixels (Sobel / 8 >= `edge_threshold`), the share whose
                       gradient is within ~10 degrees of horizontal or vertical: pixel art and
                       block HUDs ~0.95, real footage 0.1-0.7 (anti-aliased text only ~0.45)
    edge_share         share of strong edge pixels (a screen has text or borders; a blank wall none)

    A picture is SCREEN-LIKE when it looks like UI/text on flat colours (flat_share >=
    `screen_flat`, flat_levels_share >= `screen_flat_levels`, edge_share >= `screen_min_edges`)
    or like blocky pixel art (axis_share >= `blocky_axis`, edge_share >= `blocky_min_edges`,
    flat_share >= `blocky_flat`).

Motion statistics (`add_pair`, on the grey flow-pair frames at the flow width, with the pair's flow)
    A pair is STATIC when at most `static_changed` of its pixels change by more than `change_tol`
    grey levels, both between its two frames and since the first frame of the previous pair
    (~0.25 s earlier: sources with duplicated frames have identical adjacent frames while they
    move).  A still picture re-encoded by x264 changes by 0-2 levels; one moving hand or a
    0.3-px pan of a textured picture is far above.  (The DIS flow is NOT used per pair: on a
    still page of text it reports up to 3 px at the 99th percentile where no pixel changed.)
    Slide changes: the first frame of each static pair is compared (as a 32 x 18 grey thumbnail)
    with the last static frame before it; when at least `slide_change_share` of the thumbnail
    differs by more than `slide_tol` levels, the picture was replaced (a cut or a dissolve to
    another still) and a slide change is counted.  A hand that moves an object in a still shot
    changes a small part only.

Flags (`content_flags`)
    screen     screen-like pictures >= `screen_min_share` of the pictures looked at
    still      every pair static (share >= `still_min_share`), no slide change, no cut, and the
               clip's flow_mean (width/s), when given, <= `still_max_flow` (flow ~0: DIS noise on
               a still picture measured 0.0002-0.0004)
    slideshow  not still, static pairs >= `slideshow_min_static` of the pairs, and at least one
               slide change or residual cut
"""

from __future__ import annotations

import cv2
import numpy as np

from curation.config import ContentParams

FLAGS = ("screen", "still", "slideshow")
_THUMB = (32, 18)


def picture_stats(rgb: np.ndarray, params: ContentParams | None = None) -> dict[str, float]:
    """flat_share, flat_levels_share, axis_share, edge_share of one RGB uint8 frame (see the module doc)."""
    p = params or ContentParams()
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    kernel = np.ones((3, 3), np.uint8)
    span = cv2.dilate(grey, kernel).astype(np.int16) - cv2.erode(grey, kernel).astype(np.int16)
    flat_mask = (span <= p.flat_tol) & (grey > p.dark_level)
    n_flat = int(flat_mask.sum())
    levels = np.bincount(grey[flat_mask], minlength=256)
    g = grey.astype(np.float32)
    gx = np.abs(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3))
    gy = np.abs(cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3))
    big, small = np.maximum(gx, gy), np.minimum(gx, gy)
    strong = big >= 8.0 * p.edge_threshold  # max-norm: cheap, enough to find edges
    n_strong = int(strong.sum())
    return {
        "flat_share": n_flat / float(grey.size),
        "flat_levels_share": float(np.sort(levels)[-4:].sum()) / n_flat if n_flat else 0.0,
        "axis_share": float(np.mean(small[strong] <= 0.176 * big[strong])) if n_strong else 0.0,
        "edge_share": n_strong / float(grey.size),
    }


def is_screen_like(stats: dict[str, float], params: ContentParams | None = None) -> bool:
    """UI / text on flat colours, or blocky axis-aligned pixel art (see the module doc)."""
    p = params or ContentParams()
    ui = stats["flat_share"] >= p.screen_flat and stats["flat_levels_share"] >= p.screen_flat_levels and stats["edge_share"] >= p.screen_min_edges
    blocky = stats["axis_share"] >= p.blocky_axis and stats["edge_share"] >= p.blocky_min_edges and stats["flat_share"] >= p.blocky_flat
    return bool(ui or blocky)


class ContentMeter:
    """Streaming content statistics of one clip (O(1) memory)."""

    def __init__(self, params: ContentParams | None = None):
        self.params = params or ContentParams()
        self.pictures = 0
        self.screen_pictures = 0
        self._sums = {"flat_share": 0.0, "flat_levels_share": 0.0, "axis_share": 0.0, "edge_share": 0.0}
        self.pairs = 0
        self.static_pairs = 0
        self.slide_changes = 0
        self._hold: np.ndarray | None = None  # thumbnail of the last static frame
        self._prev_first: np.ndarray | None = None  # first frame of the previous pair (flow width)

    def add_picture(self, rgb: np.ndarray) -> dict[str, float]:
        """An RGB frame at clip resolution (the CLIP frames). Returns its statistics."""
        st = picture_stats(rgb, self.params)
        self.pictures += 1
        self.screen_pictures += int(is_screen_like(st, self.params))
        for k in self._sums:
            self._sums[k] += st[k]
        return st

    def add_pair(self, first: np.ndarray, second: np.ndarray) -> bool:
        """Grey uint8 frames of a flow pair (at the flow width), in clip order. Returns whether the pair is static."""
        p = self.params
        f16 = first.astype(np.int16)
        static = float(np.mean(np.abs(f16 - second.astype(np.int16)) > p.change_tol)) <= p.static_changed
        # and still since the previous sampled pair: content with duplicated frames (low-frame-rate
        # sources resampled to the clip fps) has identical adjacent frames while it moves
        prev, self._prev_first = self._prev_first, f16
        if static and prev is not None and prev.shape == f16.shape:
            static = float(np.mean(np.abs(f16 - prev) > p.change_tol)) <= p.static_changed
        self.pairs += 1
        if static:
            self.static_pairs += 1
            thumb = cv2.resize(first, _THUMB, interpolation=cv2.INTER_AREA).astype(np.int16)
            if self._hold is not None and float(np.mean(np.abs(thumb - self._hold) > p.slide_tol)) >= p.slide_change_share:
                self.slide_changes += 1
            self._hold = cv2.resize(second, _THUMB, interpolation=cv2.INTER_AREA).astype(np.int16)
        return static

    def summary(self) -> dict:
        n = self.pictures
        out = {f"mean_{k}": (v / n if n else None) for k, v in self._sums.items()}
        out.update(
            {
                "pictures": n,
                "screen_share": self.screen_pictures / n if n else None,
                "pairs": self.pairs,
                "static_share": self.static_pairs / self.pairs if self.pairs else None,
                "slide_changes": self.slide_changes,
            }
        )
        return out


def content_flags(summary: dict, cuts: int = 0, flow_mean: float | None = None, params: ContentParams | None = None) -> list[str]:
    """Sorted flags of a clip from `ContentMeter.summary()`, the residual cut count and flow_mean (width/s)."""
    p = params or ContentParams()
    flags: list[str] = []
    if summary.get("screen_share") is not None and summary["screen_share"] >= p.screen_min_share:
        flags.append("screen")
    static = summary.get("static_share")
    if static is not None:
        still = (
            static >= p.still_min_share
            and summary.get("slide_changes", 0) == 0
            and cuts == 0
            and (flow_mean is None or flow_mean <= p.still_max_flow)
        )
        if still:
            flags.append("still")
        elif static >= p.slideshow_min_static and summary.get("slide_changes", 0) + cuts >= 1:
            flags.append("slideshow")
    return sorted(flags)
