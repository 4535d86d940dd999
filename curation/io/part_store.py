"""A folder of finished per-item results that survives kills: the stage driver's memory.

Layout of a store folder (one per stage, a DVC `persist` output)::

    .lock                                        flock'ed while a run uses the store
    part-<schema>-<run>-<seq>.parquet            one finished batch, written as it completes
    compact-<schema>-<digest>.parquet            parts merged after a successful run

Every file has the store's row schema: the bookkeeping columns

    _key     the item's key in the stage's input table (clip_id, source path, ...)
    _reuse   the item's reuse key: hash(input content, stage params, stage code version)
    _seq     the row's position among its item's rows
    _output  which output the row belongs to (null: the item produced no rows)

then the union of the stage's output columns (all nullable).  `<schema>` is a hash of
that row schema: files written under another schema (an older stage version) are never
read, and the next compaction deletes them.

Writes are atomic (temp file + rename, `curation.io.atomic`), so a SIGKILL at any moment
leaves whole files or temp files, and `clean()` removes the temps.  If the same reuse
key is in two files (a kill between a compaction's write and its deletes), the first
file in name order wins: compact files sort before parts, and their rows are equal.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from curation.io.atomic import atomic_path, remove_stale_temps

BOOKKEEPING = pa.schema(
    [
        pa.field("_key", pa.string()),
        pa.field("_reuse", pa.string()),
        pa.field("_seq", pa.int32()),
        pa.field("_output", pa.string()),
    ]
)

#: merge compact files when there are more than this many
MAX_COMPACT_FILES = 8


class StoreBusy(RuntimeError):
    """Another run holds this store's lock."""


def row_schema(outputs: dict[str, pa.Schema]) -> pa.Schema:
    """Bookkeeping columns + the union of the outputs' columns (nullable)."""
    fields = list(BOOKKEEPING)
    seen: dict[str, pa.DataType] = {f.name: f.type for f in fields}
    for name, schema in outputs.items():
        for f in schema:
            if f.name in seen:
                if seen[f.name] != f.type:
                    raise ValueError(f"output {name!r}: column {f.name!r} is {f.type}, another output has it as {seen[f.name]}")
                continue
            seen[f.name] = f.type
            fields.append(pa.field(f.name, f.type, nullable=True))
    return pa.schema(fields)


def schema_id(schema: pa.Schema) -> str:
    text = "|".join(f"{f.name}:{f.type}" for f in schema)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _write(table: pa.Table, dest: Path) -> Path:
    with atomic_path(dest) as tmp:
        pq.write_table(table, tmp, compression="zstd", write_statistics=False)
    return dest


