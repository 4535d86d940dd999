"""Encode one tiers-table row into the members of a WebDataset sample.

A sample with key K (= clip_id) has these members, written in sorted name order:

    K.flow.npy  float32 [n] flow curve          (only with shard.include_flow_curve and a curve)
    K.json      metadata: every tiers-table column (scores, lineage, caption, language, tags,
                tier, difficulty, clip_weights, ...) except bulky vectors (flow_curve,
                clip_embedding, thumb_signature, any list > 64 values: named in
                `omitted_columns`), plus `key`, `tier_rank` (0-based position in the tier's
                sample order), `has_text_embedding`, `text_embedding_dim`, `has_flow_curve`,
                `shard_params_hash`
    K.mp4       the clip file's bytes, unchanged
    K.npy       float32 [D] text embedding; zeros when the clip has none (has_text_embedding=false)
    K.txt       the caption, UTF-8, empty when there is none

JSON is canonical (sorted keys, compact separators, NaN written as null) and the
.npy payloads are written by numpy's format writer, so encoding is byte-deterministic.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from shards.tarformat import member_size

#: tiers-table columns that never go into the json member: the flow curve has its own member,
#: the CLIP embedding / thumbnail signature are bulky score internals (hundreds of floats)
JSON_EXCLUDED = frozenset({"flow_curve", "clip_embedding", "thumb_signature"})
#: any other list column longer than this is left out of the json too (named in `omitted_columns`)
JSON_MAX_LIST = 64


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(arr), version=(1, 0), allow_pickle=False)
    return buf.getvalue()


def json_safe(v: Any) -> Any:
    """Plain-JSON value: numpy scalars/arrays to Python, NaN/inf to None, bytes dropped."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, np.ndarray):
        return [json_safe(x) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    if isinstance(v, dict):
        return {str(k): json_safe(x) for k, x in v.items()}
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return None
    return str(v)


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


@dataclass(frozen=True)
class Member:
    name: str
    size: int
    data: bytes | None = None  # in-memory payload ...
    path: Path | None = None  # ... or a file copied in chunks


@dataclass(frozen=True)
class EncodedSample:
    key: str
    tier: int
    tier_rank: int
    difficulty: float
    duration_s: float
    members: tuple[Member, ...]

    @property
    def tar_bytes(self) -> int:
        """Bytes the sample occupies inside a tar (headers + padded data)."""
        return sum(member_size(m.size) for m in self.members)


def flow_curve_array(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float32).reshape(-1)
    return arr if arr.size else None


def encode_sample(
    row: dict[str, Any],
    *,
    clip_file: Path,
    clip_size: int,
    tier_rank: int,
    embedding: np.ndarray | None,
    text_dim: int,
    include_flow_curve: bool,
    shard_params_hash: str,
    not_read: Sequence[str] = (),
) -> EncodedSample:
    """The sample of one row; `not_read`: table columns the caller did not load (listed as omitted)."""
    key = row["clip_id"]
    caption = row.get("caption")
    caption = caption if isinstance(caption, str) else ""
    flow = flow_curve_array(row.get("flow_curve")) if include_flow_curve else None
    has_emb = embedding is not None
    emb = np.asarray(embedding, dtype=np.float32).reshape(-1) if has_emb else np.zeros(text_dim, dtype=np.float32)

    omitted = sorted({k for k, v in row.items() if k in JSON_EXCLUDED or (isinstance(v, (list, tuple, np.ndarray)) and len(v) > JSON_MAX_LIST)} | set(not_read))
    meta = {k: json_safe(v) for k, v in row.items() if k not in omitted}
    meta.update(
        omitted_columns=omitted,
        key=key,
        tier_rank=int(tier_rank),
        has_text_embedding=has_emb,
        text_embedding_dim=int(text_dim),
        has_flow_curve=flow is not None,
        shard_params_hash=shard_params_hash,
    )
    payloads: dict[str, bytes] = {
        f"{key}.json": canonical_json(meta),
        f"{key}.npy": npy_bytes(emb),
        f"{key}.txt": caption.encode("utf-8"),
    }
    if flow is not None:
        payloads[f"{key}.flow.npy"] = npy_bytes(flow)
    members = [Member(name, len(data), data=data) for name, data in payloads.items()]
    members.append(Member(f"{key}.mp4", clip_size, path=clip_file))
    members.sort(key=lambda m: m.name)
    return EncodedSample(
        key=key,
        tier=int(row["tier"]),
        tier_rank=int(tier_rank),
        difficulty=float(row["difficulty"]),
        duration_s=float(row.get("duration_s") or 0.0),
        members=tuple(members),
    )
