"""Decode a clip's mp4 bytes (from a shard) into a training frame window with decord.

The bytes are handed to decord through `io.BytesIO` (decord reads file-like objects
from memory), so nothing is written to disk and no name from the shard is ever used
as a path.  Frames are decoded at the clip's own size, resized with OpenCV (short
side -> `size`, aspect kept, area filter) and center-cropped to `size x size`.

decord's own resize (`VideoReader(width=, height=)`) is not used: for some target
sizes (e.g. 16x12 from 64x48 or 160x120, 24x18, 48x36 from 160x120) decord 0.6.0
fails in `get_batch` ("DECORDArrayCopyFromTo: The size must exactly match") or
allocates without bound; decoding at native size costs ~25% more per window
(~25 ms vs ~20 ms for 8 frames of a 456x256 clip) and always works.

Window: `frames` frames, `stride` apart, starting at a random frame drawn from the
given numpy Generator.  Clips shorter than the window: with `short_clips="pad"` the
frames that exist (every `stride`-th) are used and the last one is repeated to fill
the window (`valid` tells how many are real); with `"skip"` the clip is rejected.
`decode_windows` cuts several fixed windows (evenly spaced starts, no randomness) from one
decode: the evaluation's held-out windows.
"""

from __future__ import annotations

import io

import cv2
import numpy as np

try:
    import decord
except ImportError as exc:  # pragma: no cover - decord is a hard dependency
    raise ImportError("decord is required for the shard loader: pip install decord") from exc


class ShortClip(Exception):
    """The clip has fewer frames than the requested window (short_clips=skip)."""


def scaled_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(w, h) with the short side equal to `size`, aspect ratio kept."""
    if width <= height:
        return size, max(size, int(round(height * size / width)))
    return max(size, int(round(width * size / height))), size


def window_indices(num_frames: int, frames: int, stride: int, rng: np.random.Generator, short_clips: str) -> tuple[np.ndarray, int]:
    """Frame indices of the window and how many of them are real (not padding)."""
    span = (frames - 1) * stride + 1
    if num_frames >= span:
        start = int(rng.integers(0, num_frames - span + 1))
        return start + stride * np.arange(frames), frames
    if short_clips == "skip":
        raise ShortClip(f"{num_frames} frames < window of {span}")
    real = np.arange(0, num_frames, stride)[:frames]
    idx = np.concatenate([real, np.full(frames - len(real), real[-1])])
    return idx, len(real)


def _center_crop(arr: np.ndarray, size: int) -> np.ndarray:
    h, w = arr.shape[1:3]
    if (h, w) != (size, size) and min(h, w) != size:
        nw, nh = scaled_size(w, h, size)
        arr = np.stack([cv2.resize(f, (nw, nh), interpolation=cv2.INTER_AREA) for f in arr])
        h, w = nh, nw
    top, left = (h - size) // 2, (w - size) // 2
    return arr[:, top : top + size, left : left + size]


def decode_window(
    mp4: bytes,
    *,
    frames: int,
    stride: int,
    size: int,
    rng: np.random.Generator,
    short_clips: str = "pad",
    threads: int = 1,
) -> tuple[np.ndarray, int]:
    """uint8 array (T, size, size, 3) RGB and the number of real frames."""
    vr = decord.VideoReader(io.BytesIO(mp4), num_threads=threads)
    idx, valid = window_indices(len(vr), frames, stride, rng, short_clips)
    uniq, inverse = np.unique(idx, return_inverse=True)
    arr = vr.get_batch(uniq.tolist()).asnumpy()[inverse]
    del vr
    return np.ascontiguousarray(_center_crop(arr, size)), valid


def window_starts(num_frames: int, frames: int, stride: int, count: int) -> list[int]:
    """Up to `count` distinct window starts evenly spaced over the clip ([0] for a short clip)."""
    span = (frames - 1) * stride + 1
    last = max(0, num_frames - span)
    return sorted({int(round(x)) for x in np.linspace(0, last, max(1, count))}) if last > 0 else [0]


def decode_windows(
    mp4: bytes,
    *,
    frames: int,
    stride: int,
    size: int,
    count: int,
    short_clips: str = "pad",
    threads: int = 1,
) -> list[tuple[np.ndarray, int]]:
    """Fixed windows (`window_starts`) of one clip: [(uint8 (T, size, size, 3) RGB, real frames)].
    A clip shorter than one window gives one padded window, or raises ShortClip with "skip"."""
    vr = decord.VideoReader(io.BytesIO(mp4), num_threads=threads)
    n = len(vr)
    span = (frames - 1) * stride + 1
    if n < span:
        idx, valid = window_indices(n, frames, stride, np.random.default_rng(0), short_clips)  # no randomness: the clip is short
        windows = [(idx, valid)]
    else:
        windows = [(s + stride * np.arange(frames), frames) for s in window_starts(n, frames, stride, count)]
    uniq, inverse = np.unique(np.concatenate([w for w, _ in windows]), return_inverse=True)
    arr = _center_crop(vr.get_batch(uniq.tolist()).asnumpy(), size)
    del vr
    out, at = [], 0
    for idx, valid in windows:
        out.append((np.ascontiguousarray(arr[inverse[at : at + frames]]), int(valid)))
        at += frames
    return out


def to_model_range(arr: np.ndarray) -> np.ndarray:
    """uint8 (T, H, W, C) -> float32 (T, C, H, W) in [-1, 1]."""
    return (arr.transpose(0, 3, 1, 2).astype(np.float32) / 127.5) - 1.0
