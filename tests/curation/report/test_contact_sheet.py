"""Contact sheet: deterministic clip choice, real decord frames, error cells for unreadable or unsafe paths."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from curation.report.contact_sheet import build_contact_sheet, frame_indices, pick_clips, read_strip, resolve_clip_path
from curation.report.load import load_tiers
from tests.curation.report.conftest import HOSTILE, write_tables


def test_frame_indices():
    assert frame_indices(32, 4) == [4, 12, 20, 28]
    assert frame_indices(3, 8) == [0, 1, 2]
    assert frame_indices(1, 4) == [0]
    assert frame_indices(0, 4) == []


def test_pick_clips_spans_difficulty():
    rows = [{"clip_id": f"c{i}", "tier": 1, "difficulty": i / 10} for i in range(10)]
    rows.append({"clip_id": "z", "tier": 1, "difficulty": None})
    picked = pick_clips(rows, 3)
    assert [r["clip_id"] for r in picked[1]] == ["c0", "c5", "z"]  # lowest, middle, last (unscored sort last)
    assert [r["clip_id"] for r in pick_clips(rows[:10], 1)[1]] == ["c5"]
    assert pick_clips(rows, 20)[1] == sorted(rows, key=lambda r: (r["difficulty"] is None, r["difficulty"] or 0, r["clip_id"]))
    assert pick_clips(rows, 3)[2] == []


def test_resolve_clip_path_refuses_escapes(report_dir, tmp_path_factory):
    root = report_dir / "clips"
    assert resolve_clip_path("clips/bars.mp4", report_dir, root) == (root / "bars.mp4").resolve()
    with pytest.raises(ValueError, match="outside the clips directory"):
        resolve_clip_path("clips/../outside.mp4", report_dir, root)
    with pytest.raises(ValueError, match="outside the clips directory"):
        resolve_clip_path(str(report_dir / "outside.mp4"), report_dir, root)
    os.symlink(report_dir / "outside.mp4", root / "link.mp4")
    with pytest.raises(ValueError, match="outside the clips directory"):
        resolve_clip_path("clips/link.mp4", report_dir, root)
    with pytest.raises(ValueError, match="not found"):
        resolve_clip_path("clips/missing.mp4", report_dir, root)
    with pytest.raises(ValueError, match="no clip_path"):
        resolve_clip_path(None, report_dir, root)
    with pytest.raises(ValueError, match="NUL"):
        resolve_clip_path("clips/a\x00.mp4", report_dir, root)
    # with no root every existing file is allowed
    assert resolve_clip_path("outside.mp4", report_dir, None) == (report_dir / "outside.mp4").resolve()


def test_read_strip_decodes_real_frames(report_dir):
    idx, jpeg = read_strip(report_dir / "clips" / "testsrc.mp4", 4, 80)
    assert idx == [4, 12, 20, 28]  # 2 s at 16 fps = 32 frames
    img = Image.open(io.BytesIO(jpeg))
    assert img.format == "JPEG" and img.size == (4 * 80 + 3 * 2, 60)
    assert len(set(img.convert("RGB").getdata())) > 100  # real picture content, not a blank
    assert read_strip(report_dir / "clips" / "testsrc.mp4", 4, 80)[1] == jpeg  # deterministic


def test_broken_and_escaping_clips_become_error_cells(report_dir):
    write_tables(report_dir)
    clips = load_tiers(report_dir / "tiers.parquet")
    sheet = build_contact_sheet(clips, per_tier=4, frames=3, thumb_width=64, base_dir=report_dir, allowed_root=report_dir / "clips", progress=False)
    cells = {c.clip_id: c for cs in sheet.values() for c in cs}
    assert len(cells) == 10  # every tiered clip (2 per tier), no excluded ones
    broken, escape = cells["c11_broken"], cells["c12_escape"]
    assert broken.image_jpeg is None and broken.error and ("RuntimeError" in broken.error or "DECORDError" in broken.error)
    assert escape.image_jpeg is None and "outside the clips directory" in escape.error
    hostile = cells["c10_hostile"]
    assert hostile.error is None and hostile.image_jpeg and hostile.source_path == HOSTILE
    ok = [c for c in cells.values() if c.error is None]
    assert len(ok) == 8 and all(len(c.frame_indices) == 3 for c in ok)
