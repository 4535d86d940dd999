"""The per-item stage driver: resume after a kill, reuse what is unchanged, stay small.

A per-item stage (ingest, caption, score, ...) declares an `ItemStageSpec`:

* its input: an Arrow table with one row per item, the `key` column, a `_content`
  column (a hash of everything about the item that its result depends on: file
  sha256, sidecar hashes, caption text ...) and the `task_columns` its workers need;
* its outputs: named pyarrow schemas (rows carry `"_output"` when there are several);
* its reuse key per item: hash(`_content`, `params_hash`, `version`), where
  `params_hash` covers exactly the params the rows depend on and `version` is bumped
  by hand when the stage's code computes different rows;
* the chain of `Stage`s that computes an item's rows (with their resources and batch
  sizes) and `error_rows(task, error)`: the rows an item gets when it fails.

`run_items(spec, items, engine, store_dir)` then:

1. takes the store's lock and removes temp files of a killed run;
2. finds the items whose reuse key is already in the store (`curation.io.part_store`)
   and whose stored rows are still valid (`spec.validate_reused`): they are REUSED;
3. runs the chain over the rest (largest `cost_column` first when the spec names one;
   the engine yields batches as they complete) and
   writes each finished batch as one part file, atomically: a SIGKILL at any moment
   loses at most the batches in flight;
4. assembles each output from the store in input order (then `_seq` within an item),
   columnar, casts it to its schema and returns it: the same bytes as an uninterrupted
   run (rows depend only on the item, never on the batch it was computed in);
5. compacts the store (parts merged, rows of items no longer in the input dropped).

Rows of items that FAILED (an exception escaped the stage) are not stored: they are in
this run's output and are retried by the next run.  Nothing here holds whole-table
Python rows: inputs, reuse keys and outputs stay Arrow; only a batch in flight is dicts.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from curation.config import EngineParams
from curation.engines import make_engine
from curation.io.part_store import PartStore, row_schema
from curation.stage import BatchResult, Row, Stage

log = logging.getLogger(__name__)

CONTENT = "_content"


@dataclass
class ItemStageSpec:
    name: str
    stages: Sequence[Stage]
    key: str
    outputs: dict[str, pa.Schema]
    params_hash: str
    version: str
    task_columns: Sequence[str]
    error_rows: Callable[[Row, str], list[Row]]
    batch_size: int = 1  # items per engine batch = per part file
    carry_columns: Sequence[str] = ()  # input columns copied onto every output row (e.g. a renamed source's path)
    validate_reused: Callable[[PartStore, pa.Array], pa.Array] | None = None  # -> reuse keys whose stored rows are stale
    # an input column of each item's expected cost (a source's bytes): pending items are dispatched
    # largest first (longest-processing-time-first), so a long item starts early instead of running
    # alone at the end while the other workers idle.  Outputs are in input order either way.
    cost_column: str | None = None


@dataclass
class ItemRun:
    name: str
    outputs: dict[str, pa.Table]
    items: int
    processed: int
    reused: int
    failed: int  # items whose stage raised (their error rows are in the outputs, not in the store)
    nodes: Counter = field(default_factory=Counter)  # node -> items processed there

    def counts(self) -> str:
        return f"processed {self.processed}, reused {self.reused}"

    def nodes_note(self) -> str:
        if len(self.nodes) <= 1:
            return ""
        return "; nodes " + ", ".join(f"{n[:12]} {c}" for n, c in sorted(self.nodes.items()))

    def metrics(self) -> dict[str, Any]:
        """Per-run counters (not for the deterministic metrics files)."""
        return {"items": self.items, "processed": self.processed, "reused": self.reused, "failed": self.failed, "nodes": dict(sorted(self.nodes.items()))}


def reuse_keys(content: pa.Array | pa.ChunkedArray, params_hash: str, version: str) -> pa.Array:
    """hash(content | params hash | version) per item (32 hex digits)."""
    suffix = f"|{params_hash}|{version}"
    vals = content.to_pylist() if not isinstance(content, list) else content
    return pa.array([hashlib.sha256((str(c) + suffix).encode()).hexdigest()[:32] for c in vals], pa.string())


def _batches(table: pa.Table, columns: Sequence[str], size: int) -> Iterator[list[Row]]:
    for off in range(0, table.num_rows, size):
        yield table.slice(off, size).select(list(columns)).to_pylist()


def _part_rows(spec: ItemStageSpec, key: str, reuse: str, rows: list[Row]) -> list[Row]:
    single = next(iter(spec.outputs)) if len(spec.outputs) == 1 else None
    if not rows:
        return [{"_key": key, "_reuse": reuse, "_seq": 0, "_output": None}]
    out = []
    for seq, r in enumerate(rows):
        name = r.get("_output", single)
        if name not in spec.outputs:
            raise ValueError(f"stage {spec.name}: row for {key!r} names output {name!r}; outputs are {sorted(spec.outputs)}")
        out.append({**r, "_key": key, "_reuse": reuse, "_seq": seq, "_output": name})
    return out


def run_items(spec: ItemStageSpec, items: pa.Table, engine: EngineParams, store_dir: str | Path, progress: bool = True) -> ItemRun:
    """Run `spec` over `items` (see the module docstring); returns the assembled outputs and counts."""
    for s in spec.stages:
        s.check()  # configuration errors stop the run before any work
    cost = [spec.cost_column] if spec.cost_column else []
    missing = [c for c in (spec.key, CONTENT, *spec.task_columns, *spec.carry_columns, *cost) if c not in items.column_names]
    if missing:
        raise ValueError(f"stage {spec.name}: input table lacks columns {missing}")
    schema = row_schema(spec.outputs)
    store = PartStore(store_dir, schema)
    reuse = reuse_keys(items.column(CONTENT), spec.params_hash, spec.version)
    if pc.count_distinct(reuse).as_py() != len(reuse):
        raise ValueError(f"stage {spec.name}: two input items have the same reuse key (same content); the caller must drop duplicates first")
    with store.lock():
        removed = store.clean()
        if removed:
            log.info("%s: removed %d temp file(s) of an interrupted run", spec.name, len(removed))
        stored = store.index()
        done = pc.is_in(reuse, value_set=stored)
        if spec.validate_reused is not None and pc.any(done).as_py():
            stale = spec.validate_reused(store, pc.filter(reuse, done))
            if len(stale):
                done = pc.and_(done, pc.invert(pc.is_in(reuse, value_set=stale)))
                store.compact(pc.filter(reuse, done))  # the stale rows leave the store: the redone items' new rows are the only ones
        pending_mask = pc.invert(done)
        pending = items.filter(pending_mask).append_column("_reuse", pc.filter(reuse, pending_mask))
        if spec.cost_column and pending.num_rows > 1:  # ties keep input order (the sort is stable): deterministic
            pending = pending.take(pc.sort_indices(pending, sort_keys=[(spec.cost_column, "descending")]))
        n_pending = pending.num_rows
        errors: list[Row] = []
        nodes: Counter = Counter()
        failed = 0
        if n_pending:
            bs = max(1, int(spec.batch_size))
            task_cols = list(dict.fromkeys([*spec.task_columns]))
            keys = pending.column(spec.key)
            reuses = pending.column("_reuse")
            run = make_engine(engine).run(spec.stages, _batches(pending, task_cols, bs))
            with tqdm(total=n_pending, desc=spec.name, unit="item", disable=not progress, dynamic_ncols=True) as bar:
                for br in run:
                    failed += _persist(spec, store, br, bs, keys, reuses, pending, task_cols, errors)
                    nodes[br.node] += len(br.items)
                    bar.update(len(br.items))
        outputs = _assemble(spec, store, items, reuse, errors)
        store.compact(reuse)
    return ItemRun(spec.name, outputs, items.num_rows, n_pending, items.num_rows - n_pending, failed, nodes)


def _persist(spec: ItemStageSpec, store: PartStore, br: BatchResult, bs: int, keys, reuses, pending: pa.Table, task_cols: list[str], errors: list[Row]) -> int:
    """Write one finished batch as a part; keep error rows in memory. Returns the failures."""
    rows: list[Row] = []
    failed = 0
    for it in br.items:
        off = br.batch_id * bs + it.index
        key, reuse = str(keys[off].as_py()), str(reuses[off].as_py())
        if it.error is not None:
            failed += 1
            task = pending.slice(off, 1).select(task_cols).to_pylist()[0]
            log.warning("%s: %s failed: %s", spec.name, key, it.error.strip().splitlines()[0][:300])
            errors.extend(_part_rows(spec, key, reuse, spec.error_rows(task, it.error)))
            continue
        rows.extend(_part_rows(spec, key, reuse, it.rows))
    if rows:
        store.write_part(pa.Table.from_pylist(rows, schema=store.schema))
    return failed


def _assemble(spec: ItemStageSpec, store: PartStore, items: pa.Table, reuse: pa.Array, errors: list[Row]) -> dict[str, pa.Table]:
    """Each output in input order (then `_seq`), with ONE gather per output (memory: the rows read + the output)."""
    table = store.read(reuse)
    if errors:
        table = pa.concat_tables([table, pa.Table.from_pylist(errors, schema=store.schema).select(table.column_names)])
    item = pc.index_in(table.column("_reuse"), value_set=reuse)
    keys = pa.table({"_item": item, "_seq": table.column("_seq"), "_output": table.column("_output")})
    order = pc.sort_indices(keys, sort_keys=[("_item", "ascending"), ("_seq", "ascending")])
    out: dict[str, pa.Table] = {}
    for name, schema in spec.outputs.items():
        sel = pc.filter(order, pc.equal(keys.column("_output").take(order), name))  # row positions of this output, in order
        t = table.select(schema.names).take(sel)
        for col in spec.carry_columns:
            if col in schema.names:
                t = t.set_column(t.schema.get_field_index(col), col, items.column(col).take(item.take(sel)))
        out[name] = t.cast(schema)
    return out
