"""Caption quality in the report: per-tier CLIP caption-frame similarity and the lowest-matching clips,
only with real CLIP weights and captions; otherwise one line that says why not."""

from __future__ import annotations

import io
import re

import pyarrow as pa
import pytest
from rich.console import Console

from curation.config import ReportParams
from curation.report import ReportPaths, build_html, build_summary, load
from curation.report.caption_quality import caption_quality
from curation.report.terminal import print_summary
from tests.curation.report.conftest import write_tables

REAL = "pretrained:openai"
# clip_id, tier, caption, similarity, clip_weights, caption_source
ROWS = [
    ("a", 1, "A red car on a road.", 0.30, REAL, "sidecar:txt"),
    ("b", 1, "A cat.", 0.10, REAL, "captioner:HuggingFaceTB/SmolVLM2-256M-Video-Instruct"),
    ("c", 1, "A dog runs.", 0.20, REAL, "captioner:HuggingFaceTB/SmolVLM2-256M-Video-Instruct"),
    ("d", 2, "Clouds over hills.", 0.25, REAL, "sidecar:srt"),
    ("e", 2, None, None, REAL, "none"),
    ("f", 2, "   ", 0.90, REAL, "sidecar:txt"),  # blank caption: not a caption
    ("g", 0, "A duplicate.", 0.05, REAL, "sidecar:json"),  # excluded clip (tier 0) still measured
    ("h", 3, "Noise.", 0.01, "random-init", "sidecar:txt"),  # random-init CLIP row: never measured
    ("i", 3, "Not scored.", None, REAL, "sidecar:txt"),
]


def _table(rows=ROWS) -> pa.Table:
    cols = list(zip(*rows, strict=True))
    return pa.table({
        "clip_id": pa.array(cols[0], pa.string()), "tier": pa.array(cols[1], pa.int32()), "caption": pa.array(cols[2], pa.string()),
        "caption_similarity": pa.array(cols[3], pa.float64()), "clip_weights": pa.array(cols[4], pa.string()),
        "caption_source": pa.array(cols[5], pa.string()),
    })  # fmt: skip


def test_per_tier_stats_sources_and_lowest():
    cq = caption_quality(_table(), lowest=3)
    assert cq["shown"] is True and cq["note"] is None and cq["clip_weights"] == [REAL]
    assert (cq["clips"], cq["captioned"], cq["measured"], cq["not_measured"]) == (9, 7, 5, 2)
    by_tier = {t["tier"]: t for t in cq["tiers"]}
    assert sorted(by_tier) == [0, 1, 2]
    t1 = by_tier[1]
    assert (t1["captioned"], t1["measured"]) == (3, 3)
    assert t1["min"] == 0.1 and t1["p10"] == pytest.approx(0.12) and t1["median"] == 0.2 and t1["mean"] == pytest.approx(0.2) and t1["max"] == 0.3
    assert (by_tier[2]["captioned"], by_tier[2]["measured"], by_tier[2]["median"]) == (1, 1, 0.25)
    assert by_tier[0]["median"] == 0.05
    sources = {s["source"]: s for s in cq["by_source"]}
    assert sorted(sources) == ["captioner:HuggingFaceTB/SmolVLM2-256M-Video-Instruct", "sidecar"]
    assert sources["sidecar"]["measured"] == 3 and sources["sidecar"]["median"] == 0.25
    assert sources["captioner:HuggingFaceTB/SmolVLM2-256M-Video-Instruct"]["mean"] == pytest.approx(0.15)
    assert [(r["clip_id"], r["caption_similarity"]) for r in cq["lowest"]] == [("g", 0.05), ("b", 0.1), ("c", 0.2)]
    assert cq["lowest"][1]["caption"] == "A cat." and cq["lowest"][1]["tier"] == 1


def test_pandas_input_and_ties_are_deterministic():
    rows = [*ROWS, ("a0", 2, "Tie.", 0.10, REAL, "sidecar:txt")]  # ties with b at 0.10: clip_id decides
    from_arrow = caption_quality(_table(rows), lowest=4)
    assert [r["clip_id"] for r in from_arrow["lowest"]] == ["g", "a0", "b", "c"]
    assert caption_quality(_table(rows).to_pandas(), lowest=4) == from_arrow
    assert caption_quality(_table(rows[::-1]), lowest=4) == from_arrow


def test_random_init_clip_is_not_shown():
    rows = [(r[0], r[1], r[2], r[3], "random-init", r[5]) for r in ROWS]
    cq = caption_quality(_table(rows))
    assert cq["shown"] is False
    assert "CLIP weights are random-init (or unknown) for all 7 captioned clips" in cq["note"] and "curation models fetch clip" in cq["note"]


def test_no_captions_or_columns_or_similarities():
    no_caps = [(r[0], r[1], None, None, REAL, "none") for r in ROWS]
    cq = caption_quality(_table(no_caps))
    assert cq["shown"] is False and "none of the 9 clips has a caption" in cq["note"]
    unscored = [(r[0], r[1], r[2], None, r[4], r[5]) for r in ROWS]
    assert "no caption_similarity" in caption_quality(_table(unscored))["note"]
    assert "no caption_similarity column" in caption_quality(_table().drop_columns(["caption_similarity"]))["note"]


def _report(root, **kw):
    paths = ReportPaths(tiers=root / "tiers.parquet", rejects=root / "rejects.parquet", clips_root=root / "clips", base_dir=root)
    params = ReportParams(contact_sheet_clips=1, contact_sheet_frames=1, thumb_width=64, **kw)
    inputs = load(paths)
    summary = build_summary(inputs, params)
    return summary, build_html(inputs, summary, params, paths, progress=False)


def test_report_page_and_terminal_show_it(report_dir):
    exp = write_tables(report_dir)  # real CLIP label; captions with similarity on c00, c02, c04, c06
    summary, page = _report(report_dir, caption_quality_clips=2)
    cq = summary["caption_quality"]
    measured = sorted((r["caption_similarity"], r["clip_id"]) for r in exp["rows"] if r["caption"] and r["caption_similarity"] is not None)
    assert cq["shown"] and cq["measured"] == len(measured) == 4
    assert [r["clip_id"] for r in cq["lowest"]] == [cid for _, cid in measured[:2]]
    assert '<section id="caption-quality">' in page and 'id="caption-quality-lowest"' in page
    lowest_table = page.split('id="caption-quality-lowest"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r"<code>(c\d\d_[a-z_]+)</code>", lowest_table) == [cid for _, cid in measured[:2]]
    console = Console(file=io.StringIO(), width=200, color_system=None)
    print_summary(summary, console)
    assert f"lowest: {measured[0][1]} {measured[0][0]:.3f}" in console.file.getvalue()


def test_report_page_says_why_not_with_random_init(report_dir):
    write_tables(report_dir, clip_weights="random-init")
    summary, page = _report(report_dir)
    assert summary["caption_quality"]["shown"] is False
    assert 'id="caption-quality-note"' in page and "caption-frame similarity is noise" in page
    assert 'id="caption-quality-lowest"' not in page
