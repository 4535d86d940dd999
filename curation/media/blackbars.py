"""Black bars (letterbox, pillarbox, both): find the picture inside a padded source, so ingest can crop
before normalizing and train on picture, not on bars.

`detect_black_bars(path, info)` decodes a handful of grey frames spread over the source (one ffmpeg
process; per sample a fast seek and one keyframe decode, never the whole file; argument lists only,
the file as a `file:` URL) and returns the picture box
`CropBox(x, y, w, h)` in SOURCE pixels, or None when there are no bars (or no confident answer).

Coordinates: pixels of the decoded frame as the `-vf` chain of `curation.media.decode.FrameReader`
receives it, i.e. after ffmpeg's autorotate (display-matrix rotation applied) and before any
scaling or sample-aspect-ratio correction.  For the usual unrotated source these are simply the
source's pixels.  x, y, w, h are even (yuv420p chroma), rounded INWARD: the box never includes a
bar line, at the cost of at most one line of picture per side.

How one frame is read (`frame_bars`, on a grey frame at most `analysis_width` wide; luma 0..255
full range, as ffmpeg's `gray` output; limited-range black 16 becomes 0):
    a row is a BAR ROW when its mean luma <= `black_level` and its standard deviation <=
    `flat_std` (near-black and flat: digital padding, not a dark picture); the top bar is the run
    of bar rows from the top edge, the bottom bar the run from the bottom edge.  Columns are read
    the same way over the rows between those bars (so a letterbox does not make every column
    dark).  A frame whose bars leave less than `min_picture` of the height or width is DARK (a
    fade, a black frame, a night shot) and says nothing about that axis.

How the frames are combined (`combine_bars`), per side, over the frames that are not dark:
    * the bar must be consistent: the side's thickness is the smallest value t such that at least
      `agree_share` of the frames measure t within `tolerance` (max(2 px, tolerance x side)).
      Frames where dark content continues the bar measure more, and are outvoted; frames where a
      subtitle or logo sits in the bar measure less, and are outvoted too (the crop then removes
      them, which is wanted);
    * the edge must be real: in at least one frame the line just inside the bar must be clearly
      brighter than black (at least `edge_coverage` of its pixels above the bar's level +
      `edge_contrast`).  A small bright object on black (a dark scene, a title card) ends the
      "bar" at its own edge; it covers too little of that line to pass;
    * bars thinner than `min_bar` x the side are ignored (0).
    No box (None) when every side is 0, when fewer than `min_frames` frames are not dark, or when
    the picture left would be smaller than `min_picture` of either side.

`crop_plan(box, info, short_side)` gives the ffmpeg filter (`crop=w:h:x:y`, to go before `scale=`)
and the normalized output size of the picture inside (`curation.media.geometry.normalized_size`
on the box, with the frame's sample aspect ratio), so a padded clip comes out with the aspect
ratio of the picture inside, not of the padded frame.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import numpy as np

from curation.config import BlackBarParams
from curation.media.geometry import normalized_size
from curation.media.probe import MediaInfo, ffmpeg_url


class CropBox(NamedTuple):
    """The picture inside the bars, in source pixels (after autorotate): x, y, width, height (all even)."""

    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class FrameBars:
    """One frame's bars, in analysis pixels; None on an axis where the frame is dark."""

    top: int | None
    bottom: int | None
    left: int | None
    right: int | None
    bar_level: float  # mean luma of the bar lines found (0 when none)
    edges: dict[str, float]  # per side: share of the line inside the bar brighter than bar_level + edge_contrast


@dataclass(frozen=True)
class CropPlan:
    box: CropBox
    filter: str  # "crop=w:h:x:y", to put before scale= in the decode filter chain
    width: int  # normalized output size of the picture inside the box
    height: int


def _run_length(flags: np.ndarray) -> int:
    """Number of leading True values."""
    off = np.flatnonzero(~flags)
    return int(off[0]) if off.size else int(flags.size)


def _edge_share(line: np.ndarray, level: float, contrast: float) -> float:
    return float(np.mean(line.astype(np.float32) > level + contrast))


