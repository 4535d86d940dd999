"""The HTML page: self-contained, escaped, banner when random-init, placeholders for broken clips, deterministic."""

from __future__ import annotations

import base64
import io
import re

from PIL import Image

from curation.config import ReportParams
from curation.report import ReportPaths, build_html, build_summary, load
from curation.report.html_page import BANNER_COLOR
from tests.curation.report.conftest import HOSTILE, HOSTILE_CAPTION, write_tables


def _html(root, **kw):
    paths = ReportPaths(tiers=root / "tiers.parquet", rejects=root / "rejects.parquet", clips_root=root / "clips", base_dir=root)
    params = ReportParams(contact_sheet_clips=2, contact_sheet_frames=3, thumb_width=96, **kw)
    inputs = load(paths)
    return build_html(inputs, build_summary(inputs, params), params, paths, progress=False)


def test_self_contained_with_embedded_pngs(report_dir):
    write_tables(report_dir)
    page = _html(report_dir)
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", page, re.I)
    assert "<script" not in page and "<link" not in page
    pngs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(pngs) == 3  # histogram, hours per tier, flow vs CLIP
    for b64 in pngs:
        img = Image.open(io.BytesIO(base64.b64decode(b64)))
        assert img.format == "PNG" and img.size[0] > 300 and len(img.convert("RGB").getcolors(1 << 20)) > 10
    assert len(re.findall(r'src="data:image/jpeg;base64,', page)) == 8  # contact-sheet strips of the readable clips
    for section in ("tiers", "formula", "plots", "contact-sheet", "rejects"):
        assert f'<section id="{section}">' in page


def test_untrusted_text_is_escaped(report_dir):
    write_tables(report_dir)
    page = _html(report_dir)
    assert HOSTILE not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;.mp4" in page
    assert HOSTILE_CAPTION not in page and "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;caption&#x27;)&lt;/script&gt; a red car &amp; a &lt;b&gt;tree&lt;/b&gt;" in page
    assert "&lt;script&gt;x&lt;/script&gt;.avi" in page  # rejected file name
    assert "&lt;b&gt;tag&lt;/b&gt;" in page  # tag


def test_broken_clip_is_a_placeholder(report_dir):
    write_tables(report_dir)
    page = _html(report_dir)
    assert page.count('class="placeholder"') == 2  # the corrupt file and the path outside the clips dir
    assert "outside the clips directory" in page
    assert re.search(r'class="placeholder"><b>frames unavailable</b>(RuntimeError|DECORDError)', page)


def test_banner_only_for_random_init(report_dir):
    write_tables(report_dir)
    page = _html(report_dir)
    assert "random-init-banner" not in page and "NOT MEANINGFUL" not in page
    write_tables(report_dir, captioner_weights="random-init")
    page = _html(report_dir)
    assert 'id="random-init-banner"' in page and "RANDOM-INIT CAPTIONER WEIGHTS" in page
    assert page.index("random-init-banner") < page.index("<h1>")  # at the top
    write_tables(report_dir, clip_weights="random-init", captioner_weights="random-init")
    page = _html(report_dir)
    assert "RANDOM-INIT CLIP and CAPTIONER WEIGHTS" in page and BANNER_COLOR in page


def test_html_is_deterministic(report_dir):
    write_tables(report_dir, clip_weights="random-init")
    assert _html(report_dir) == _html(report_dir)


def test_empty_tier_table_still_renders(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.curation.report.conftest import TIERS_SCHEMA

    pq.write_table(TIERS_SCHEMA.empty_table(), tmp_path / "tiers.parquet")
    pq.write_table(pa.table({"source_path": ["a.mp4"], "stage": ["ingest"], "reason": ["unreadable"], "detail": ["x"]}), tmp_path / "rejects.parquet")
    page = _html(tmp_path)
    assert page.count('src="data:image/png;base64,') == 3
    assert page.count("no clips in this tier") == 5 and "unreadable" in page


def test_scatter_warns_only_for_random_clip(report_dir):
    """The motion-vs-CLIP plot carries a warning title only when CLIP itself was random-init."""
    from curation.report import build_plots

    def scatter(**kw):
        write_tables(report_dir, **kw)
        inputs = load(ReportPaths(tiers=report_dir / "tiers.parquet"))
        return build_plots(inputs, build_summary(inputs, ReportParams()))["flow_vs_clip"]

    plain = scatter()
    assert scatter(captioner_weights="random-init") == plain
    assert scatter(clip_weights="random-init") != plain
