"""Write-to-temp-then-rename: committed files and directories, error paths, stale temp cleanup."""

from __future__ import annotations

import os
import stat

import pytest

from curation.io.atomic import DIR_MODE, FILE_MODE, TEMP_MARK, atomic_dir, atomic_path, remove_stale_temps, write_json


def _mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_committed_outputs_have_normal_modes(tmp_path):
    f = write_json(tmp_path / "m.json", {"a": 1})
    with atomic_dir(tmp_path / "set") as d:
        (d / "x.tar").write_bytes(b"x")
    # as open()/mkdir() make them under the umask: not the 0600/0700 of mkstemp/mkdtemp
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    (tmp_path / "plain_dir").mkdir()
    assert _mode(f) == FILE_MODE == _mode(plain)
    assert _mode(tmp_path / "set") == DIR_MODE == _mode(tmp_path / "plain_dir")
    assert f.read_text().strip().startswith("{") and (tmp_path / "set" / "x.tar").read_bytes() == b"x"


def test_error_leaves_destination_untouched_and_no_temp(tmp_path):
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "set"):
        raise RuntimeError("killed")
    assert dest.read_bytes() == b"old" and not (tmp_path / "set").exists()
    assert not [p for p in tmp_path.iterdir() if TEMP_MARK in p.name]


def test_remove_stale_temps_only_removes_marked_hidden_entries(tmp_path):
    (tmp_path / f".clip.mp4{TEMP_MARK}abc").write_bytes(b"partial")
    (tmp_path / f".shards{TEMP_MARK}xyz").mkdir()
    (tmp_path / f".shards{TEMP_MARK}xyz" / "tier1-000000.tar").write_bytes(b"t")
    (tmp_path / f"user{TEMP_MARK}file.mp4").write_bytes(b"not ours: no leading dot")
    removed = remove_stale_temps(tmp_path)
    assert len(removed) == 2 and sorted(p.name for p in tmp_path.iterdir()) == [f"user{TEMP_MARK}file.mp4"]
