"""Building blocks of the params schema, shared by `curation.config` and `aiprod_model.params`.

Kept free of any stage code (pydantic only), so every package can declare its own
sections without import cycles; `curation.config.Params` composes them into the
one schema that `load_params` validates.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict


class ParamsError(ValueError):
    """params.yaml does not validate; the message lists every problem."""


class Section(BaseModel):
    """A params section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def stable_hash(obj: Any, length: int = 16) -> str:
    """sha256 of the sorted, compact JSON of `obj`, first `length` hex digits."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def section_hash(section: BaseModel, length: int = 16, exclude: set[str] | None = None) -> str:
    """Stable hash of a params section (sorted JSON); used for lineage and incremental runs.

    `exclude`: top-level fields left out (e.g. score.weights, which only the combine step reads)."""
    return stable_hash(section.model_dump(mode="json", exclude=exclude), length)
