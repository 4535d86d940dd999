"""The per-item stage driver on a small real stage (it hashes real files): reuse, resume, order,
failures, stale rows, two outputs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pytest

from curation.config import EngineParams
from curation.driver import CONTENT, ItemStageSpec, run_items
from curation.stage import Resources, Row, Stage

SIZES = pa.schema([pa.field("name", pa.string(), nullable=False), pa.field("sha256", pa.string(), nullable=False), pa.field("lines", pa.int64())])
EMPTY = pa.schema([pa.field("name", pa.string(), nullable=False), pa.field("why", pa.string(), nullable=False)])


class HashLines(Stage):
    """One file in; a `sizes` row, or an `empty` row for an empty file; a missing file raises."""

    name = "hash-lines"
    resources = Resources(cpus=1)
    batch_size = 2

    def process(self, task: Row) -> list[Row]:
        data = Path(task["path"]).read_bytes()  # FileNotFoundError for a missing file
        if not data:
            return [{"_output": "empty", "name": task["name"], "why": "0 bytes"}]
        rows = [{"_output": "sizes", "name": task["name"], "sha256": hashlib.sha256(data).hexdigest(), "lines": data.count(b"\n")}]
        if task["name"].startswith("two"):
            rows.append({"_output": "sizes", "name": task["name"] + "#2", "sha256": "0" * 64, "lines": -1})
        return rows


def spec(version: str = "v1") -> ItemStageSpec:
    return ItemStageSpec(
        name="hash-lines", stages=[HashLines()], key="name", outputs={"sizes": SIZES, "empty": EMPTY}, params_hash="p", version=version,
        task_columns=["name", "path"], error_rows=lambda t, e: [{"_output": "empty", "name": t["name"], "why": "error: " + e.splitlines()[0]}],
        batch_size=2, carry_columns=["name"],
    )  # fmt: skip


def items(folder: Path, names: list[str]) -> pa.Table:
    paths = [str(folder / n) for n in names]
    content = [hashlib.sha256((folder / n).read_bytes()).hexdigest() if (folder / n).exists() else f"missing:{n}" for n in names]
    return pa.table({"name": names, "path": paths, CONTENT: content})


@pytest.fixture
def folder(tmp_path) -> Path:
    d = tmp_path / "files"
    d.mkdir()
    for i in range(9):
        (d / f"f{i}.txt").write_text("line\n" * (i + 1))
    (d / "two.txt").write_text("a\nb\n")
    (d / "zero.txt").write_bytes(b"")
    return d


def test_outputs_are_in_input_order_whatever_the_completion_order(folder, tmp_path):
    names = sorted(p.name for p in folder.iterdir()) + ["gone.txt"]
    run = run_items(spec(), items(folder, names), EngineParams(workers=2), tmp_path / "store", progress=False)
    sizes, empty = run.outputs["sizes"], run.outputs["empty"]
    assert sizes.schema == SIZES and empty.schema == EMPTY
    expected = [n for n in names if n not in ("zero.txt", "gone.txt")]
    expected.insert(expected.index("two.txt") + 1, "two.txt#2")
    assert sizes.column("name").to_pylist() == [n if n != "two.txt#2" else "two.txt" for n in expected]  # carried: the item's name
    assert sizes.column("lines").to_pylist()[:3] == [1, 2, 3]
    assert empty.column("name").to_pylist() == ["zero.txt", "gone.txt"]
    assert empty.column("why").to_pylist()[0] == "0 bytes" and empty.column("why").to_pylist()[1].startswith("error: FileNotFoundError")
    assert (run.processed, run.reused, run.failed) == (12, 0, 1)


def test_rerun_reuses_everything_but_failures_and_changed_files(folder, tmp_path):
    names = sorted(p.name for p in folder.iterdir()) + ["gone.txt"]
    store = tmp_path / "store"
    first = run_items(spec(), items(folder, names), EngineParams(workers=1), store, progress=False)
    again = run_items(spec(), items(folder, names), EngineParams(workers=1), store, progress=False)
    assert (again.processed, again.reused) == (1, 11)  # the missing file failed: tried again, never stored
    for name in ("sizes", "empty"):
        assert again.outputs[name].equals(first.outputs[name])
    (folder / "f3.txt").write_text("changed\n")  # content changes -> its reuse key changes
    (folder / "gone.txt").write_text("back\n")
    third = run_items(spec(), items(folder, names), EngineParams(workers=1), store, progress=False)
    assert (third.processed, third.reused) == (2, 10) and third.failed == 0
    assert run_items(spec("v2"), items(folder, names), EngineParams(workers=1), store, progress=False).processed == 12  # a new stage version


def test_stale_rows_are_redone_and_replaced(folder, tmp_path):
    names = ["f0.txt", "f1.txt", "f2.txt"]
    store = tmp_path / "store"
    run_items(spec(), items(folder, names), EngineParams(workers=1), store, progress=False)
    s = spec()
    s.validate_reused = lambda st, reused: reused.filter(pa.array([i == 1 for i in range(len(reused))]))  # says the 2nd reused item is stale
    run = run_items(s, items(folder, names), EngineParams(workers=1), store, progress=False)
    assert (run.processed, run.reused) == (1, 2)
    assert run.outputs["sizes"].num_rows == 3  # the redone item is there once, not twice


class RecordOrder(HashLines):
    """HashLines that notes the order items are processed in (in this process: one worker)."""

    seen: list[str] = []

    def process(self, task: Row) -> list[Row]:
        RecordOrder.seen.append(task["name"])
        return super().process(task)


def test_cost_column_dispatches_the_largest_items_first_and_keeps_input_order(folder, tmp_path):
    names = [f"f{i}.txt" for i in range(9)]  # f{i} has i+1 lines: the last is the largest
    t = items(folder, names).append_column("bytes", pa.array([5, 10, 10, 1, 30, 2, 10, 7, 3], pa.int64()))
    s = spec()
    s.stages, s.cost_column = [RecordOrder()], "bytes"
    RecordOrder.seen = []
    run = run_items(s, t, EngineParams(workers=1), tmp_path / "store", progress=False)
    # largest first; equal costs (f1, f2, f6) keep input order
    assert RecordOrder.seen == ["f4.txt", "f1.txt", "f2.txt", "f6.txt", "f7.txt", "f0.txt", "f8.txt", "f5.txt", "f3.txt"]
    assert run.outputs["sizes"].column("name").to_pylist() == names
    assert run.outputs["sizes"].column("lines").to_pylist() == list(range(1, 10))
    # the same bytes as a run in input order
    plain = run_items(spec(), items(folder, names), EngineParams(workers=1), tmp_path / "store2", progress=False)
    assert run.outputs["sizes"].equals(plain.outputs["sizes"])
    s.cost_column = "nope"
    with pytest.raises(ValueError, match="nope"):
        run_items(s, t, EngineParams(workers=1), tmp_path / "store3", progress=False)
