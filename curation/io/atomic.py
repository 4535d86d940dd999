"""Write-to-temp-then-rename helpers: an interrupted stage never leaves a half-written file.

Temp files live in the destination directory (same filesystem, so `os.replace`
is atomic) and carry the `TEMP_MARK` in their name so `remove_stale_temps`
can clean up after a killed run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TEMP_MARK = ".tmp-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: mode of committed files / directories: what open() / mkdir() would give (mkstemp and
#: mkdtemp make 0600 / 0700, which would hide a team's shared outputs from each other)
_UMASK = _umask()
FILE_MODE = 0o666 & ~_UMASK
DIR_MODE = 0o777 & ~_UMASK


def temp_path_for(dest: str | Path) -> Path:
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}{TEMP_MARK}", dir=dest.parent)
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    return Path(name)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def commit(tmp: str | Path, dest: str | Path) -> Path:
    """fsync `tmp` and atomically rename it onto `dest`."""
    tmp, dest = Path(tmp), Path(dest)
    _fsync_file(tmp)
    os.replace(tmp, dest)
    return dest


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temp path beside `dest`; on success it is renamed onto `dest`, on error removed."""
    tmp = temp_path_for(dest)
    try:
        yield tmp
        commit(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_open(dest: str | Path, mode: str = "wb", **kw: Any) -> Iterator[Any]:
    with atomic_path(dest) as tmp:
        with open(tmp, mode, **kw) as fh:
            yield fh


def write_bytes(dest: str | Path, data: bytes) -> Path:
    with atomic_open(dest, "wb") as fh:
        fh.write(data)
    return Path(dest)


def write_text(dest: str | Path, text: str) -> Path:
    return write_bytes(dest, text.encode("utf-8"))


def write_json(dest: str | Path, obj: Any) -> Path:
    return write_text(dest, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n")


@contextlib.contextmanager
def atomic_dir(dest: str | Path) -> Iterator[Path]:
    """Build a directory in a temp sibling and swap it in when complete."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}{TEMP_MARK}", dir=dest.parent))
    os.chmod(tmp, DIR_MODE)
    try:
        yield tmp
        old = None
        if dest.exists():
            old = dest.with_name(f".{dest.name}{TEMP_MARK}old-{os.getpid()}")
            os.replace(dest, old)
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale_temps(root: str | Path) -> list[Path]:
    """Delete temp files/dirs left by a killed run under `root`; returns what was removed."""
    root = Path(root)
    removed: list[Path] = []
    if not root.exists():
        return removed
    for p in sorted(root.rglob(f"*{TEMP_MARK}*"), key=lambda q: len(q.parts), reverse=True):
        if not p.name.startswith(".") or TEMP_MARK not in p.name:
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        removed.append(p)
    return removed
