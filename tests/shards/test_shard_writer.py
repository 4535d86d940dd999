"""Shard writer / stage: bounded shards, byte-identical re-runs, deterministic tar layout, bad rows, temp cleanup."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from curation.io.atomic import temp_path_for
from shards.manifest import read_manifest, shard_path
from shards.tarformat import tar_size
from shards.verify import verify_manifest
from tests.shards.conftest import TEXT_DIM, write


def _members(path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(path) as tar:
        return tar.getmembers()


def test_shards_are_count_bounded_and_ordered(shard_set, dataset):
    m = read_manifest(shard_set)
    assert m["totals"]["samples"] == 15 and m["excluded"] == 1 and m["skipped"] == []
    for tier in range(1, 6):
        want = [r for r in dataset["rows"] if r["tier"] == tier]
        entries = [e for e in m["shards"] if e["tier"] == tier]
        assert sum(e["samples"] for e in entries) == len(want)
        assert all(e["samples"] <= 2 for e in entries)
        keys = []
        for e in entries:
            p = shard_path(shard_set, e)
            assert p.name == f"tier{tier}-{e['index']:06d}.tar" and p.parent.name == f"tier{tier}"
            keys += list(dict.fromkeys(ti.name.split(".")[0] for ti in _members(p)))
        # difficulty ascending, then clip_id
        assert keys == [r["clip_id"] for r in sorted(want, key=lambda r: (r["difficulty"], r["clip_id"]))]
    assert m["tiers"]["1"]["hours"] == round(sum(r["duration_s"] for r in dataset["rows"] if r["tier"] == 1) / 3600, 6)


def test_shards_are_size_bounded(dataset, tmp_path):
    max_bytes = 40 * 1024
    m = write(dataset, tmp_path / "s", max_bytes=max_bytes, max_samples=1000)
    sizes = [e["bytes"] for e in m["shards"]]
    assert all(s <= max_bytes for s in sizes) and len(m["shards"]) > 5  # more shards than tiers: the bound split them
    assert all((tmp_path / "s" / e["path"]).stat().st_size == e["bytes"] for e in m["shards"])
    # a sample larger than the bound gets a shard of its own, flagged
    m2 = write(dataset, tmp_path / "o", max_bytes=10240, max_samples=1000)
    assert all(e["samples"] == 1 for e in m2["shards"]) and any(e["oversize"] for e in m2["shards"])
    assert verify_manifest(tmp_path / "o").ok


def test_rerun_is_byte_identical(dataset, tmp_path):
    a, b = tmp_path / "a" / "shards", tmp_path / "b" / "shards"
    write(dataset, a)
    write(dataset, b)
    fa = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    fb = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert fa == fb and len(fa) == 9
    for rel in fa:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    # re-running over an existing set replaces it with identical bytes
    before = (a / "manifest.json").read_bytes()
    write(dataset, a)
    assert (a / "manifest.json").read_bytes() == before


def test_tar_members_are_deterministic_and_complete(shard_set, dataset):
    m = read_manifest(shard_set)
    e = m["shards"][0]
    path = shard_path(shard_set, e)
    assert path.stat().st_size == tar_size(sum(512 + -(-ti.size // 512) * 512 for ti in _members(path)))
    rows = {r["clip_id"]: r for r in dataset["rows"]}
    with tarfile.open(path) as tar:
        infos = tar.getmembers()
        assert [ti.name for ti in infos] == sorted(ti.name for ti in infos)
        for ti in infos:
            assert (ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname, ti.mode) == (0, 0, 0, "", "", 0o644) and ti.isreg()
        key = infos[0].name.split(".")[0]
        assert {ti.name[len(key) + 1 :] for ti in infos if ti.name.startswith(key + ".")} == {"flow.npy", "json", "mp4", "npy", "txt"}
        row = rows[key]
        meta = json.loads(tar.extractfile(f"{key}.json").read())
        assert meta["tier"] == row["tier"] and meta["tier_rank"] == 0 and meta["clip_sha256"] == row["clip_sha256"]
        assert meta["difficulty"] == row["difficulty"] and meta["tags"] == row["tags"] and meta["clip_weights"] == "random-init"
        assert meta["source_path"] == row["source_path"] and meta["start_frame"] == 0 and meta["has_flow_curve"] is True
        assert "thumb_signature" not in meta and "flow_curve" not in meta and meta["omitted_columns"] == ["flow_curve", "thumb_signature"]
        assert tar.extractfile(f"{key}.mp4").read() == Path(row["clip_path"]).read_bytes()
        emb = np.load(io.BytesIO(tar.extractfile(f"{key}.npy").read()))
        flow = np.load(io.BytesIO(tar.extractfile(f"{key}.flow.npy").read()))
        assert flow.dtype == np.float32 and np.allclose(flow, row["flow_curve"])
        assert tar.extractfile(f"{key}.txt").read().decode() == (row["caption"] or "")
        if row["embedding_row"] >= 0:
            assert meta["has_text_embedding"] and np.array_equal(emb, dataset["emb"][row["embedding_row"]])
        else:
            assert not meta["has_text_embedding"] and emb.shape == (TEXT_DIM,) and not emb.any()


def test_uncaptioned_clip_has_zero_embedding_and_empty_text(shard_set, dataset):
    row = next(r for r in dataset["rows"] if r["embedding_row"] < 0 and r["tier"] > 0)
    m = read_manifest(shard_set)
    for e in m["shards"]:
        with tarfile.open(shard_path(shard_set, e)) as tar:
            names = tar.getnames()
            if f"{row['clip_id']}.json" in names:
                meta = json.loads(tar.extractfile(f"{row['clip_id']}.json").read())
                assert meta["has_text_embedding"] is False and meta["caption"] is None
                assert tar.extractfile(f"{row['clip_id']}.txt").read() == b""
                assert not np.load(io.BytesIO(tar.extractfile(f"{row['clip_id']}.npy").read())).any()
                return
    raise AssertionError("uncaptioned clip not found in any shard")


def test_bad_rows_are_skipped_with_reasons(dataset, tmp_path):
    import pyarrow as pa

    table = pq.read_table(dataset["tiers"])
    rows = table.to_pylist()
    outside = tmp_path / "elsewhere.mp4"
    outside.write_bytes(Path(rows[1]["clip_path"]).read_bytes())
    rows[1] = {**rows[1], "clip_path": str(outside)}  # outside clips_dir
    rows[2] = {**rows[2], "clip_sha256": "f" * 64}  # file does not match
    rows[3] = {**rows[3], "clip_id": "../../etc/passwd"}  # unsafe key
    rows[4] = {**rows[4], "difficulty": float("nan")}
    rows[5] = {**rows[5], "tier": 9}
    rows[6] = {**rows[6], "embedding_row": 10_000}
    rows[7] = {**rows[7], "clip_path": str(dataset["clips_dir"] / "missing.mp4")}
    rows.append(dict(rows[8]))  # duplicate clip_id
    bad = tmp_path / "tiers.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), bad)
    m = write({**dataset, "tiers": bad}, tmp_path / "s")
    reasons = sorted(r["reason"] for r in m["skipped"])
    assert reasons == sorted(["clip_path_outside_clips_dir", "clip_sha256_mismatch", "bad_key", "missing_difficulty", "bad_tier",
                              "bad_embedding_row", "clip_missing", "duplicate_clip_id"])
    assert m["totals"]["samples"] == 15 - 7
    metrics = json.loads((tmp_path / "s-metrics.json").read_text())
    assert metrics["skipped"] == 8 and metrics["skipped_by_reason"]["bad_key"] == 1
    assert verify_manifest(tmp_path / "s").ok


def test_killed_write_temp_is_not_listed_and_is_cleaned(dataset, tmp_path):
    out = tmp_path / "shards"
    write(dataset, out)
    # what a killed run leaves behind: a half-written tar beside the shards and a half-built set beside the dir
    stale_tar = temp_path_for(out / "tier1" / "tier1-000007.tar")
    stale_tar.write_bytes(b"partial")
    stale_dir = out.parent / f".{out.name}.tmp-killed"
    (stale_dir / "tier1").mkdir(parents=True)
    (stale_dir / "tier1" / "tier1-000000.tar").write_bytes(b"partial")
    report = verify_manifest(out)
    assert report.ok and any("temp file" in w for w in report.warnings)
    assert all(stale_tar.name not in e["path"] for e in read_manifest(out)["shards"])
    write(dataset, out)
    assert not stale_tar.exists() and not stale_dir.exists()
    assert not [p for p in out.parent.rglob("*") if ".tmp-" in p.name]
    report = verify_manifest(out)
    assert report.ok and not report.warnings


def test_real_tiers_schema_is_accepted(dataset, tmp_path):
    """The tier stage's schema (curation.schemas.TIERS): bulky vectors stay out of the json."""
    import pyarrow as pa

    from curation import schemas

    if not hasattr(schemas, "TIERS"):
        import pytest

        pytest.skip("curation.schemas.TIERS not defined yet")

    def default(f):
        if f.nullable:
            return None
        t = f.type
        return "" if pa.types.is_string(t) else [] if pa.types.is_list(t) else False if pa.types.is_boolean(t) else 0

    rows = []
    for r in dataset["rows"]:
        full = {f.name: r.get(f.name, default(f)) for f in schemas.TIERS}
        full["flow_curve"] = [0.01] * 80  # a long list column the json leaves out
        rows.append(full)
    path = tmp_path / "tiers.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schemas.TIERS), path)
    assert not schemas.TIERS_LEAVE_OUT & set(schemas.TIERS.names)  # the CLIP/thumbnail vectors never reach the tiers table
    m = write({**dataset, "tiers": path}, tmp_path / "s")
    assert m["totals"]["samples"] == 15 and m["skipped"] == []
    e = m["shards"][0]
    with tarfile.open(tmp_path / "s" / e["path"]) as tar:
        meta = json.loads(tar.extractfile(f"{e['first_key']}.json").read())
    assert meta["omitted_columns"] == ["flow_curve"] and "flow_curve" not in meta and "clip_embedding" not in meta
    assert {"tier_reason", "caption_source", "difficulty_formula"} <= set(meta)
