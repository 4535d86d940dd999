"""Load the report's inputs: the tier table, the rejects table, and optional stage metrics.

Every loader is tolerant of what is optional (a missing rejects table, missing
optional columns, no metrics) and strict about what is not (no tiers table, or
one without the columns the report needs): that raises `ReportInputError` with
a message that says which stage to re-run.

The tables stay columnar (pyarrow Tables, never a Python dict per row), so the
driver's memory follows the few columns the report reads, not the table: the
tiers table is read with parquet column projection, only `CLIP_COLUMNS` (the
ones the file has), never the per-clip vectors (clip_embedding, thumb_signature,
flow_curve) or any other column.  `clip_table` / `reject_table` normalize a table
(types, NaN -> null, defaults) and sort it by `clip_id` (rejects: by path, stage,
reason, detail), so every figure computed from it is independent of the input
row order.  They also accept a list of row dicts (tests, small callers): it is
converted once, at that boundary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

#: Every tier-table column the report reads, and the type it is normalized to.  Nothing else is
#: read from the file.  A report section that needs another column (one per curation signal,
#: see summary.SECTIONS) adds it here; a column the file lacks becomes all-null.
CLIP_COLUMNS: dict[str, pa.DataType] = {
    "clip_id": pa.string(),
    "tier": pa.int64(),  # null -> 0 (excluded)
    "duration_s": pa.float64(),  # null / NaN -> 0.0
    "difficulty": pa.float64(),
    "clip_path": pa.string(),
    "source_path": pa.string(),
    "caption": pa.string(),
    "caption_source": pa.string(),
    "language": pa.string(),
    "tags": pa.list_(pa.string()),  # null -> []; a null tag -> "None"
    "excluded_reason": pa.string(),
    "flow_mean": pa.float64(),
    "semantic_change": pa.float64(),
    "caption_similarity": pa.float64(),
    "clip_weights": pa.string(),
    "captioner_weights": pa.string(),
    "is_duplicate": pa.bool_(),  # null -> False
    # curation signals (report.signals; the overlay box is drawn on the contact sheet)
    "camera_motion": pa.string(),
    "content_flags": pa.list_(pa.string()),
    "overlay_fraction": pa.float64(),
    "overlay_box": pa.list_(pa.float64()),  # [x, y, w, h], share of the frame
    "crop_box": pa.list_(pa.int64()),  # [x, y, w, h] in source pixels
}

#: columns the report cannot do without
REQUIRED_TIER_COLUMNS = ("clip_id", "tier", "duration_s", "difficulty")

#: columns used when present; all-null when a tiers table lacks them
OPTIONAL_TIER_COLUMNS = tuple(c for c in CLIP_COLUMNS if c not in REQUIRED_TIER_COLUMNS)

REJECT_COLUMNS = ("source_path", "source_sha256", "stage", "reason", "detail")

#: metrics files the report itself writes: never read back as inputs
OWN_METRICS = frozenset({"report.json"})

_MARK = {b"curation.report": b"clips-v1"}
CLIP_SCHEMA = pa.schema([pa.field(n, t) for n, t in CLIP_COLUMNS.items()], metadata=_MARK)
REJECT_SCHEMA = pa.schema([pa.field(n, pa.string()) for n in REJECT_COLUMNS], metadata={b"curation.report": b"rejects-v1"})


class ReportInputError(RuntimeError):
    """The report's required input is missing or malformed."""


@dataclass
class ReportInputs:
    """The report's inputs.  `clips` / `rejects` may be given as tables, DataFrames or lists of row
    dicts; they are normalized once, here (`clip_table`, `reject_table`)."""

    clips: pa.Table  # CLIP_SCHEMA, sorted by clip_id
    rejects: pa.Table  # REJECT_SCHEMA, sorted by (source_path, stage, reason, detail)
    stage_metrics: dict[str, Any] = field(default_factory=dict)  # metrics/<name>.json -> parsed JSON
    shard_manifest: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.clips = clip_table(self.clips)
        self.rejects = reject_table(self.rejects)


