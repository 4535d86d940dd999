"""Frame-size and frame-rate arithmetic for normalized clips."""

from __future__ import annotations

import math
from fractions import Fraction


def fps_fraction(fps: float) -> Fraction:
    """A frame rate as an exact rational (16.0 -> 16, 29.97 -> 2997/100) for ffmpeg options."""
    return Fraction(fps).limit_denominator(100_000)


def fps_arg(fps: float) -> str:
    f = fps_fraction(fps)
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def gop_frames(gop_seconds: float, fps: float) -> int:
    """Keyframe interval in frames, never longer than `gop_seconds`."""
    return max(1, math.floor(gop_seconds * fps + 1e-9))


def seconds_to_frames_floor(seconds: float, fps: float) -> int:
    return max(1, math.floor(seconds * fps + 1e-9))


def seconds_to_frames_ceil(seconds: float, fps: float) -> int:
    return max(1, math.ceil(seconds * fps - 1e-9))


def display_size(width: int, height: int, sar: Fraction = Fraction(1), rotation: int = 0) -> tuple[float, float]:
    """Displayed (width, height) after the sample aspect ratio and a display-matrix rotation."""
    w = width * (float(sar) if sar > 0 else 1.0)
    h = float(height)
    if rotation % 180 == 90:
        w, h = h, w
    return w, h


def normalized_size(width: int, height: int, short_side: int, sar: Fraction = Fraction(1), rotation: int = 0) -> tuple[int, int]:
    """Output (width, height): short side = `short_side`, aspect kept, both even, square pixels."""
    if width <= 0 or height <= 0:
        raise ValueError(f"bad frame size {width}x{height}")
    if short_side % 2:
        raise ValueError("short_side must be even")
    dw, dh = display_size(width, height, sar, rotation)
    short, long = min(dw, dh), max(dw, dh)
    long_out = max(short_side, 2 * round(long * short_side / short / 2))
    return (long_out, short_side) if dw > dh else (short_side, long_out)
