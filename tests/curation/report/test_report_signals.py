"""The curation-signals section (camera motion, content flags, overlays, black bars per tier) and the
overlay box on the contact sheet."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from curation.config import ReportParams
from curation.report.contact_sheet import OVERLAY_RGB, read_strip
from curation.report.html_page import render_signals
from curation.report.load import load_inputs
from curation.report.summary import summarize
from tests.curation.report.conftest import write_tables

SIGNALS = {  # clip name -> (camera_motion, content_flags, overlay_fraction, overlay_box, crop_box)
    "calm_gradient": ("static", ["still"], None, None, None),
    "bars": ("static", ["screen"], 0.0, None, None),
    "rgb": ("pan_left", [], 0.0, None, [0, 60, 640, 360]),
    "testsrc": ("pan_left", ["screen"], 0.05, [0.1, 0.8, 0.5, 0.1], None),
    "cells": ("complex", [], 0.0, None, None),
}


def _with_signals(root) -> pa.Table:
    t = pq.read_table(root / "tiers.parquet")
    names = [cid.split("_", 1)[1] if "_" in cid else cid for cid in t.column("clip_id").to_pylist()]
    get = lambda k: [SIGNALS.get(n, (None, [], None, None, None))[k] for n in names]  # noqa: E731
    t = t.append_column("camera_motion", pa.array(get(0), pa.string())).append_column("content_flags", pa.array(get(1), pa.list_(pa.string())))
    t = t.append_column("overlay_fraction", pa.array(get(2), pa.float64())).append_column("overlay_box", pa.array(get(3), pa.list_(pa.float32())))
    t = t.append_column("crop_box", pa.array(get(4), pa.list_(pa.int32())))
    pq.write_table(t, root / "tiers.parquet")
    return t


def test_counts_per_tier_and_examples(tmp_path):
    write_tables(tmp_path)
    _with_signals(tmp_path)
    s = summarize(load_inputs(tmp_path / "tiers.parquet", tmp_path / "rejects.parquet"), ReportParams())["signals"]
    assert s["shown"]
    cam = {x["label"]: x for x in s["camera_motion"]}
    assert {k: v["clips"] for k, v in cam.items()} == {"static": 2, "pan_left": 2, "complex": 1}
    assert cam["static"]["by_tier"]["tier_1"] == 2 and cam["pan_left"]["by_tier"]["tier_2"] == 2 and cam["complex"]["by_tier"]["tier_3"] == 1
    assert cam["static"]["examples"] == ["c00_calm_gradient", "c01_bars"]
    flags = {x["flag"]: x for x in s["content_flags"]}
    assert flags["screen"]["clips"] == 2 and flags["screen"]["by_tier"] == {"tier_0": 0, "tier_1": 1, "tier_2": 1, "tier_3": 0, "tier_4": 0, "tier_5": 0}
    assert flags["still"]["examples"] == ["c00_calm_gradient"] and "slideshow" not in flags
    ov = s["overlays"]
    assert ov["found"]["tier_2"] == 1 and sum(ov["found"].values()) == 1 and sum(ov["none"].values()) == 3
    assert ov["largest"] == [{"clip_id": "c03_testsrc", "overlay_fraction": 0.05}] and ov["mean_fraction_when_found"] == 0.05
    assert s["black_bars"]["examples"] == ["c02_rgb"] and s["black_bars"]["cropped"]["tier_2"] == 1
    page = render_signals({"signals": s})
    assert 'id="signals-camera"' in page and "<code>pan_left</code>" in page and "c03_testsrc</code> (0.050)" in page


def test_a_table_without_signals_says_so(tmp_path):
    write_tables(tmp_path)
    s = summarize(load_inputs(tmp_path / "tiers.parquet", tmp_path / "rejects.parquet"), ReportParams())["signals"]
    assert s == {"shown": False, "note": s["note"]} and "re-run score" in s["note"]
    assert "signals-note" in render_signals({"signals": s})


def test_overlay_box_is_outlined_on_the_contact_sheet(report_dir):
    box = [0.25, 0.5, 0.5, 0.25]  # relative x, y, w, h
    _, plain = read_strip(report_dir / "clips" / "testsrc.mp4", 1, 160)
    _, boxed = read_strip(report_dir / "clips" / "testsrc.mp4", 1, 160, overlay_box=box)
    a = np.asarray(Image.open(io.BytesIO(plain)).convert("RGB")).astype(int)
    b = np.asarray(Image.open(io.BytesIO(boxed)).convert("RGB")).astype(int)
    h, w = b.shape[:2]
    diff = np.abs(a - b).sum(axis=2) > 60
    ys, xs = np.nonzero(diff)
    tol = 5  # px: JPEG blocks smear the outline's edges a little
    assert diff.any() and abs(xs.min() - 0.25 * w) <= tol and abs(xs.max() - 0.75 * w) <= tol and abs(ys.min() - 0.5 * h) <= tol and abs(ys.max() - 0.75 * h) <= tol
    centre = b[int(0.62 * h), int(0.5 * w)]
    assert np.abs(centre - a[int(0.62 * h), int(0.5 * w)]).sum() < 60  # inside the box: the picture, not paint
    edge = b[int(0.5 * h) + 1, int(0.5 * w)]
    assert np.abs(edge - np.array(OVERLAY_RGB)).sum() < 120  # the outline colour (JPEG-compressed)
