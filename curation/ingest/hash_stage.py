"""The hash stage: one source file in, its sha256 out (ingest's content key).

Run through the stage driver like every per-item stage: its reuse key is the file's
stat identity (size, mtime in ns, inode), so a re-run reads no byte of an unchanged
file, a killed run keeps the hashes it finished, and hashing spreads over the engine's
workers (several disks, several Ray nodes).  A file rewritten in place with the same
size and mtime would keep its old hash (the heuristic rsync and DVC use as well).
"""

from __future__ import annotations

import pyarrow as pa

from curation.io.hashing import sha256_file
from curation.stage import Resources, Row, Stage

HASHES = pa.schema(
    [
        pa.field("source_path", pa.string(), nullable=False),
        pa.field("source_sha256", pa.string()),  # null when the file could not be read (see hash_error)
        pa.field("hash_error", pa.string()),
    ]
)

#: bump when the rows this stage computes change
VERSION = "hash-1"


class HashStage(Stage):
    name = "hash"
    resources = Resources(cpus=1)
    batch_size = 8

    def process(self, task: Row) -> list[Row]:
        return [{"source_path": task["source_path"], "source_sha256": sha256_file(task["path"]), "hash_error": None}]


def hash_error_rows(task: Row, error: str) -> list[Row]:
    """Rows of a file that could not be read (not stored: the next run tries again)."""
    first = error.strip().splitlines()[0] if error.strip() else "read failed"
    return [{"source_path": task["source_path"], "source_sha256": None, "hash_error": first[:500]}]
