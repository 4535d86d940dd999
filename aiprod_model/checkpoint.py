"""Checkpoints: safetensors files + a sha256 manifest, written atomically, loaded only after verification.

Layout of a run directory (e.g. models/diffusion):

    manifest.json                    <- copy of the newest checkpoint's manifest, paths relative to the run dir
    checkpoints/step-00000300/
        manifest.json                {"format", "step", "files": {name: {"path", "sha256", "bytes"}}, "meta": {...}}
        model.safetensors, ema.safetensors, optimizer.safetensors, trainer.safetensors

Tensors are only ever read with `safetensors.torch.load_file` (no pickle, no torch.load); the
optimizer state is flattened to tensors ("state.<param>.<key>") plus JSON (param_groups, scalars).
A checkpoint directory is built in a temp sibling and renamed into place, then the run's
manifest.json is replaced atomically, so a killed run always leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from curation.io.atomic import atomic_dir, write_json
from curation.io.hashing import sha256_file

FORMAT = "aiprod-checkpoint-v1"
MANIFEST = "manifest.json"
_STEP_DIR = re.compile(r"^step-(\d{8})$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, malformed, not safetensors, or fails its sha256 check."""




# --------------------------------------------------------------------------- optimizer state
def flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """torch optimizer state_dict -> (tensors for safetensors, JSON-able rest)."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for pid, entry in state["state"].items():
        for key, val in entry.items():
            name = f"state.{pid}.{key}"
            if isinstance(val, torch.Tensor):
                tensors[name] = val.detach().cpu().contiguous()
            else:
                scalars[name] = val
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, val in list(tensors.items()) + list(meta.get("scalars", {}).items()):
        _, pid, key = name.split(".", 2)
        state.setdefault(int(pid), {})[key] = val
    return {"state": state, "param_groups": meta["param_groups"]}


# --------------------------------------------------------------------------- write
def _clean(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses shared storage and non-contiguous tensors: give each tensor its own copy
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in sd.items()}


def checkpoint_dir(root: str | Path, step: int) -> Path:
    """Where checkpoint `step` of the run directory `root` lives."""
    return Path(root) / "checkpoints" / f"step-{step:08d}"


def reset_run_dir(root: str | Path) -> None:
    """Remove every checkpoint and the manifest of a run directory (a run started afresh)."""
    root = Path(root)
    shutil.rmtree(root / "checkpoints", ignore_errors=True)
    (root / MANIFEST).unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)


def write_checkpoint(root: str | Path, step: int, files: dict[str, dict[str, torch.Tensor]], meta: dict[str, Any], keep: int = 2) -> Path:
    """Write checkpoint `step` under root/checkpoints and point root/manifest.json at it."""
    root = Path(root)
    ckdir = checkpoint_dir(root, step)
    entries: dict[str, dict[str, Any]] = {}
    with atomic_dir(ckdir) as tmp:
        for name, sd in sorted(files.items()):
            if not _NAME.match(name):
                raise ValueError(f"bad checkpoint file name {name!r}")
            fname = f"{name}.safetensors"
            save_file(_clean(sd), str(tmp / fname))
            entries[name] = {"path": fname, "sha256": sha256_file(tmp / fname), "bytes": (tmp / fname).stat().st_size}
        manifest = {"format": FORMAT, "step": int(step), "files": entries, "meta": meta}
        write_json(tmp / MANIFEST, manifest)
    top = dict(manifest, files={n: dict(e, path=f"checkpoints/{ckdir.name}/{e['path']}") for n, e in entries.items()})
    write_json(root / MANIFEST, top)
    prune(root, keep)
    return ckdir


def prune(root: Path, keep: int) -> None:
    ckroot = root / "checkpoints"
    if not ckroot.is_dir():
        return
    steps = sorted(p for p in ckroot.iterdir() if p.is_dir() and _STEP_DIR.match(p.name))
    for old in steps[: max(0, len(steps) - keep)]:
        shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- read
def read_manifest(root: str | Path) -> dict[str, Any] | None:
    """The run's manifest (newest checkpoint), or None when the run has none yet."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable manifest ({exc})") from None
    if data.get("format") != FORMAT or not isinstance(data.get("files"), dict):
        raise CheckpointError(f"{path}: not a {FORMAT} manifest")
    return data


def _resolve_inside(root: Path, rel: str) -> Path:
    """A manifest path must be a relative .safetensors path that stays inside root."""
    p = Path(rel)
    if p.is_absolute() or ".." in p.parts or p.suffix != ".safetensors":
        raise CheckpointError(f"refusing checkpoint file {rel!r}: only relative .safetensors paths inside the run are loaded")
    return root / p


def load_tensors(path: str | Path, sha256: str | None = None) -> dict[str, torch.Tensor]:
    """load_file one .safetensors file, after checking its sha256 when given. Nothing else is ever deserialised."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(f"{path}: only .safetensors files are loaded (no pickle / torch.load)")
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    if sha256 is not None:
        got = sha256_file(path)
        if got != sha256:
            raise CheckpointError(f"{path}: sha256 mismatch (manifest {sha256[:12]}..., file {got[:12]}...)")
    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for malformed headers
        raise CheckpointError(f"{path}: not a valid safetensors file ({exc})") from None


def load_checkpoint(root: str | Path, names: list[str] | None = None) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
    """Load (and verify) the newest checkpoint of a run: ({name: tensors}, manifest)."""
    root = Path(root)
    manifest = read_manifest(root)
    if manifest is None:
        raise CheckpointError(f"{root}: no {MANIFEST}; train first")
    out: dict[str, dict[str, torch.Tensor]] = {}
    for name in names or sorted(manifest["files"]):
        entry = manifest["files"].get(name)
        if entry is None:
            raise CheckpointError(f"{root}: checkpoint has no {name!r} file (has {sorted(manifest['files'])})")
        out[name] = load_tensors(_resolve_inside(root, entry["path"]), entry["sha256"])
    return out, manifest
