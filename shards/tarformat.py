"""Byte-deterministic tar writing and exact tar size accounting.

Every member is a regular file written with fixed metadata (mtime 0, uid/gid 0,
empty user/group names, mode 0o644) in POSIX ustar format, so the same members
in the same order always produce the same bytes.  `member_size`/`tar_size` give
the exact on-disk size of a tar before it is written, which is how the shard
writer keeps every shard under `shard.max_bytes`.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from pathlib import Path
from typing import BinaryIO

BLOCK = tarfile.BLOCKSIZE  # 512
RECORD = tarfile.RECORDSIZE  # 10240: tarfile pads the archive to a whole record
TAR_FORMAT = tarfile.USTAR_FORMAT
FORMAT_NAME = "ustar"

#: a sample key is a file-name-safe token: WebDataset splits member names at the first dot,
#: so a key must not contain one, and it must not look like a WebDataset meta key ("__x__").
KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def valid_key(key: object) -> bool:
    return isinstance(key, str) and bool(KEY_RE.match(key))


def member_size(nbytes: int) -> int:
    """Bytes one member occupies in the archive: a header block plus the data padded to blocks."""
    return BLOCK + -(-nbytes // BLOCK) * BLOCK


def tar_size(members_bytes: int) -> int:
    """Exact archive size for members occupying `members_bytes`: two zero blocks, padded to a record."""
    raw = members_bytes + 2 * BLOCK
    return -(-raw // RECORD) * RECORD


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.size = size
    ti.mtime = 0
    ti.mode = 0o644
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.type = tarfile.REGTYPE
    return ti


class HashingWriter:
    """A write-only file wrapper that tracks sha256 and byte count of everything written."""

    def __init__(self, fh: BinaryIO):
        self._fh = fh
        self.sha = hashlib.sha256()
        self.nbytes = 0

    def write(self, data: bytes) -> int:
        self._fh.write(data)
        self.sha.update(data)
        self.nbytes += len(data)
        return len(data)

    def tell(self) -> int:
        return self.nbytes

    def flush(self) -> None:
        self._fh.flush()


class DeterministicTar:
    """Append members to a tar stream with fixed metadata. Use as a context manager."""

    def __init__(self, fh: BinaryIO):
        self._out = HashingWriter(fh)
        self._tar = tarfile.open(fileobj=self._out, mode="w", format=TAR_FORMAT)  # noqa: SIM115

    def add_bytes(self, name: str, data: bytes) -> None:
        self._tar.addfile(_tarinfo(name, len(data)), io.BytesIO(data))

    def add_file(self, name: str, path: Path, size: int) -> None:
        """Copy a file into the archive in chunks (memory does not grow with the file)."""
        with open(path, "rb") as src:
            self._tar.addfile(_tarinfo(name, size), src)

    def close(self) -> tuple[str, int]:
        """Finish the archive; returns (sha256 hex, total bytes)."""
        self._tar.close()
        self._out.flush()
        return self._out.sha.hexdigest(), self._out.nbytes

    def __enter__(self) -> "DeterministicTar":
        return self

    def __exit__(self, *exc: object) -> None:
        """On error the archive is left unfinished; the caller discards its temp file."""