class PartStore:
    def __init__(self, root: str | Path, schema: pa.Schema):
        self.root = Path(root)
        self.schema = schema
        self.sid = schema_id(schema)
        self._run = f"{time.strftime('%Y%m%d%H%M%S')}{os.getpid():07d}"
        self._seq = 0

    # ------------------------------------------------------------------ files
    def files(self) -> list[Path]:
        """Files of the current schema, compact files first, then parts, each in name order."""
        if not self.root.is_dir():
            return []
        mine = [p for p in self.root.iterdir() if p.suffix == ".parquet" and not p.name.startswith(".") and p.name.split("-")[1:2] == [self.sid]]
        return sorted(mine, key=lambda p: (not p.name.startswith("compact-"), p.name))

    def stale_files(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if p.suffix == ".parquet" and not p.name.startswith(".") and p.name.split("-")[1:2] != [self.sid])

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store for one run; a second run on the same store fails at once."""
        self.root.mkdir(parents=True, exist_ok=True)
        fh = open(self.root / ".lock", "a+")
        try:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreBusy(f"{self.root} is in use by another run (lock held on {self.root / '.lock'})") from None
            yield
        finally:
            fh.close()

    def clean(self) -> list[Path]:
        """Remove temp files a killed run left behind."""
        return remove_stale_temps(self.root)

    # ------------------------------------------------------------------ write
    def write_part(self, table: pa.Table) -> Path:
        self._seq += 1
        return _write(table.cast(self.schema), self.root / f"part-{self.sid}-{self._run}-{self._seq:06d}.parquet")

    # ------------------------------------------------------------------ read
    def _dataset(self, files: Sequence[Path]) -> pads.Dataset:
        return pads.dataset([str(p) for p in files], schema=self.schema, format="parquet")

    def index(self) -> pa.Array:
        """Unique reuse keys of every finished item."""
        files = self.files()
        if not files:
            return pa.array([], pa.string())
        keys = self._dataset(files).to_table(columns=["_reuse"]).column("_reuse")
        return pc.unique(keys.combine_chunks())

    def read(self, reuse: pa.Array, columns: Sequence[str] | None = None, files: Sequence[Path] | None = None) -> pa.Table:
        """Rows of the items whose reuse key is in `reuse`, each item from one file only."""
        files = self.files() if files is None else list(files)
        cols = list(dict.fromkeys(["_reuse", *(columns or self.schema.names)]))
        if not files or len(reuse) == 0:
            return self.schema.empty_table().select(cols)
        t = self._dataset(files).to_table(columns=[*cols, "__filename"], filter=pc.field("_reuse").isin(reuse))
        if t.num_rows == 0:
            return t.drop_columns(["__filename"])
        # one file per reuse key: the first file (in `files` order) that holds it
        rank = {str(p): i for i, p in enumerate(files)}
        file_rank = pa.array([rank[f] for f in t.column("__filename").to_pylist()], pa.int32())
        t = t.drop_columns(["__filename"])
        small = pa.table({"_reuse": t.column("_reuse"), "_file": file_rank, "_row": pa.array(range(t.num_rows), pa.int64())})
        pairs = small.group_by(["_reuse", "_file"]).aggregate([])
        if pairs.num_rows == pc.count_distinct(small.column("_reuse")).as_py():
            return t.select(cols)  # every item is in one file only (the usual case)
        best = small.group_by("_reuse").aggregate([("_file", "min")])
        joined = small.join(best, keys="_reuse", join_type="inner")
        rows = joined.filter(pc.equal(joined.column("_file"), joined.column("_file_min"))).column("_row")
        return t.take(pc.take(rows, pc.sort_indices(rows))).select(cols)

    # ------------------------------------------------------------------ compact
    def compact(self, live: pa.Array) -> dict[str, int]:
        """After a successful run: merge parts, drop rows of items no longer live, delete stale files.

        Compact files whose rows are all live are kept as they are (no rewrite of unchanged
        data); when there are more than MAX_COMPACT_FILES they are merged into one."""
        files = self.files()
        compacts = [p for p in files if p.name.startswith("compact-")]
        parts = [p for p in files if p.name.startswith("part-")]
        rewrite = list(parts)
        for p in compacts:
            keys = pq.read_table(p, columns=["_reuse"]).column("_reuse")
            if not pc.all(pc.is_in(keys, value_set=live)).as_py():
                rewrite.append(p)
        if len(compacts) - sum(1 for p in rewrite if p in compacts) + (1 if rewrite else 0) > MAX_COMPACT_FILES:
            rewrite = list(files)
        written = 0
        if rewrite:
            keep_files = [p for p in files if p not in rewrite]
            already = pc.unique(self._dataset(keep_files).to_table(columns=["_reuse"]).column("_reuse").combine_chunks()) if keep_files else pa.array([], pa.string())
            wanted = pc.filter(live, pc.invert(pc.is_in(live, value_set=already)))
            merged = self.read(wanted, files=rewrite)
            if merged.num_rows:
                order = pc.sort_indices(merged, sort_keys=[("_reuse", "ascending"), ("_seq", "ascending")])
                merged = merged.take(order)
                digest = hashlib.sha256("\n".join(merged.column("_reuse").unique().to_pylist()).encode()).hexdigest()[:16]
                _write(merged, self.root / f"compact-{self.sid}-{digest}.parquet")
                written = merged.num_rows
        removed = 0
        for p in [*rewrite, *self.stale_files()]:
            if p.name.startswith("compact-") and p.exists() and written and p.name == f"compact-{self.sid}-{digest}.parquet":
                continue  # the file just written (same content as an old one)
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed += 1
        return {"rows_written": written, "files_removed": removed}