# ------------------------------------------------------------------ normalization
def _no_nan(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """NaN floats become null so that every consumer has one notion of "missing"."""
    return pc.if_else(pc.is_nan(col), pa.scalar(None, col.type), col)


def _cast(name: str, col: pa.ChunkedArray, typ: pa.DataType) -> pa.ChunkedArray:
    if col.type == typ:
        return col
    try:
        if pa.types.is_integer(typ) and pa.types.is_floating(col.type):
            return pc.cast(_no_nan(col), typ, safe=False)  # 2.0 -> 2, like int()
        return pc.cast(col, typ)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise ReportInputError(f"column {name!r} has type {col.type}, expected {typ}; re-run the tier stage ({exc})") from None


def _tags(col: pa.ChunkedArray) -> pa.Array:
    """list<string> without nulls: a null list becomes [], a null tag "None" (what str() made of it)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    lengths = pc.fill_null(pc.list_value_length(arr), 0)
    offsets = pa.concat_arrays([pa.array([0], pa.int32()), pc.cumulative_sum_checked(lengths).cast(pa.int32())])
    values = pc.fill_null(pc.list_flatten(arr), "None")
    return pa.ListArray.from_arrays(offsets, values)


def _convert(value: Any, typ: pa.DataType) -> Any:
    """A row value as the row code used it: str() for text, float() for numbers, bool() for flags."""
    if value is None:
        return None
    if pa.types.is_string(typ):
        return str(value)
    if pa.types.is_list(typ):
        return [None if v is None else str(v) for v in value]
    if pa.types.is_boolean(typ):
        return bool(value)
    return float(value)


def _from_rows(rows: list[dict[str, Any]], columns: dict[str, pa.DataType]) -> pa.Table:
    """The known columns of row dicts as a table (a missing key -> null)."""
    out = {}
    for name, typ in columns.items():
        values = [r.get(name) for r in rows]
        try:
            out[name] = pa.array(values, type=typ, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            converted = [_convert(v, typ) for v in values]
            out[name] = pa.array(converted, type=pa.float64() if pa.types.is_integer(typ) else typ, from_pandas=True)
    return pa.table(out)


def _as_arrow(obj: Any, columns: dict[str, pa.DataType]) -> pa.Table:
    if isinstance(obj, pa.Table):
        return obj
    if isinstance(obj, list | tuple):
        return _from_rows(list(obj), columns)
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is not None and isinstance(obj, pd.DataFrame):
        return pa.Table.from_pandas(obj[[c for c in obj.columns if c in columns]], preserve_index=False)
    raise TypeError(f"expected a pyarrow Table, a pandas DataFrame or a list of row dicts, got {type(obj).__name__}")


def clip_table(clips: Any) -> pa.Table:
    """The report's clip table: CLIP_COLUMNS normalized (see their comments), sorted by clip_id (stable).

    Accepts a pyarrow Table (any superset of the columns; only CLIP_COLUMNS are kept), a pandas
    DataFrame or a list of row dicts.  A table this function made is returned as is."""
    if isinstance(clips, pa.Table) and clips.schema.equals(CLIP_SCHEMA, check_metadata=True):
        return clips
    t = _as_arrow(clips, CLIP_COLUMNS)
    n = t.num_rows
    cols = {}
    for name, typ in CLIP_COLUMNS.items():
        if name not in t.column_names:
            cols[name] = pa.nulls(n, typ)
            continue
        col = _cast(name, t.column(name), typ)
        if pa.types.is_floating(typ):
            col = _no_nan(col)
        cols[name] = col
    cols["clip_id"] = pc.fill_null(cols["clip_id"], "None")  # str(None), as the row code had it
    cols["tier"] = pc.fill_null(cols["tier"], 0)
    cols["duration_s"] = pc.fill_null(cols["duration_s"], 0.0)
    cols["tags"] = _tags(cols["tags"])
    cols["is_duplicate"] = pc.fill_null(cols["is_duplicate"], False)
    table = pa.Table.from_arrays([cols[c] for c in CLIP_COLUMNS], schema=CLIP_SCHEMA)
    return table.take(pc.sort_indices(table, sort_keys=[("clip_id", "ascending")])).combine_chunks()


def reject_table(rejects: Any) -> pa.Table:
    """REJECT_COLUMNS as text (null -> "" except source_sha256), sorted by (source_path, stage, reason, detail)."""
    if isinstance(rejects, pa.Table) and rejects.schema.equals(REJECT_SCHEMA, check_metadata=True):
        return rejects
    types = dict.fromkeys(REJECT_COLUMNS, pa.string())
    t = _as_arrow(rejects, types)
    cols = {}
    for name in REJECT_COLUMNS:
        col = _cast(name, t.column(name), pa.string()) if name in t.column_names else pa.nulls(t.num_rows, pa.string())
        cols[name] = col if name == "source_sha256" else pc.fill_null(col, "")
    table = pa.Table.from_arrays([cols[c] for c in REJECT_COLUMNS], schema=REJECT_SCHEMA)
    keys = [(c, "ascending") for c in ("source_path", "stage", "reason", "detail")]
    return table.take(pc.sort_indices(table, sort_keys=keys)).combine_chunks()


# ------------------------------------------------------------------ files
def _read(path: Path, wanted: tuple[str, ...] | list[str]) -> tuple[pa.Table, list[str]]:
    """The `wanted` columns the parquet file has (projection: nothing else is read), and its column names."""
    try:
        names = pq.read_schema(path).names
        return pq.read_table(path, columns=[c for c in wanted if c in names]), names
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise ReportInputError(f"{path}: not a readable parquet file: {exc}") from None


def load_tiers(path: str | Path) -> pa.Table:
    """The tiers table's report columns (`clip_table`); raises ReportInputError without the required ones."""
    path = Path(path)
    if not path.is_file():
        raise ReportInputError(f"{path}: tiers table not found; run the tier stage first (dvc repro tier)")
    table, names = _read(path, list(CLIP_COLUMNS))
    missing = [c for c in REQUIRED_TIER_COLUMNS if c not in names]
    if missing:
        raise ReportInputError(f"{path}: missing columns {missing}; re-run the tier stage")
    return clip_table(table)


def load_rejects(path: str | Path | None) -> pa.Table:
    """The rejects table (`reject_table`), empty when there is none (a clean corpus has no rejects file)."""
    if path is None or not Path(path).is_file():
        return reject_table(REJECT_SCHEMA.empty_table())
    return reject_table(_read(Path(path), REJECT_COLUMNS)[0])


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {"error": f"unreadable: {type(exc).__name__}: {exc}"}


def read_json_file(path: str | Path | None) -> Any:
    """The parsed file; None when there is none; an unreadable file becomes {"error": ...}."""
    if path is None or not Path(path).is_file():
        return None
    return _read_json(Path(path))


def load_stage_metrics(metrics_dir: str | Path | None) -> dict[str, Any]:
    """Top-level metrics/*.json of the other stages, keyed by file stem, sorted."""
    if metrics_dir is None:
        return {}
    d = Path(metrics_dir)
    if not d.is_dir():
        return {}
    out: dict[str, Any] = {}
    for p in sorted(d.glob("*.json")):
        if p.name in OWN_METRICS or not p.is_file():
            continue
        out[p.stem] = _read_json(p)
    return out


def load_shard_manifest(path: str | Path | None) -> dict[str, Any] | None:
    data = read_json_file(path)
    return data if data is None or isinstance(data, dict) else {"manifest": data}


def load_inputs(
    tiers: str | Path,
    rejects: str | Path | None = None,
    metrics_dir: str | Path | None = None,
    shard_manifest: str | Path | None = None,
) -> ReportInputs:
    return ReportInputs(
        clips=load_tiers(tiers),
        rejects=load_rejects(rejects),
        stage_metrics=load_stage_metrics(metrics_dir),
        shard_manifest=load_shard_manifest(shard_manifest),
    )
