"""The `difficulty-report` console script, end to end in a subprocess and in-process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from curation.report.cli import main
from tests.curation.report.conftest import write_tables


def _exe() -> list[str]:
    exe = shutil.which("difficulty-report")
    return [exe] if exe else [sys.executable, "-m", "curation.report.cli"]


def test_help_explains_options():
    out = subprocess.run([*_exe(), "--help"], capture_output=True, text=True, check=True).stdout
    for word in ("--params", "--tiers", "--rejects", "--json", "--html", "--clips-dir", "random-init", "contact sheet", "exit status"):
        assert word in out


def test_json_to_stdout_matches_input(report_dir):
    exp = write_tables(report_dir)
    cmd = [*_exe(), "--tiers", "tiers.parquet", "--rejects", "rejects.parquet", "--clips-dir", "clips", "--json"]
    run = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=report_dir)
    doc = json.loads(run.stdout)  # stdout is only the JSON, no table
    assert {t["tier"]: t["clips"] for t in doc["tiers"]} == {t: exp["clips"][t] for t in range(1, 6)}
    assert {t["tier"]: t["hours"] for t in doc["tiers"]} == {t: round(exp["seconds"][t] / 3600, 6) for t in range(1, 6)}
    assert doc["excluded"]["clips"] == 2 and doc["rejects"]["files"] == 4
    again = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=report_dir)
    assert again.stdout == run.stdout


def test_table_json_file_and_html(report_dir, capsys, monkeypatch):
    write_tables(report_dir, clip_weights="random-init")
    monkeypatch.chdir(report_dir)
    rc = main(["--tiers", "tiers.parquet", "--rejects", "rejects.parquet", "--clips-dir", "clips", "--json", "out/s.json", "--html", "out/r.html", "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "Curriculum tiers" in out and "excluded (tier 0): 2 clips" in out and "RANDOM-INIT" in out
    assert json.loads((report_dir / "out" / "s.json").read_text())["weights"]["random_init"] is True
    page = (report_dir / "out" / "r.html").read_text()
    assert 'id="random-init-banner"' in page


@pytest.mark.parametrize("args,msg", [(["--tiers", "missing.parquet"], "tiers table not found"), (["--params", "nope.yaml"], "params file not found")])
def test_input_errors_exit_2(tmp_path, args, msg):
    run = subprocess.run([*_exe(), *args], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 2
    assert msg in run.stderr and "Traceback" not in run.stderr


def test_params_file_sets_defaults(report_dir, monkeypatch, capsys):
    write_tables(report_dir)
    (report_dir / "p.yaml").write_text(
        "paths:\n  tiers_table: tiers.parquet\n  rejects_table: rejects.parquet\n  clips_dir: clips\nreport:\n  top_tags: 1\n"
    )
    monkeypatch.chdir(report_dir)
    assert main(["--params", "p.yaml", "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["rejects"]["files"] == 4 and all(len(t["top_tags"]) <= 1 for t in doc["tiers"])
