"""Find the input videos under a root folder: sorted, deterministic, symlink-loop safe."""

from __future__ import annotations

import os
from pathlib import Path


def discover_videos(root: str | Path, extensions: list[str] | tuple[str, ...]) -> list[str]:
    """Relative POSIX paths of files under `root` whose extension (case-insensitive) is in `extensions`.

    Directory symlinks are followed, but each real directory is visited once, so a
    symlink loop cannot recurse forever.  Hidden files and folders (names starting
    with ".", e.g. temp files of a killed run) are skipped.  The order is sorted
    by relative path, so every run sees the same list.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"input folder not found: {root}")
    exts = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    seen: set[tuple[int, int]] = set()
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        st = os.stat(dirpath)
        key = (st.st_dev, st.st_ino)
        if key in seen:
            dirnames[:] = []
            continue
        seen.add(key)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in exts:
                continue
            full = os.path.join(dirpath, name)
            # a dangling symlink stays in the list (it is rejected as unreadable); a socket/fifo is not an input
            if os.path.isfile(full) or os.path.islink(full):
                found.append(Path(os.path.relpath(full, root)).as_posix())
    return sorted(found)
