"""Content-addressed clip names."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

CLIP_ID_LEN = 20
_CLIP_ID = re.compile(r"^[0-9a-f]{%d}$" % CLIP_ID_LEN)


def clip_id(source_sha256: str, params_hash: str, start_frame: int, end_frame: int) -> str:
    """sha256 over (source sha256, ingest params hash, start frame, end frame), first 20 hex digits."""
    key = f"{source_sha256}:{params_hash}:{int(start_frame)}:{int(end_frame)}"
    return hashlib.sha256(key.encode()).hexdigest()[:CLIP_ID_LEN]


def clip_relpath(cid: str) -> str:
    """`<clip_id[:2]>/<clip_id>.mp4`, relative to paths.clips_dir."""
    if not _CLIP_ID.match(cid):
        raise ValueError(f"not a clip id: {cid!r}")
    return f"{cid[:2]}/{cid}.mp4"


def clip_file(clips_dir: str | Path, cid: str) -> Path:
    return Path(clips_dir) / clip_relpath(cid)


def is_clip_id(text: str) -> bool:
    return bool(_CLIP_ID.match(text))
