"""Caption quality: how well each caption matches its clip's frames, measured with CLIP.

`caption_similarity` (score stage) is the cosine between the CLIP text embedding of a clip's
caption and the clip's mean CLIP frame embedding.  With real CLIP weights a low value flags a
caption that does not describe the footage (a wrong sidecar, a captioner that hallucinates or
only repeats boilerplate); with random-init CLIP the number is noise, so nothing is shown.

`caption_quality(table, lowest)` works on the columns of a tiers table (pyarrow Table or pandas
DataFrame): clip_id, tier, caption, caption_similarity, clip_weights, and caption_source when
present.  A clip counts when it has a non-blank caption, a similarity, and real CLIP weights
(clip_weights set and not "random-init").  It returns a JSON-ready dict (numbers rounded, rows
in a fixed order): per-tier statistics (tier 0 = excluded clips), the same per caption source
(sidecar / captioner), and the `lowest` lowest-matching clips; or `shown: False` with a
one-line `note` saying why not.
"""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

RANDOM_INIT = "random-init"
REQUIRED = ("clip_id", "tier", "caption", "caption_similarity", "clip_weights")
TYPES = {
    "clip_id": pa.string(),
    "tier": pa.int64(),
    "caption": pa.string(),
    "caption_similarity": pa.float64(),
    "clip_weights": pa.string(),
    "caption_source": pa.string(),
}
FETCH_CLIP = "`curation models fetch clip`"


def _r(x: Any, nd: int = 6) -> float | None:
    if x is None:
        return None
    x = float(x)
    return round(x, nd) if math.isfinite(x) else None


def _as_table(table: pa.Table | Any) -> pa.Table:
    """The columns this section reads (those present), as a pyarrow Table."""
    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table[[c for c in table.columns if c in TYPES]], preserve_index=False)
    return table.select([c for c in table.column_names if c in TYPES])


def _stats(values: pa.Array) -> dict[str, Any]:
    if len(values) == 0:
        return {"min": None, "p10": None, "median": None, "mean": None, "max": None}
    q = pc.quantile(values, q=[0.1, 0.5], interpolation="linear").to_pylist()
    mm = pc.min_max(values).as_py()
    return {"min": _r(mm["min"]), "p10": _r(q[0]), "median": _r(q[1]), "mean": _r(pc.mean(values).as_py()), "max": _r(mm["max"])}


def _not_shown(note: str, **extra: Any) -> dict[str, Any]:
    return {"shown": False, "note": note, **extra}


def _source_groups(sources: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Each caption_source as its group: "sidecar:<ext>" -> "sidecar", null or "" -> "unknown", else itself."""
    s = pc.fill_null(sources, "")
    s = pc.if_else(pc.equal(s, ""), "unknown", s)
    s = pc.if_else(pc.starts_with(s, "sidecar:"), "sidecar", s)
    return s.combine_chunks() if isinstance(s, pa.ChunkedArray) else s


def caption_quality(table: pa.Table | Any, lowest: int = 10) -> dict[str, Any]:
    """Per-tier caption-frame similarity and the `lowest` lowest-matching clips (see module doc)."""
    t = _as_table(table)
    missing = [c for c in REQUIRED if c not in t.column_names]
    if missing:
        return _not_shown(f"caption quality not shown: the tier table has no {', '.join(missing)} column(s); re-run the score and tier stages")
    n = t.num_rows
    caption = t.column("caption")
    captioned = pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(caption)), 0), False)
    n_captioned = pc.sum(pc.cast(captioned, pa.int64())).as_py() or 0
    if n_captioned == 0:
        return _not_shown(
            f"caption quality not shown: none of the {n} clips has a caption "
            "(add sidecar captions, or get captioner weights with `curation models fetch captioner`)"
        )
    weights = t.column("clip_weights")
    real = pc.fill_null(pc.not_equal(pc.utf8_lower(pc.utf8_trim_whitespace(weights)), RANDOM_INIT), False)
    captioned_real = pc.and_(captioned, real)
    n_real = pc.sum(pc.cast(captioned_real, pa.int64())).as_py() or 0
    if n_real == 0:
        return _not_shown(
            f"caption quality not shown: CLIP weights are random-init (or unknown) for all {n_captioned} captioned clips, "
            f"so caption-frame similarity is noise; get real CLIP weights with {FETCH_CLIP}"
        )
    keep = pc.and_(captioned_real, pc.invert(pc.is_null(t.column("caption_similarity"))))
    m = t.filter(keep)
    if m.num_rows == 0:
        return _not_shown(
            f"caption quality not shown: {n_real} captioned clips have real CLIP weights but no caption_similarity "
            "(re-run the score stage after the caption stage)"
        )
    sim = m.column("caption_similarity").combine_chunks()
    tiers = []
    for tier in sorted(set(pc.unique(m.column("tier")).to_pylist()) - {None}):
        mask = pc.equal(t.column("tier"), tier)
        in_tier = pc.fill_null(pc.and_(mask, captioned), False)
        values = m.filter(pc.equal(m.column("tier"), tier)).column("caption_similarity")
        tiers.append({"tier": int(tier), "captioned": pc.sum(pc.cast(in_tier, pa.int64())).as_py() or 0, "measured": len(values), **_stats(values.combine_chunks())})
    if "caption_source" in m.column_names:
        groups = _source_groups(m.column("caption_source"))
    else:
        groups = pa.array(["unknown"] * m.num_rows, pa.string())
    by_source = []
    for g in sorted(pc.unique(groups).to_pylist()):
        values = sim.filter(pc.equal(groups, g))
        by_source.append({"source": g, "measured": len(values), **_stats(values)})
    order = pc.sort_indices(m, sort_keys=[("caption_similarity", "ascending"), ("clip_id", "ascending")])
    low = m.take(order.slice(0, max(0, lowest))).to_pylist()
    labels = sorted(pc.unique(m.column("clip_weights")).to_pylist())
    return {
        "shown": True,
        "note": None,
        "clip_weights": labels,
        "clips": n,
        "captioned": n_captioned,
        "measured": m.num_rows,
        "not_measured": n_captioned - m.num_rows,
        "overall": _stats(sim),
        "tiers": tiers,
        "by_source": by_source,
        "lowest": [
            {
                "clip_id": str(r["clip_id"]),
                "tier": None if r["tier"] is None else int(r["tier"]),
                "caption_similarity": _r(r["caption_similarity"]),
                "caption_source": r.get("caption_source"),
                "caption": r["caption"],
            }
            for r in low
        ],
    }
