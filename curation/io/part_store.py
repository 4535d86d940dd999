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
import secrets
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
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
#: rows per record batch when reading (bounds the decode buffers)
READ_BATCH = 4096


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
        # unique per store object: two runs in one process (or one second) never share file names
        self._run = f"{time.strftime('%Y%m%d%H%M%S')}{os.getpid():07d}{secrets.token_hex(4)}"
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
    def _batches(self, path: Path, columns: Sequence[str]):
        """Record batches of one file, a few thousand rows at a time (no whole-file buffering:
        pre_buffer would hold the compressed file, read_table a second copy while decoding)."""
        pf = pq.ParquetFile(path, pre_buffer=False)
        yield from pf.iter_batches(batch_size=READ_BATCH, columns=list(columns), use_threads=False)

    def index(self) -> pa.Array:
        """Unique reuse keys of every finished item."""
        keys: set[str] = set()
        for p in self.files():
            for b in self._batches(p, ["_reuse"]):
                keys.update(b.column("_reuse").to_pylist())
        return pa.array(sorted(keys), pa.string())

    def read(self, reuse: pa.Array, columns: Sequence[str] | None = None, files: Sequence[Path] | None = None) -> pa.Table:
        """Rows of the items whose reuse key is in `reuse`, each item from one file only (the first
        in `files` order that holds it), streamed batch by batch: memory = the rows kept."""
        files = self.files() if files is None else list(files)
        cols = list(dict.fromkeys(["_reuse", *(columns or self.schema.names)]))
        schema = pa.schema([self.schema.field(c) for c in cols])
        wanted = set(reuse.to_pylist())
        taken: set[str] = set()
        out: list[pa.RecordBatch] = []
        for p in files:
            here: set[str] = set()
            for b in self._batches(p, cols):
                keys = b.column("_reuse").to_pylist()
                mask = [k in wanted and k not in taken for k in keys]
                if any(mask):
                    out.append(b.select(cols).filter(pa.array(mask)))  # parquet yields the file's column order
                    here.update(k for k, m in zip(keys, mask, strict=True) if m)
            taken |= here  # an item found in this file is not taken from a later one
        return pa.Table.from_batches(out, schema=schema) if out else schema.empty_table()

    # ------------------------------------------------------------------ compact
    def compact(self, live: pa.Array) -> dict[str, int]:
        """After a run: merge parts, drop rows of items not in `live`, delete stale files.

        Streams file by file into one new compact file (memory: one part at a time).
        Compact files whose rows are all live are kept as they are (no rewrite of
        unchanged data); when there are more than MAX_COMPACT_FILES they are merged."""
        files = self.files()
        compacts = [p for p in files if p.name.startswith("compact-")]
        rewrite = [p for p in files if p.name.startswith("part-")]
        for p in compacts:
            keys = pq.read_table(p, columns=["_reuse"]).column("_reuse")
            if not pc.all(pc.is_in(keys, value_set=live)).as_py():
                rewrite.append(p)
        kept = [p for p in files if p not in rewrite]
        if len(kept) + (1 if rewrite else 0) > MAX_COMPACT_FILES:
            rewrite, kept = list(files), []
        rewrite.sort(key=lambda p: (not p.name.startswith("compact-"), p.name))  # the order `read` prefers
        seen: set[str] = set()
        for p in kept:
            for b in self._batches(p, ["_reuse"]):
                seen.update(b.column("_reuse").to_pylist())
        live_set = set(live.to_pylist())
        written = 0
        dest = self.root / f"compact-{self.sid}-{self._run}.parquet"
        if rewrite:
            with atomic_path(dest) as tmp:
                writer = pq.ParquetWriter(tmp, self.schema, compression="zstd", write_statistics=False)
                try:
                    for p in rewrite:
                        here: set[str] = set()
                        for b in self._batches(p, self.schema.names):
                            b = b.select(self.schema.names)
                            keys = b.column("_reuse").to_pylist()
                            mask = [k in live_set and k not in seen for k in keys]
                            if any(mask):
                                b = b.filter(pa.array(mask))
                                writer.write_batch(b, row_group_size=READ_BATCH)
                                written += b.num_rows
                                here.update(k for k, m in zip(keys, mask, strict=True) if m)
                        seen |= here
                finally:
                    writer.close()
            if not written:
                dest.unlink()
        removed = 0
        for p in [*rewrite, *self.stale_files()]:
            if p == dest:
                continue
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed += 1
        return {"rows_written": written, "files_removed": removed}
