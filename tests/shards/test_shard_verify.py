"""`shards verify` / verify_manifest: a clean set passes; flipped bytes, missing and extra shards fail clearly."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from shards.manifest import read_manifest
from shards.verify import verify_manifest


@pytest.fixture()
def copy(shard_set, tmp_path):
    dst = tmp_path / "shards"
    shutil.copytree(shard_set, dst)
    return dst


def _flip(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_clean_set_verifies(shard_set):
    r = verify_manifest(shard_set)
    assert r.ok, r.format()
    assert r.shards_checked == 8 and r.samples == 15 and r.errors == []


def test_flipped_byte_fails_with_clear_message(copy):
    e = read_manifest(copy)["shards"][2]
    _flip(copy / e["path"], 3000)  # inside the first clip's data
    r = verify_manifest(copy)
    assert not r.ok
    assert any(e["path"] in m and "sha256 mismatch" in m for m in r.errors), r.errors
    proc = subprocess.run([sys.executable, "-m", "shards.cli", "verify", str(copy)], capture_output=True, text=True)
    assert proc.returncode == 1 and "FAILED" in proc.stdout and "sha256 mismatch" in proc.stdout


def test_flipped_header_byte_breaks_tar_and_counts(copy):
    e = read_manifest(copy)["shards"][0]
    _flip(copy / e["path"], 0)  # first member name
    r = verify_manifest(copy)
    assert not r.ok and any("member" in m or "samples" in m for m in r.errors), r.errors


def test_missing_and_extra_shards_fail(copy):
    entries = read_manifest(copy)["shards"]
    (copy / entries[0]["path"]).unlink()
    shutil.copy(copy / entries[1]["path"], copy / "tier1" / "tier1-000099.tar")
    r = verify_manifest(copy)
    assert not r.ok
    assert any("missing" in m and entries[0]["path"] in m for m in r.errors)
    assert any("extra shard" in m and "tier1-000099.tar" in m for m in r.errors)


def test_missing_manifest_and_cli_ok(copy, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "shards.cli", "verify", str(copy)], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("OK"), proc.stdout + proc.stderr
    r = verify_manifest(tmp_path / "nothing")
    assert not r.ok and "no manifest" in r.errors[0]


def test_cli_help():
    proc = subprocess.run([sys.executable, "-m", "shards.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "write" in proc.stdout and "verify" in proc.stdout