def frame_bars(grey: np.ndarray, p: BlackBarParams) -> FrameBars:
    """Bars of one grey uint8 frame (H x W), in its own pixels."""
    h, w = grey.shape
    g = grey.astype(np.float32)
    row_bar = (g.mean(axis=1) <= p.black_level) & (g.std(axis=1) <= p.flat_std)
    top = _run_length(row_bar)
    bottom = _run_length(row_bar[::-1]) if top < h else 0
    levels: list[np.ndarray] = []
    edges: dict[str, float] = {}
    if h - top - bottom < p.min_picture * h:
        top_v = bottom_v = None
        inner = g  # a dark frame: read the columns over all rows (they will be dark too)
    else:
        top_v, bottom_v = top, bottom
        inner = g[top : h - bottom]
        if top:
            levels.append(g[:top])
        if bottom:
            levels.append(g[h - bottom :])
    col_bar = (inner.mean(axis=0) <= p.black_level) & (inner.std(axis=0) <= p.flat_std)
    left = _run_length(col_bar)
    right = _run_length(col_bar[::-1]) if left < w else 0
    if w - left - right < p.min_picture * w:
        left_v = right_v = None
    else:
        left_v, right_v = left, right
        if left:
            levels.append(inner[:, :left])
        if right:
            levels.append(inner[:, w - right :])
    level = float(np.mean([float(x.mean()) for x in levels])) if levels else 0.0
    if top_v is not None:
        edges["top"] = _edge_share(g[top_v], level, p.edge_contrast) if top_v < h else 0.0
        edges["bottom"] = _edge_share(g[h - 1 - bottom_v], level, p.edge_contrast) if bottom_v < h else 0.0
    if left_v is not None:
        edges["left"] = _edge_share(inner[:, left_v], level, p.edge_contrast) if left_v < w else 0.0
        edges["right"] = _edge_share(inner[:, w - 1 - right_v], level, p.edge_contrast) if right_v < w else 0.0
    return FrameBars(top_v, bottom_v, left_v, right_v, level, edges)


def _consistent(values: list[int], edges: list[float], side_len: int, p: BlackBarParams) -> int:
    """The side's bar thickness agreed by the frames (0 when none), in analysis pixels."""
    if not values:
        return 0
    tol = max(2, int(round(p.tolerance * side_len)))
    need = max(1, math.ceil(p.agree_share * len(values) - 1e-9))
    for cand in sorted(set(values)):
        agree = [i for i, v in enumerate(values) if abs(v - cand) <= tol]
        if len(agree) < need:
            continue
        if cand < p.min_bar * side_len:
            return 0  # enough frames show picture (or a sliver too thin to matter) at this edge
        # the bar ends at a real picture edge in at least one of the frames that measured it
        if max(edges[i] for i in agree) >= p.edge_coverage:
            return max(values[i] for i in agree)  # the thickest agreeing value: never leave a bar line in
        return 0
    return 0


def combine_bars(frames: Iterable[FrameBars], height: int, width: int, p: BlackBarParams) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) bar thickness in analysis pixels agreed over the frames, or None."""
    frames = list(frames)
    vert = [f for f in frames if f.top is not None]
    horiz = [f for f in frames if f.left is not None]
    need = min(p.min_frames, len(frames))
    if len(vert) < need or len(horiz) < need or not frames:
        return None
    top = _consistent([f.top for f in vert], [f.edges["top"] for f in vert], height, p)
    bottom = _consistent([f.bottom for f in vert], [f.edges["bottom"] for f in vert], height, p)
    left = _consistent([f.left for f in horiz], [f.edges["left"] for f in horiz], width, p)
    right = _consistent([f.right for f in horiz], [f.edges["right"] for f in horiz], width, p)
    if height - top - bottom < p.min_picture * height or width - left - right < p.min_picture * width:
        return None
    if not (top or bottom or left or right):
        return None
    return top, bottom, left, right


def _even_up(x: float) -> int:
    return int(math.ceil(x / 2.0 - 1e-9)) * 2


def _even_down(x: float) -> int:
    return int(math.floor(x / 2.0 + 1e-9)) * 2


def box_from_bars(bars: tuple[int, int, int, int], analysis_size: tuple[int, int], source_size: tuple[int, int]) -> CropBox:
    """Map bar thicknesses measured on an analysis frame (w, h) to an even CropBox in source pixels (rounded inward)."""
    top, bottom, left, right = bars
    aw, ah = analysis_size
    sw, sh = source_size
    fx, fy = sw / aw, sh / ah
    pad_x = 1 if aw != sw else 0  # one analysis pixel of safety when the analysis frame was downscaled
    pad_y = 1 if ah != sh else 0
    x0 = _even_up((left + (pad_x if left else 0)) * fx)
    x1 = _even_down(sw - (right + (pad_x if right else 0)) * fx)
    y0 = _even_up((top + (pad_y if top else 0)) * fy)
    y1 = _even_down(sh - (bottom + (pad_y if bottom else 0)) * fy)
    return CropBox(x0, y0, max(2, x1 - x0), max(2, y1 - y0))


def frame_size(info: MediaInfo) -> tuple[int, int]:
    """(width, height) of the frames ffmpeg decodes from `info`'s video stream after autorotate."""
    return (info.height, info.width) if info.rotation % 180 == 90 else (info.width, info.height)


