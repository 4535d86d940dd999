"""The DVC `report` stage: its files, and `dvc repro report` + `dvc metrics show` in a scratch repo."""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from curation.config import DifficultyWeights, PathsParams, parse_params
from curation.report import write_stage_outputs
from curation.report.summary import difficulty_formula
from tests.conftest import ROOT
from tests.curation.report.conftest import write_tables


def _project(root: Path) -> None:
    """Lay report_dir out like the repository: data/tiers.parquet, data/rejects.parquet, data/clips/."""
    data = root / "data"
    data.mkdir()
    shutil.move(root / "clips", data / "clips")
    shutil.move(root / "outside.mp4", data / "outside.mp4")
    write_tables(data, clip_weights="random-init")
    # write_tables points clip_path at clips/...: rewrite to the repo-relative data/clips/...
    import pyarrow.parquet as pq

    t = pq.read_table(data / "tiers.parquet").to_pylist()
    for r in t:
        r["clip_path"] = "data/" + r["clip_path"]
    import pyarrow as pa

    from tests.curation.report.conftest import TIERS_SCHEMA

    pq.write_table(pa.Table.from_pylist(t, schema=TIERS_SCHEMA), data / "tiers.parquet")


def test_stage_outputs(report_dir):
    _project(report_dir)
    (report_dir / "metrics").mkdir()
    (report_dir / "metrics" / "ingest.json").write_text('{"clips": 12, "rejects": {"zero_length": 2}}')
    (report_dir / "metrics" / "report.json").write_text('{"stale": true}')  # its own output is never read back
    params = parse_params({"report": {"contact_sheet_clips": 1, "contact_sheet_frames": 2}})
    out = write_stage_outputs(params, base_dir=report_dir, progress=False)
    assert sorted(out) == ["histogram", "html", "json", "metrics"]
    m = json.loads(out["metrics"].read_text())
    assert m["random_init"] is True and m["tiers"]["1"]["clips"] == 2 and m["excluded_clips"] == 2
    csv = out["histogram"].read_text().splitlines()
    assert csv[0] == "difficulty_bin,clips" and len(csv) == 21
    page = out["html"].read_text()
    assert "metrics/ingest.json" in page and "zero_length" in page and "stale" not in page
    # one clip per tier (the middle one): tier 4's is the corrupt file, tier 5's the path escaping data/clips
    assert page.count('src="data:image/jpeg') == 3 and page.count('class="placeholder"') == 2
    doc = json.loads(out["json"].read_text())
    assert doc["stage_metrics"] == {"ingest": {"clips": 12, "rejects": {"zero_length": 2}}}
    assert doc["difficulty_weights"] == params.score.weights.model_dump() and "score.weights" in page
    assert doc["difficulty_formula"] == difficulty_formula()  # the scorer's string when it is importable, else None
    if doc["difficulty_formula"]:
        assert html.escape(doc["difficulty_formula"].splitlines()[0]) in page
    first = {k: p.read_bytes() for k, p in out.items()}
    write_stage_outputs(params, base_dir=report_dir, progress=False)
    assert {k: p.read_bytes() for k, p in out.items()} == first  # byte-identical re-run


@pytest.mark.slow
def test_dvc_repro_and_metrics_show(report_dir):
    """The real report block of dvc.yaml runs under `dvc repro`, and `dvc metrics show` reads its metrics."""
    dvc = shutil.which("dvc")
    if dvc is None:
        pytest.skip("dvc not installed")
    _project(report_dir)
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["report"]
    (report_dir / "dvc.yaml").write_text(yaml.safe_dump({"vars": ["params.yaml"], "stages": {"report": stage}}, sort_keys=False))
    (report_dir / "params.yaml").write_text(yaml.safe_dump({"paths": PathsParams().model_dump(), "score": {"weights": DifficultyWeights().model_dump()}, "report": {"contact_sheet_clips": 1}}))
    for dep in stage["deps"]:  # the code the stage declares (data deps are made below)
        src = ROOT / dep
        if "${" in dep or not src.exists():
            continue
        (report_dir / dep).parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, report_dir / dep, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, report_dir / dep)
    (report_dir / "pipelines" / "__init__.py").write_text("")
    # the upstream outputs the stage declares as deps
    (report_dir / "metrics").mkdir()
    for name in ("ingest", "caption", "score", "tiers", "shards"):
        (report_dir / "metrics" / f"{name}.json").write_text(json.dumps({"stage": name}))
    (report_dir / "data" / "shards").mkdir()
    manifest = {"tiers": {"1": {"shards": 2, "samples": 7, "hours": 0.25, "bytes": 3 * 2**20}}, "shards": [{}, {}], "excluded": 2}
    (report_dir / "data" / "shards" / "manifest.json").write_text(json.dumps(manifest))
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(ROOT)}
    run = lambda *a: subprocess.run([dvc, *a], cwd=report_dir, env=env, capture_output=True, text=True, timeout=300)  # noqa: E731
    assert run("init", "--no-scm", "-q").returncode == 0
    r = run("repro", "report")
    assert r.returncode == 0, r.stdout + r.stderr
    for rel in ("reports/difficulty.html", "reports/difficulty.json", "metrics/report.json", "metrics/difficulty_hist.csv"):
        assert (report_dir / rel).is_file(), rel
    shown = run("metrics", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    metrics = json.loads(shown.stdout)
    flat = json.dumps(metrics)
    assert '"random_init": true' in flat and '"tiered_clips": 10' in flat
    page = (report_dir / "reports" / "difficulty.html").read_text()
    assert "shard manifest" in page and "[2 items]" in page
    assert "<td class=num>2</td><td class=num>7</td><td class=num>0.25</td><td class=num>3.00</td>" in page
    status = run("status")
    assert status.returncode == 0 and "up to date" in status.stdout  # outputs match the lock: nothing left to rebuild
