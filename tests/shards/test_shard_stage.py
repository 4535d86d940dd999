"""The shard stage end to end: params -> run_shard / pipelines.shard / `shards write` -> shards + manifest + metrics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from curation.config import load_params
from shards import run_shard
from shards.verify import verify_manifest

ROOT = Path(__file__).resolve().parents[2]


def _params_file(dataset, tmp_path) -> Path:
    data = {
        "paths": {
            "clips_dir": str(dataset["clips_dir"]),
            "tiers_table": str(dataset["tiers"]),
            "text_embeddings": str(dataset["embeddings"]),
            "shards_dir": str(tmp_path / "shards"),
            "metrics_dir": str(tmp_path / "metrics"),
        },
        "shard": {"max_bytes": 1 << 20, "max_samples": 3, "include_flow_curve": False},
    }
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_run_shard_writes_set_and_metrics(dataset, tmp_path):
    params = load_params(_params_file(dataset, tmp_path))
    m = run_shard(params, progress=False)
    assert verify_manifest(tmp_path / "shards").ok
    metrics = json.loads((tmp_path / "metrics" / "shards.json").read_text())
    assert metrics["totals"]["samples"] == 15 and metrics["tiers"]["1"]["shards"] == 2 and metrics["excluded"] == 1
    assert m["shard_params"]["include_flow_curve"] is False and not any("flow" in n for n in _names(tmp_path / "shards"))


def _names(root: Path) -> list[str]:
    import tarfile

    out = []
    for p in sorted(root.rglob("*.tar")):
        with tarfile.open(p) as t:
            out += t.getnames()
    return out


@pytest.mark.slow
def test_pipeline_and_cli_write(dataset, tmp_path):
    pf = _params_file(dataset, tmp_path)
    proc = subprocess.run([sys.executable, "-m", "pipelines.shard", "--params", str(pf)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "15 sample(s)" in proc.stdout
    out = tmp_path / "cli"
    proc = subprocess.run([sys.executable, "-m", "shards.cli", "write", "--params", str(pf), "--out", str(out), "--max-samples", "100", "-q"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "tier 1: 1 shard(s), 4 sample(s)" in proc.stdout
    assert verify_manifest(out).ok
    proc = subprocess.run([sys.executable, "-m", "shards.cli", "write", "--params", str(pf), "--tiers-table", str(tmp_path / "nope.parquet"), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0 and "nope.parquet" in proc.stderr
