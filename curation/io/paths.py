"""Paths read from tables or files are data: resolve them only inside a known folder."""

from __future__ import annotations

import os
from pathlib import Path


class OutsideRoot(ValueError):
    """A path from a table that is empty, malformed, or resolves outside its folder."""


def inside(root: str | Path, path: str | Path, base: str | Path | None = None, must_exist: bool = True) -> Path:
    """The real path of `path` if it stays inside `root`; raises `OutsideRoot` (with why) otherwise.

    Relative paths are taken relative to `base` (default: the working directory);
    symlinks are resolved first, so a link pointing out of `root` is refused.  With
    `must_exist`, the result must be an existing regular file."""
    if not isinstance(path, (str, Path)) or not str(path).strip():
        raise OutsideRoot("no path")
    text = str(path)
    if "\x00" in text:
        raise OutsideRoot("path contains a NUL byte")
    p = Path(text)
    if not p.is_absolute() and base is not None:
        p = Path(base) / p
    real = Path(os.path.realpath(p))
    top = Path(os.path.realpath(root))
    if not real.is_relative_to(top):
        raise OutsideRoot(f"{text!r} is outside {top}")
    if must_exist and not real.is_file():
        raise OutsideRoot(f"{text!r}: file not found")
    return real


def inside_or_none(root: str | Path, path: str | Path, base: str | Path | None = None, must_exist: bool = True) -> Path | None:
    try:
        return inside(root, path, base, must_exist)
    except OutsideRoot:
        return None
