"""A few evenly spaced RGB frames of a clip, read with decord (only those frames are decoded).

Frame k of n is taken at the centre of the k-th of n equal segments, so n = 1
gives the middle frame.  decord reports bad files with both RuntimeError and
decord.DECORDError (not a RuntimeError subclass); both become FrameError.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curation.media.sampling import even_indices


class FrameError(RuntimeError):
    """The clip could not be opened or decoded."""


def read_frames(path: str | Path, count: int) -> tuple[list[int], np.ndarray]:
    """(frame indices, uint8 array [k, H, W, 3]) for `count` evenly spaced frames of `path`."""
    import decord

    try:
        vr = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
        idx = even_indices(len(vr), count)
        if not idx:
            raise FrameError(f"no frames in {Path(path).name}")
        frames = vr.get_batch(idx).asnumpy()
    except (RuntimeError, decord.DECORDError) as exc:
        if isinstance(exc, FrameError):
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FrameError(f"decord could not read {Path(path).name}: {msg[:200]}") from None
    finally:
        vr = None  # release the decoder before returning
    return idx, frames
