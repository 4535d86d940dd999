"""Summary figures match the tier table; the terminal table and the JSON carry the same numbers."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from curation.config import ReportParams
from curation.report.load import ReportInputError, load_inputs
from curation.report.outputs import histogram_csv, report_metrics, summary_json
from curation.report.summary import summarize
from curation.report.terminal import print_summary
from tests.curation.report.conftest import write_tables


def _summary(root, **kw):
    inputs = load_inputs(root / "tiers.parquet", root / "rejects.parquet")
    return summarize(inputs, ReportParams(**kw), formula="difficulty = test")


def test_counts_and_hours_per_tier(tmp_path):
    exp = write_tables(tmp_path)
    s = _summary(tmp_path)
    assert [t["tier"] for t in s["tiers"]] == [1, 2, 3, 4, 5]
    for t in s["tiers"]:
        assert t["clips"] == exp["clips"][t["tier"]]
        assert t["hours"] == pytest.approx(exp["seconds"][t["tier"]] / 3600, abs=1e-6)
    assert s["excluded"]["clips"] == exp["clips"][0] == 2
    assert s["excluded"]["hours"] == pytest.approx(exp["seconds"][0] / 3600, abs=1e-6)
    assert {r["reason"]: r["clips"] for r in s["excluded"]["reasons"]} == {"duplicate": 1, "score_failed": 1}
    assert s["totals"]["clips"] == len(exp["rows"])
    assert s["totals"]["tiered_clips"] == sum(exp["clips"][t] for t in range(1, 6))
    assert s["rejects"]["files"] == exp["rejects"]
    assert s["rejects"]["reasons"][0] == {"stage": "ingest", "reason": "zero_length", "files": 2}


def test_difficulty_stats_tags_languages(tmp_path):
    write_tables(tmp_path)
    s = _summary(tmp_path, top_tags=2)
    t1, t2, t4 = s["tiers"][0], s["tiers"][1], s["tiers"][3]
    assert t1["difficulty"] == {"min": 0.05, "median": 0.085, "mean": 0.085, "max": 0.12}
    assert t1["top_tags"] == [{"tag": "static", "clips": 2}, {"tag": "pattern", "clips": 1}]  # ties broken by name, top 2
    assert t2["languages"] == [{"language": "en", "clips": 1}, {"language": "fr", "clips": 1}]
    assert t4["difficulty"]["max"] == 0.9
    hist = s["difficulty_histogram"]
    assert sum(hist["clips"]) == s["totals"]["tiered_clips"]  # excluded clips are not in the curriculum histogram
    assert len(hist["centers"]) == 20 and hist["edges"][0] == 0.0 and hist["edges"][-1] == 1.0


def test_random_init_flags(tmp_path):
    write_tables(tmp_path)
    assert _summary(tmp_path)["weights"]["random_init"] is False
    write_tables(tmp_path, clip_weights="random-init", captioner_weights="random-init")
    w = _summary(tmp_path)["weights"]
    assert w["random_init"] is True
    assert [m["model"] for m in w["random_init_models"]] == ["CLIP", "captioner"]
    assert w["random_init_models"][0]["clips"] == w["random_init_models"][0]["of"] == 12


def test_json_is_independent_of_row_order_and_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    write_tables(a, order=1)
    write_tables(b, order=-1)
    ja, jb = summary_json(_summary(a)), summary_json(_summary(b))
    assert ja == jb
    assert ja == summary_json(_summary(a))
    doc = json.loads(ja)
    assert list(doc)[:4] == ["schema_version", "totals", "tiers", "excluded"]


def test_terminal_table_shows_counts_and_hours(tmp_path):
    exp = write_tables(tmp_path, clip_weights="random-init")
    s = _summary(tmp_path)
    buf = io.StringIO()
    print_summary(s, Console(file=buf, width=200, color_system=None))
    out = buf.getvalue()
    lines = out.splitlines()
    for t in range(1, 6):
        row = next(line for line in lines if line.startswith("│") and line.split("│")[1].strip() == str(t))
        cells = [c.strip() for c in row.split("│")[1:-1]]
        assert cells[1] == str(exp["clips"][t])
        assert cells[2] == f"{exp['seconds'][t] / 3600:.4f}"
    assert "excluded (tier 0): 2 clips" in out
    assert "rejected files: 4" in out
    assert "RANDOM-INIT" in out and "CLIP" in out


def test_metrics_and_histogram_csv(tmp_path):
    exp = write_tables(tmp_path, clip_weights="random-init")
    s = _summary(tmp_path, histogram_bins=10)
    m = report_metrics(s)
    assert m["random_init"] is True
    assert m["tiers"]["3"] == {"clips": exp["clips"][3], "hours": round(exp["seconds"][3] / 3600, 6)}
    lines = histogram_csv(s).splitlines()
    assert lines[0] == "difficulty_bin,clips" and len(lines) == 11
    assert lines[1] == "0.05,1"  # bin [0.0, 0.1), centre 0.05: only the clip with difficulty 0.05
    assert sum(int(x.split(",")[1]) for x in lines[1:]) == s["totals"]["tiered_clips"]


def test_missing_or_incomplete_tiers_table(tmp_path):
    with pytest.raises(ReportInputError, match="tiers table not found"):
        load_inputs(tmp_path / "nope.parquet")
    pq.write_table(pa.table({"clip_id": ["a"], "tier": [1]}), tmp_path / "t.parquet")
    with pytest.raises(ReportInputError, match="missing columns"):
        load_inputs(tmp_path / "t.parquet")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(ReportInputError, match="not a readable parquet"):
        load_inputs(tmp_path / "bad.parquet")


def test_minimal_table_and_no_rejects(tmp_path):
    """Only the required columns, no rejects file: still a complete summary."""
    pq.write_table(pa.table({"clip_id": ["b", "a"], "tier": [2, 0], "duration_s": [3.0, 1.0], "difficulty": [0.4, None]}), tmp_path / "t.parquet")
    s = summarize(load_inputs(tmp_path / "t.parquet", tmp_path / "missing.parquet"), ReportParams())
    assert s["tiers"][1]["clips"] == 1 and s["excluded"]["reasons"] == [{"reason": "unspecified", "clips": 1}]
    assert s["rejects"]["files"] == 0 and s["weights"]["random_init"] is False
    summary_json(s)  # no NaN sneaks into the JSON
