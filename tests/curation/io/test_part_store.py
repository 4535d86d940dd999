"""PartStore: atomic parts, one reader view per item, compaction that streams and keeps what is live."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.io.part_store import PartStore, StoreBusy, row_schema

OUT = pa.schema([pa.field("clip_id", pa.string(), nullable=False), pa.field("v", pa.list_(pa.float32())), pa.field("n", pa.int64())])
SCHEMA = row_schema({"rows": OUT})


def part(keys: list[str], value: int) -> pa.Table:
    rows = [{"_key": k, "_reuse": f"r-{k}", "_seq": 0, "_output": "rows", "clip_id": k, "v": [float(value)] * 3, "n": value} for k in keys]
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def reuse(*keys: str) -> pa.Array:
    return pa.array([f"r-{k}" for k in keys], pa.string())


def test_two_stores_in_one_process_never_share_a_file_name(tmp_path):
    a, b = PartStore(tmp_path, SCHEMA), PartStore(tmp_path, SCHEMA)
    a.write_part(part(["x"], 1))
    b.write_part(part(["y"], 2))
    assert sorted(a.index().to_pylist()) == ["r-x", "r-y"] and len(a.files()) == 2


def test_compaction_keeps_live_rows_drops_dead_and_stale_schema_files(tmp_path):
    s = PartStore(tmp_path, SCHEMA)
    for i, keys in enumerate((["a", "b"], ["c"], ["d", "e"])):
        s.write_part(part(keys, i))
    other = PartStore(tmp_path, row_schema({"rows": pa.schema([pa.field("clip_id", pa.string())])}))  # an older stage version
    other.write_part(pa.Table.from_pylist([{"_key": "z", "_reuse": "r-z", "_seq": 0, "_output": "rows", "clip_id": "z"}], schema=other.schema))
    s.compact(reuse("a", "c", "d", "e"))  # "b" is gone from the input
    files = s.files()
    assert len(files) == 1 and files[0].name.startswith("compact-") and not s.stale_files()
    t = s.read(reuse("a", "b", "c", "d", "e"))
    assert sorted(t.column("clip_id").to_pylist()) == ["a", "c", "d", "e"]
    assert {k: n for k, n in zip(t.column("clip_id").to_pylist(), t.column("n").to_pylist(), strict=True)} == {"a": 0, "c": 1, "d": 2, "e": 2}
    # a second store object in the same second adds an item and compacts again: nothing is lost
    s2 = PartStore(tmp_path, SCHEMA)
    s2.write_part(part(["f"], 5))
    s2.compact(reuse("a", "c", "d", "e", "f"))
    assert sorted(s2.index().to_pylist()) == ["r-a", "r-c", "r-d", "r-e", "r-f"]
    assert len(s2.files()) == 2  # the all-live compact file is kept as it is, the new part became a compact file


def test_an_item_in_two_files_is_read_once_compact_first(tmp_path):
    """A kill between a compaction's write and its deletes leaves an item in two files: read it once."""
    s = PartStore(tmp_path, SCHEMA)
    s.write_part(part(["a", "b"], 1))
    pq.write_table(part(["a"], 1), tmp_path / f"compact-{s.sid}-x.parquet")
    t = s.read(reuse("a", "b"))
    assert sorted(t.column("clip_id").to_pylist()) == ["a", "b"]
    s.compact(reuse("a", "b"))
    assert sorted(s.read(reuse("a", "b")).column("clip_id").to_pylist()) == ["a", "b"]


def test_lock_refuses_a_second_run_and_temps_are_cleaned(tmp_path):
    s = PartStore(tmp_path, SCHEMA)
    (tmp_path / ".part-x.parquet.tmp-123").write_bytes(b"half a file")
    with s.lock():
        with pytest.raises(StoreBusy, match="in use by another run"):
            with PartStore(tmp_path, SCHEMA).lock():
                pass
        assert [p.name for p in s.clean()] == [".part-x.parquet.tmp-123"]
    with PartStore(tmp_path, SCHEMA).lock():  # released
        pass
