"""What the caption rows depend on besides the clip: cheap fingerprints, no model loading.

The caption driver reuses a clip's stored row only while these are unchanged:

* `sidecar_fingerprints`: per source, the candidate sidecar files next to it (name,
  size, mtime): adding, editing or removing a sidecar re-captions that source's clips;
* `captioner_fingerprint`: which captioner weights WOULD load: a local directory (its
  config/weights files' sizes and mtimes), an HF id in the local cache (its snapshot
  commit), or "absent".  So rows written while no weights were there ("uncaptioned:
  weights not available") are redone once `curation models fetch` put them in place;
* `file_fingerprint`: a custom vocabulary file's content.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from curation.caption.sidecars import candidates, source_dir_and_stem
from curation.config import CaptionerParams

_WEIGHT_FILES = ("config.json", "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "preprocessor_config.json", "tokenizer.json")


def sidecar_fingerprints(raw_dir: str | Path, source_paths: Iterable[str], extensions: list[str]) -> dict[str, str]:
    """{source_path: fingerprint of its candidate sidecar files} (directory listings cached)."""
    raw = Path(raw_dir)
    listings: dict[Path, list[str]] = {}
    out: dict[str, str] = {}
    for sp in source_paths:
        if sp in out:
            continue
        loc = source_dir_and_stem(raw, sp)
        if loc is None:
            out[sp] = "no-sidecars"
            continue
        directory, stem = loc
        if directory not in listings:
            try:
                with os.scandir(directory) as it:
                    listings[directory] = sorted(e.name for e in it if e.is_file())
            except OSError:
                listings[directory] = []
        parts = []
        for f in candidates(directory, stem, extensions, listings[directory]):
            try:
                st = f.path.stat()
                parts.append(f"{f.path.name}:{st.st_size}:{st.st_mtime_ns}")
            except OSError:
                parts.append(f"{f.path.name}:unreadable")
        out[sp] = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16] if parts else "none"
    return out


def _dir_fingerprint(d: Path) -> str:
    parts = []
    for name in _WEIGHT_FILES:
        p = d / name
        if p.is_file():
            st = p.stat()
            parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    return "dir:" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:16] if parts else "dir:empty"


def captioner_fingerprint(p: CaptionerParams) -> str:
    """Which weights `load_captioner(p)` would find (cheap: file metadata only)."""
    if p.tiny_config:
        return "tiny-config"
    local = Path(p.model_id).expanduser()
    if local.is_dir():
        return _dir_fingerprint(local)
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(p.model_id, "config.json")
    except Exception:  # not a valid repo id, no hub library ...
        hit = None
    if isinstance(hit, str):
        return "hf-cache:" + Path(hit).parent.name  # the snapshot folder is the commit hash
    return "absent"


def file_fingerprint(path: str | Path | None) -> str:
    if path is None:
        return "packaged"
    p = Path(path)
    try:
        return hashlib.sha256(p.read_bytes()).hexdigest()[:16]
    except OSError:
        return "unreadable"
