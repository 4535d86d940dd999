"""Contact sheet: a few clips per tier, a few evenly spaced frames each, read with decord.

Clips are chosen deterministically to span each tier's difficulty range.  A
clip that cannot be read (missing file, corrupt data, a path outside the clips
directory) becomes a cell that carries the error text instead of frames: one
broken clip never stops the report.  Frames are decoded one at a time and
shrunk at once, so memory does not grow with clip length or resolution.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image
from tqdm import tqdm

from curation.report.load import clip_table
from curation.report.summary import TIERS

MAX_ERROR_CHARS = 400
GAP_PX = 2


@dataclass
class SheetCell:
    clip_id: str
    tier: int
    difficulty: float | None
    duration_s: float
    caption: str | None
    source_path: str | None
    frame_indices: list[int]
    image_jpeg: bytes | None  # one strip of frames, left to right; None when the clip could not be read
    error: str | None


def _spread(n: int, per_tier: int) -> list[int]:
    """Up to `per_tier` positions evenly spaced over 0..n-1 (all of them when n <= per_tier)."""
    if n <= per_tier:
        return list(range(n))
    if per_tier == 1:
        return [n // 2]
    return sorted({round(i * (n - 1) / (per_tier - 1)) for i in range(per_tier)})


def pick_positions(table: pa.Table, per_tier: int) -> dict[int, list[int]]:
    """Row positions in `table` (columns clip_id, tier, difficulty) of the clips `pick_clips` shows."""
    tier = pc.fill_null(table.column("tier"), -1).to_numpy()
    out: dict[int, list[int]] = {}
    for t in TIERS:
        rows = pa.array(np.flatnonzero(tier == t))
        sub = table.select(["difficulty", "clip_id"]).take(rows)
        # (difficulty, clip_id), unscored clips last: the order the row code sorted by
        order = pc.sort_indices(sub, sort_keys=[("difficulty", "ascending"), ("clip_id", "ascending")])  # nulls sort last by default
        ordered = rows.take(order).to_numpy()
        out[t] = [int(ordered[i]) for i in _spread(len(ordered), per_tier)]
    return out


def pick_clips(clips: Any, per_tier: int) -> dict[int, list[dict[str, Any]]]:
    """Up to `per_tier` clips per tier, evenly spaced over the tier sorted by (difficulty, clip_id).

    `clips` is the report's clip table (or anything `load.clip_table` takes): the picked rows come
    back as dicts, only those.  A list of row dicts gets its own dicts back."""
    if isinstance(clips, list):
        keys = pa.table({
            "clip_id": pa.array([r["clip_id"] for r in clips], pa.string()),
            "tier": pa.array([r["tier"] for r in clips], pa.int64()),
            "difficulty": pa.array([r["difficulty"] for r in clips], pa.float64(), from_pandas=True),  # NaN -> null
        })  # fmt: skip
        return {t: [clips[i] for i in pos] for t, pos in pick_positions(keys, per_tier).items()}
    table = clip_table(clips)
    return {t: table.take(pa.array(pos, pa.int64())).to_pylist() for t, pos in pick_positions(table, per_tier).items()}


def resolve_clip_path(clip_path: Any, base_dir: Path, allowed_root: Path | None) -> Path:
    """Turn a clip_path from the table into a file to open, refusing anything outside `allowed_root`.

    Paths in a table are data, not trusted filesystem paths: relative ones are taken
    relative to `base_dir`, symlinks are resolved, and the result must be a regular
    file inside `allowed_root` (when given).  Raises ValueError with the reason.
    """
    if not isinstance(clip_path, str) or not clip_path.strip():
        raise ValueError("no clip_path in the tier table")
    if "\x00" in clip_path:
        raise ValueError("clip_path contains a NUL byte")
    p = Path(clip_path)
    if not p.is_absolute():
        p = base_dir / p
    real = Path(os.path.realpath(p))
    if allowed_root is not None:
        root = Path(os.path.realpath(allowed_root))
        if not real.is_relative_to(root):
            raise ValueError(f"clip_path is outside the clips directory {root}")
    if not real.is_file():
        raise ValueError("clip file not found")
    return real


def frame_indices(num_frames: int, count: int) -> list[int]:
    """`count` frame indices at the centres of equal segments of the clip."""
    if num_frames <= 0:
        return []
    count = min(count, num_frames)
    return sorted({min(num_frames - 1, int((i + 0.5) * num_frames / count)) for i in range(count)})


def _thumb(frame: Any, width: int) -> Image.Image:
    img = Image.fromarray(frame)
    w, h = img.size
    height = max(1, round(h * width / max(1, w)))
    return img.resize((width, height), Image.Resampling.BILINEAR)


#: colour of the detected burned-in overlay box drawn on the frames
OVERLAY_RGB = (255, 0, 200)


def draw_box(image: Image.Image, box: Any) -> None:
    """Outline a relative [x, y, w, h] box (0..1, the score stage's overlay_box) on `image`, in place."""
    if not box or len(box) != 4 or any(v is None for v in box):
        return
    from PIL import ImageDraw

    w, h = image.size
    x0, y0 = round(float(box[0]) * w), round(float(box[1]) * h)
    x1, y1 = round((float(box[0]) + float(box[2])) * w) - 1, round((float(box[1]) + float(box[3])) * h) - 1
    if x1 > x0 and y1 > y0:
        ImageDraw.Draw(image).rectangle([x0, y0, x1, y1], outline=OVERLAY_RGB, width=max(1, w // 80))


def read_strip(path: Path, frames: int, thumb_width: int, overlay_box: Any = None) -> tuple[list[int], bytes]:
    """Decode `frames` evenly spaced frames with decord and return (indices, JPEG strip); a detected
    overlay box (relative [x, y, w, h]) is outlined on every frame."""
    import decord  # imported here: decord is heavy and only the contact sheet needs it

    vr = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    idx = frame_indices(len(vr), frames)
    if not idx:
        raise ValueError("clip has no decodable frames")
    thumbs = [_thumb(vr[i].asnumpy(), thumb_width) for i in idx]
    del vr
    for t in thumbs:
        draw_box(t, overlay_box)
    height = max(t.size[1] for t in thumbs)
    strip = Image.new("RGB", (len(thumbs) * thumb_width + (len(thumbs) - 1) * GAP_PX, height), (255, 255, 255))
    for k, t in enumerate(thumbs):
        strip.paste(t, (k * (thumb_width + GAP_PX), 0))
    buf = io.BytesIO()
    strip.save(buf, format="JPEG", quality=85, optimize=False, progressive=False)
    return idx, buf.getvalue()


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def build_contact_sheet(
    clips: Any,
    per_tier: int,
    frames: int,
    thumb_width: int,
    base_dir: str | Path = ".",
    allowed_root: str | Path | None = None,
    progress: bool = True,
) -> dict[int, list[SheetCell]]:
    """Cells per tier (1..5) for the HTML contact sheet; unreadable clips get an error cell.

    `clips`: the report's clip table (or rows, see `pick_clips`); only the picked rows become dicts."""
    import decord

    readable_errors = (RuntimeError, decord.DECORDError, OSError, ValueError, IndexError)
    picked = pick_clips(clips, per_tier)
    base = Path(base_dir)
    root = Path(allowed_root) if allowed_root is not None else None
    todo = [(t, r) for t in TIERS for r in picked[t]]
    sheet: dict[int, list[SheetCell]] = {t: [] for t in TIERS}
    for t, r in tqdm(todo, desc="contact sheet", unit="clip", disable=not progress or not todo):
        idx: list[int] = []
        image = None
        error = None
        try:
            path = resolve_clip_path(r["clip_path"], base, root)
            idx, image = read_strip(path, frames, thumb_width, r.get("overlay_box"))
        except readable_errors as exc:
            error = _error_text(exc)
        sheet[t].append(
            SheetCell(
                clip_id=r["clip_id"],
                tier=t,
                difficulty=r["difficulty"],
                duration_s=r["duration_s"],
                caption=r["caption"],
                source_path=r["source_path"],
                frame_indices=idx,
                image_jpeg=image,
                error=error,
            )
        )
    return sheet
