"""The shard-set manifest: `<shards_dir>/manifest.json`, written last and atomically.

Layout (all keys sorted, no timestamps, so it is byte-identical across re-runs):

    version            1
    format             "webdataset-tar/ustar"
    sample_order       how samples are ordered inside a tier
    members            member extensions a sample may have
    shard_params       the `shard:` params; shard_params_hash = section_hash(shard)
    text_dim           D of every <key>.npy
    inputs             lineage: tiers table / embeddings paths and sha256, rows read
    shards             [{path (relative, POSIX), tier, index, sha256, bytes, samples, hours,
                         first_index, first_key, last_key, difficulty_min, difficulty_max, oversize}]
    tiers              {"1".."5": {shards, samples, hours, bytes, difficulty_min, difficulty_max, digest}}
                       digest: sha256 over the tier's samples (metadata, caption, embedding, flow
                       curve, clip file identity); an unchanged tier keeps its shards on a re-run
    totals             {shards, samples, hours, bytes}
    excluded           clips with tier 0 (not sharded)
    skipped            [{clip_id, reason, detail}] rows that could not be sharded

Shard paths in a manifest are checked before use (`shard_path`): they must be
`tier{k}/tier{k}-NNNNNN.tar` inside the shard-set root.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from curation.io.atomic import write_json
from shards.writer import ShardInfo

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
FORMAT = "webdataset-tar/ustar"
SAMPLE_ORDER = "within a tier: difficulty ascending, then clip_id; tier_rank = position in this order; shards hold contiguous rank ranges"
MEMBERS = ["flow.npy", "json", "mp4", "npy", "txt"]
TIERS = (1, 2, 3, 4, 5)
SHARD_PATH_RE = re.compile(r"^tier([1-5])/tier\1-\d{6}\.tar$")


class ManifestError(ValueError):
    """The manifest is missing, unreadable, or inconsistent."""


def _tier_summary(shards: Sequence[ShardInfo | dict[str, Any]]) -> dict[str, Any]:
    rows = [s.to_dict() if isinstance(s, ShardInfo) else s for s in shards]
    return {
        "shards": len(rows),
        "samples": sum(r["samples"] for r in rows),
        "hours": round(sum(r["hours"] for r in rows), 6),
        "bytes": sum(r["bytes"] for r in rows),
        "difficulty_min": min((r["difficulty_min"] for r in rows), default=None),
        "difficulty_max": max((r["difficulty_max"] for r in rows), default=None),
    }


def build_manifest(
    shards: Sequence[ShardInfo],
    *,
    shard_params: dict[str, Any],
    shard_params_hash: str,
    text_dim: int,
    inputs: dict[str, Any],
    excluded: int,
    skipped: Sequence[dict[str, Any]],
    tier_digests: dict[str, str] | None = None,
) -> dict[str, Any]:
    ordered = sorted(shards, key=lambda s: (s.tier, s.index))
    tiers = {str(t): _tier_summary([s for s in ordered if s.tier == t]) for t in TIERS}
    for t, d in (tier_digests or {}).items():
        tiers[str(t)]["digest"] = d
    totals = _tier_summary(ordered)
    return {
        "version": MANIFEST_VERSION,
        "format": FORMAT,
        "sample_order": SAMPLE_ORDER,
        "members": MEMBERS,
        "shard_params": shard_params,
        "shard_params_hash": shard_params_hash,
        "text_dim": int(text_dim),
        "inputs": inputs,
        "shards": [s.to_dict() for s in ordered],
        "tiers": tiers,
        "totals": {k: totals[k] for k in ("shards", "samples", "hours", "bytes")},
        "excluded": int(excluded),
        "skipped": sorted(skipped, key=lambda r: (str(r.get("clip_id")), str(r.get("reason")))),
    }


def write_manifest(root: str | Path, manifest: dict[str, Any]) -> Path:
    return write_json(Path(root) / MANIFEST_NAME, manifest)


def read_manifest(root: str | Path) -> dict[str, Any]:
    path = Path(root) / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(f"{path}: no manifest; run `shards write` (the shard stage) first")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{path}: unreadable manifest: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("version") != MANIFEST_VERSION or not isinstance(manifest.get("shards"), list):
        raise ManifestError(f"{path}: not a version-{MANIFEST_VERSION} shard manifest")
    return manifest


def shard_path(root: str | Path, entry: dict[str, Any]) -> Path:
    """Filesystem path of a manifest shard entry, refusing anything outside the expected layout."""
    rel = entry.get("path")
    if not isinstance(rel, str) or not SHARD_PATH_RE.match(rel):
        raise ManifestError(f"manifest shard path {rel!r} is not of the form tier<k>/tier<k>-NNNNNN.tar")
    return Path(root) / rel


def tier_shards(manifest: dict[str, Any], tier: int) -> list[dict[str, Any]]:
    """The manifest entries of one tier, in rank order."""
    return sorted((s for s in manifest["shards"] if int(s["tier"]) == int(tier)), key=lambda s: int(s["index"]))
