"""A few evenly spaced RGB frames of a clip, read with decord (only those frames are decoded).

Frame k of n is taken at the centre of the k-th of n equal segments, so n = 1
gives the middle frame.  decord reports bad files with both RuntimeError and
decord.DECORDError (not a RuntimeError subclass); both become FrameError.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curation.media.sampling import even_indices


class FrameError(RuntimeError):
    """The clip could not be opened or decoded."""


@dataclass(frozen=True)
class FrameTiming:
    """Where sampled frames sit in their clip: a VLM's video input needs it (frame timestamps,
    Qwen2.5-VL's temporal positions); `indices` are frame numbers of a `total_frames`-frame clip at `fps`."""

    fps: float
    total_frames: int
    indices: tuple[int, ...]

    @property
    def timestamps(self) -> list[float]:
        return [i / self.fps for i in self.indices]

    @property
    def duration_s(self) -> float:
        return self.total_frames / self.fps

    @classmethod
    def assumed(cls, count: int, seconds_apart: float = 1.0) -> FrameTiming:
        """No timing known: `count` frames taken `seconds_apart` apart (the VLM captioner's fallback)."""
        return cls(fps=1.0 / seconds_apart, total_frames=max(1, count), indices=tuple(range(count)))


@dataclass(frozen=True)
class ClipFrames:
    frames: np.ndarray  # uint8 [k, H, W, 3] RGB
    timing: FrameTiming


def read_frames(path: str | Path, count: int) -> tuple[list[int], np.ndarray]:
    """(frame indices, uint8 array [k, H, W, 3]) for `count` evenly spaced frames of `path`."""
    clip = read_clip_frames(path, count)
    return list(clip.timing.indices), clip.frames


def read_clip_frames(path: str | Path, count: int) -> ClipFrames:
    """`count` evenly spaced RGB frames of `path` with their timing (indices, clip fps and length)."""
    import decord

    try:
        vr = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
        total = len(vr)
        idx = even_indices(total, count)
        if not idx:
            raise FrameError(f"no frames in {Path(path).name}")
        fps = float(vr.get_avg_fps() or 0.0)
        frames = vr.get_batch(idx).asnumpy()
    except (RuntimeError, decord.DECORDError) as exc:
        if isinstance(exc, FrameError):
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FrameError(f"decord could not read {Path(path).name}: {msg[:200]}") from None
    finally:
        vr = None  # release the decoder before returning
    if not fps > 0:  # a stream without a usable rate: say the frames are one second apart
        return ClipFrames(frames, FrameTiming(1.0, total, tuple(idx)))
    return ClipFrames(frames, FrameTiming(fps, total, tuple(idx)))
