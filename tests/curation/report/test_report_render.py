"""The HTML page renders in headless Chromium to a non-blank screenshot (skips when Chromium is absent)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from curation.config import ReportParams
from curation.report import ReportPaths, build_html, build_summary, load
from curation.report.html_page import BANNER_COLOR
from tests.curation.report.conftest import write_tables

pytestmark = pytest.mark.slow


def _chromium() -> str | None:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(html: Path, png: Path, profile: Path) -> Image.Image:
    exe = _chromium()
    if exe is None:
        pytest.skip("chromium not installed (bash scripts/setup.sh --dev installs it)")
    cmd = [
        exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
        "--hide-scrollbars", f"--user-data-dir={profile}", f"--screenshot={png}", "--window-size=1280,2000", html.resolve().as_uri(),
    ]
    env = {**os.environ, "HOME": str(profile)}
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert run.returncode == 0 and png.is_file(), run.stderr[-2000:]
    return Image.open(png).convert("RGB")


def _render(root: Path) -> Path:
    paths = ReportPaths(tiers=root / "tiers.parquet", rejects=root / "rejects.parquet", clips_root=root / "clips", base_dir=root)
    params = ReportParams()
    inputs = load(paths)
    out = root / "report.html"
    out.write_text(build_html(inputs, build_summary(inputs, params), params, paths, progress=False), encoding="utf-8")
    return out


def _banner_rgb() -> tuple[int, int, int]:
    h = BANNER_COLOR.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def test_renders_non_blank_with_banner(report_dir, tmp_path):
    write_tables(report_dir, clip_weights="random-init")
    img = screenshot(_render(report_dir), tmp_path / "shot.png", tmp_path / "profile")
    assert img.size == (1280, 2000)
    colors = Counter(img.getdata())
    assert len(colors) > 500  # plots, frames and text, not a blank page
    assert colors.most_common(1)[0][1] < 0.8 * img.size[0] * img.size[1]
    banner = colors[_banner_rgb()]
    assert banner > 1280 * 40  # a wide, tall red banner
    top = img.crop((0, 0, 1280, 60))
    assert Counter(top.getdata())[_banner_rgb()] > 0.5 * 1280 * 60  # ... at the very top


def test_no_banner_with_pretrained_weights(report_dir, tmp_path):
    write_tables(report_dir, clip_weights="pretrained:openai")
    img = screenshot(_render(report_dir), tmp_path / "shot.png", tmp_path / "profile")
    colors = Counter(img.getdata())
    assert len(colors) > 500
    assert colors[_banner_rgb()] < 200
