"""Frame plan and the one decode pass of a clip (decord).

A clip is decoded ONCE, front to back, in small `get_batch` chunks of
consecutive indices, and every signal takes what it needs from that pass:

* CLIP frames: `clip_frame_indices` (sample_fps, capped by max_frames) are kept;
* optical flow: adjacent-frame pairs (i, i+1) starting at `flow_pair_starts`
  (flow.sample_fps pairs per second) are measured as they go by;
* the cut scan, thumbnails and the rest look at every frame or a few.

Why every frame and not only the sampled ones: ingest writes clips with a
keyframe every <= 0.5 s (8 frames at 16 fps), and flow pairs every 4 frames
already touch every GOP, so seeking to the sampled indices decodes nearly every
frame anyway (measured: a 10 s 456x256 clip, 80 sampled frames 0.63 s vs all
160 frames 0.82 s).  The sequential pass costs a little more and lets the cut
scan see every transition.  Memory is bounded by the chunk size and
`max_frames`, never by the clip length.

decord raises `RuntimeError` or `decord.DECORDError` on unreadable input; both
become `DecodeError` here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from curation.media.sampling import even_indices

#: memory cap of one decoded chunk
CHUNK_BYTES = 64 * 1024 * 1024
MAX_CHUNK_FRAMES = 16


class DecodeError(Exception):
    """The clip could not be opened or decoded."""


def decord_errors() -> tuple[type[BaseException], ...]:
    import decord

    return (RuntimeError, decord.DECORDError)


def file_url(path: str | Path) -> str:
    """`file:` URL of an absolute path: never parsed as another ffmpeg protocol."""
    return "file:" + os.path.abspath(path)


def clip_frame_indices(num_frames: int, fps: float, sample_fps: float, max_frames: int) -> list[int]:
    """CLIP frames: sample_fps per second of clip, at least 2 (when the clip has 2), at most max_frames."""
    duration = num_frames / fps if fps > 0 else 0.0
    want = max(2, min(max_frames, int(round(duration * sample_fps))))
    return even_indices(num_frames, want)


def flow_pair_starts(num_frames: int, fps: float, sample_fps: float) -> list[int]:
    """First frames of the adjacent pairs (i, i+1) measured by optical flow."""
    if num_frames < 2:
        return []
    duration = num_frames / fps if fps > 0 else 0.0
    want = max(1, int(round(duration * sample_fps)))
    return even_indices(num_frames - 1, want)


class ClipVideo:
    """A decord reader on one clip file; use as a context manager."""

    def __init__(self, path: str | Path):
        import decord

        try:
            self._vr = decord.VideoReader(file_url(path), ctx=decord.cpu(0), num_threads=1)
            self.num_frames = len(self._vr)
            self.avg_fps = float(self._vr.get_avg_fps() or 0.0)
        except decord_errors() as exc:
            raise DecodeError(_short(exc)) from None
        if self.num_frames <= 0:
            raise DecodeError("no decodable frames")

    def __enter__(self) -> "ClipVideo":
        return self

    def __exit__(self, *exc) -> None:
        self._vr = None

    def iter_frames(self) -> Iterator[tuple[int, np.ndarray]]:
        """(index, RGB uint8 frame HxWx3) for every frame, in order, decoded in bounded chunks."""
        first = self._batch([0])
        h, w = first.shape[1:3]
        chunk = max(1, min(MAX_CHUNK_FRAMES, CHUNK_BYTES // max(1, h * w * 3)))
        yield 0, first[0]
        start = 1
        while start < self.num_frames:
            idx = list(range(start, min(self.num_frames, start + chunk)))
            block = self._batch(idx)
            for j, i in enumerate(idx):
                yield i, block[j]
            start = idx[-1] + 1

    def _batch(self, idx: list[int]) -> np.ndarray:
        try:
            return self._vr.get_batch(idx).asnumpy()
        except decord_errors() as exc:
            raise DecodeError(f"frames {idx[0]}..{idx[-1]}: {_short(exc)}") from None


def _short(exc: BaseException, limit: int = 240) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    # decord appends ffmpeg's log and a C++ stack: keep the first line only
    return text[:limit]