def sample_times(duration_s: float | None, samples: int) -> list[float]:
    """Centres of `samples` equal segments of the source (just 0.0 when the duration is unknown)."""
    if not duration_s or duration_s <= 0 or not math.isfinite(duration_s):
        return [0.0]
    return [(k + 0.5) * duration_s / samples for k in range(samples)]


def decode_grey_samples(path: str | Path, times: list[float], size: tuple[int, int], stream_index: int | None, timeout_s: float, keyframes: bool = False) -> list[np.ndarray]:
    """Grey frames near `times` (seconds from the start), scaled to `size` (w, h), from ONE ffmpeg process.

    Each time is a separate input of the same file with an input seek (`-ss` before `-i`): a jump
    to the keyframe before that time and decoding up to it, so each sample costs at most one GOP
    of decoding, whatever the source's length (keyframe-only decoding was tried: cheaper, but a
    clip with one keyframe then gives the same first frame for every sample, e.g. a fade from
    black).  One process for all samples: process start-up (~60-100 ms here) is paid once.
    Frames that do not decode (a seek past the end) are simply missing from the list.

    `keyframes=True` decodes keyframes only (`-skip_frame nokey`): each sample is the first
    keyframe at or after its time, one frame of decoding instead of up to a GOP.  On long-GOP
    sources (x264's default keyframe interval is 250 frames) the GOP method decoded ~half the
    source for 8 samples: 2.0 CPU-s for a 60-s 720p file, 25 % of its whole ingest.
    """
    w, h = size
    stream = str(stream_index) if stream_index is not None else "v:0"
    args = ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-threads", "1"]
    chains = []
    for k, t in enumerate(times):
        args += (["-ss", f"{t:.6f}"] if t > 0 else []) + (["-skip_frame", "nokey"] if keyframes else []) + ["-i", ffmpeg_url(path)]
        chains.append(f"[{k}:{stream}]trim=end_frame=1,scale={w}:{h}:flags=area,setsar=1,setpts=PTS-STARTPTS,format=gray[s{k}]")
    graph = ";".join(chains) + ";" + "".join(f"[s{k}]" for k in range(len(times))) + f"concat=n={len(times)}:v=1:a=0[v]"
    args += ["-filter_complex", graph, "-map", "[v]", "-fps_mode", "passthrough", "-pix_fmt", "gray", "-f", "rawvideo", "pipe:1"]
    try:
        out = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s, check=False).stdout  # a short read is handled below
    except subprocess.TimeoutExpired:
        return []
    n = len(out) // (w * h)
    return [np.frombuffer(out[k * w * h : (k + 1) * w * h], dtype=np.uint8).reshape(h, w) for k in range(n)]


def analysis_size(size: tuple[int, int], analysis_width: int) -> tuple[int, int]:
    w, h = size
    if w <= analysis_width:
        return w, h
    return analysis_width, max(2, int(round(h * analysis_width / w)))


def detect_black_bars(path: str | Path, info: MediaInfo, params: BlackBarParams | None = None) -> CropBox | None:
    """The picture box inside letterbox / pillarbox bars, in source pixels, or None (no bars / not sure)."""
    p = params or BlackBarParams()
    if not p.enabled or not info.has_video or info.width <= 0 or info.height <= 0:
        return None
    src = frame_size(info)
    size = analysis_size(src, p.analysis_width)
    times = sample_times(info.duration_s, p.samples)
    greys = decode_grey_samples(path, times, size, info.video_index, p.timeout_s, keyframes=True)
    if len({g.tobytes() for g in greys}) < max(p.min_frames, min(len(times), 4)):
        # few keyframes (a clip with one keyframe gives the same frame for every sample): decode up to each time
        greys = decode_grey_samples(path, times, size, info.video_index, p.timeout_s)
    bars = combine_bars([frame_bars(g, p) for g in greys], size[1], size[0], p)
    return box_from_bars(bars, size, src) if bars is not None else None


def frame_sar(info: MediaInfo) -> Fraction:
    """Sample aspect ratio of the decoded frames after autorotate (a 90-degree turn inverts it)."""
    sar = info.sar if info.sar > 0 else Fraction(1)
    return 1 / sar if info.rotation % 180 == 90 else sar


def crop_plan(box: CropBox, info: MediaInfo, short_side: int) -> CropPlan:
    """ffmpeg crop filter for `box` and the normalized (width, height) of the picture inside it."""
    fw, fh = frame_size(info)
    if box.x < 0 or box.y < 0 or box.w <= 0 or box.h <= 0 or box.x + box.w > fw or box.y + box.h > fh:
        raise ValueError(f"crop box {tuple(box)} is not inside the {fw}x{fh} frame")
    width, height = normalized_size(box.w, box.h, short_side, frame_sar(info), 0)
    return CropPlan(box, f"crop={box.w}:{box.h}:{box.x}:{box.y}", width, height)
