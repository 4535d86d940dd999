"""Parquet tables with explicit pyarrow schemas, written atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curation.io.atomic import atomic_path


def rows_to_table(rows: Sequence[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    cols = {f.name: [r.get(f.name) for r in rows] for f in schema}
    return pa.Table.from_pydict(cols, schema=schema)


#: rows per parquet row group: bounds the writer's buffers (a 60,000-clip scores table with its
#: vectors is ~300 MB; one row group would be encoded in memory whole)
ROW_GROUP = 8192


def write_table(table: pa.Table, dest: str | Path) -> Path:
    """Write deterministically (no timestamps in metadata, fixed row-group layout) and atomically."""
    with atomic_path(dest) as tmp:
        pq.write_table(table, tmp, compression="zstd", write_statistics=False, store_schema=True, row_group_size=ROW_GROUP)
    return Path(dest)


def write_rows(rows: Sequence[dict[str, Any]], schema: pa.Schema, dest: str | Path) -> Path:
    return write_table(rows_to_table(rows, schema), dest)


def read_table(path: str | Path, schema: pa.Schema | None = None) -> pa.Table:
    t = pq.read_table(path)
    if schema is not None:
        missing = [f.name for f in schema if f.name not in t.column_names]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}; re-run the stage that writes it")
    return t


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    p = Path(path)
    if not p.exists():
        return []
    return pq.read_table(p).to_pylist()
