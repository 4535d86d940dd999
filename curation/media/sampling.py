"""Which frames to look at: evenly spaced indices (captioner, CLIP, contact sheets, thumbnails)."""

from __future__ import annotations


def even_indices(total: int, count: int) -> list[int]:
    """`count` indices at the centres of `count` equal segments of range(total), unique and sorted."""
    if total <= 0 or count <= 0:
        return []
    count = min(count, total)
    return sorted({min(total - 1, int((k + 0.5) * total / count)) for k in range(count)})
