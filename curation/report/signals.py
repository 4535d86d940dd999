"""Curation signals per tier: camera motion, content flags, burned-in overlays, black bars.

`signal_summary(clips, params)` reads the report's clip table (columnar: value counts per
tier, never a Python row per clip) and returns, for each signal, counts per tier (1..5 and
0 = excluded) and a few example clip ids per label (the first by clip_id, so the page is
deterministic).  A tiers table from before these signals existed (all-null columns) gives
`shown: False` with a note.  The HTML renderer is `render_signals`.
"""

from __future__ import annotations

import html
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from curation.labels import ALL_TIERS

CAMERA_LABELS = ("static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "rotate", "shake", "complex")
CONTENT_FLAGS = ("screen", "still", "slideshow")
EXAMPLES = 3


def _r(x: Any, nd: int = 4) -> float | None:
    return None if x is None else round(float(x), nd)


def _examples(ids: pa.Array, mask: pa.Array, k: int = EXAMPLES) -> list[str]:
    return pc.filter(ids, mask).slice(0, k).to_pylist()


def _per_tier(tier: pa.Array, mask: pa.Array) -> dict[str, int]:
    hit = pc.filter(tier, mask)
    counts = {int(v["values"]): int(v["counts"]) for v in pc.value_counts(hit).to_pylist()} if len(hit) else {}
    return {f"tier_{t}": counts.get(t, 0) for t in ALL_TIERS}


def signal_summary(clips: pa.Table, params: Any = None) -> dict[str, Any]:
    """Counts per tier and examples for every signal (see the module docstring)."""
    cam = clips.column("camera_motion").combine_chunks()
    flags = clips.column("content_flags").combine_chunks()
    overlay = clips.column("overlay_fraction").combine_chunks()
    crop = clips.column("crop_box").combine_chunks()
    if clips.num_rows == 0 or (cam.null_count == len(cam) and overlay.null_count == len(overlay) and crop.null_count == len(crop)):
        return {"shown": False, "note": "no curation signals in the tiers table (re-run score and tier to add camera motion, overlays, content flags)"}
    tier = clips.column("tier").combine_chunks()
    ids = clips.column("clip_id").combine_chunks()
    camera = []
    for label in CAMERA_LABELS:
        m = pc.fill_null(pc.equal(cam, label), False)
        if pc.any(m).as_py():
            camera.append({"label": label, "clips": int(pc.sum(m).as_py()), "by_tier": _per_tier(tier, m), "examples": _examples(ids, m)})
    content = []
    for flag in CONTENT_FLAGS:
        m = _contains(flags, flag)
        if pc.any(m).as_py():
            content.append({"flag": flag, "clips": int(pc.sum(m).as_py()), "by_tier": _per_tier(tier, m), "examples": _examples(ids, m)})
    found = pc.fill_null(pc.greater(overlay, 0.0), False)
    none = pc.fill_null(pc.equal(overlay, 0.0), False)
    frac = pc.filter(overlay, found)
    worst = pc.sort_indices(pa.table({"f": pc.fill_null(overlay, -1.0), "id": ids}), sort_keys=[("f", "descending"), ("id", "ascending")])
    bars = pc.is_valid(crop)
    return {
        "shown": True,
        "camera_motion": camera,
        "content_flags": content,
        "overlays": {
            "found": _per_tier(tier, found),
            "none": _per_tier(tier, none),
            "unknown": _per_tier(tier, pc.is_null(overlay)),
            "mean_fraction_when_found": _r(pc.mean(frac).as_py()) if len(frac) else None,
            "largest": [{"clip_id": ids[int(i)].as_py(), "overlay_fraction": _r(overlay[int(i)].as_py())} for i in worst.slice(0, EXAMPLES).to_pylist() if found[int(i)].as_py()],
        },
        "black_bars": {"cropped": _per_tier(tier, bars), "examples": _examples(ids, bars)},
    }


def _contains(flags: pa.Array, flag: str) -> pa.Array:
    """Per row: does its list hold `flag` (columnar: flattened values and their parent rows)."""
    import numpy as np

    mask = np.zeros(len(flags), bool)
    values = pc.list_flatten(flags)
    if len(values):
        parents = pc.list_parent_indices(flags).to_numpy(zero_copy_only=False)
        mask[parents[pc.fill_null(pc.equal(values, flag), False).to_numpy(zero_copy_only=False)]] = True
    return pa.array(mask)


def _tier_cells(by_tier: dict[str, int]) -> str:
    return "".join(f"<td class=num>{by_tier[f'tier_{t}']}</td>" for t in (*range(1, 6), 0))


def render_signals(summary: dict[str, Any]) -> str:
    s = summary.get("signals") or {"shown": False, "note": "signals not computed"}
    if not s["shown"]:
        return f'<p class="muted" id="signals-note">{html.escape(s["note"])}</p>'
    esc = html.escape
    head = "".join(f"<th class=num>tier {t}</th>" for t in range(1, 6)) + "<th class=num>excluded</th>"
    def rows(items: list[dict[str, Any]], key: str) -> str:
        return "".join(
            f"<tr><td><code>{esc(x[key])}</code></td><td class=num>{x['clips']}</td>{_tier_cells(x['by_tier'])}"
            f"<td>{', '.join(f'<code>{esc(c)}</code>' for c in x['examples'])}</td></tr>"
            for x in items
        ) or '<tr><td colspan="9" class="muted">none</td></tr>'
    ov = s["overlays"]
    over = "".join(f"<tr><td>{name}</td><td></td>{_tier_cells(ov[name])}<td></td></tr>" for name in ("found", "none", "unknown"))
    largest = ", ".join(f"<code>{esc(x['clip_id'])}</code> ({x['overlay_fraction']:.3f})" for x in ov["largest"]) or "none"
    bb = s["black_bars"]
    return (
        '<p class="sub">Measured from the pixels and the optical flow the pipeline already decodes (no model weights). '
        "Camera motion is a robust global-motion fit per flow pair; content flags keep clips out of tier 5 "
        "(<code>tier.flagged_content</code>); overlay boxes are drawn on the contact sheet.</p>"
        f'<h3>Camera motion</h3><table id="signals-camera"><tr><th>label</th><th class=num>clips</th>{head}<th>examples</th></tr>{rows(s["camera_motion"], "label")}</table>'
        f'<h3>Content flags</h3><table id="signals-content"><tr><th>flag</th><th class=num>clips</th>{head}<th>examples</th></tr>{rows(s["content_flags"], "flag")}</table>'
        f'<h3>Burned-in overlays</h3><table id="signals-overlays"><tr><th>overlay</th><th></th>{head}<th></th></tr>{over}</table>'
        f'<p class="sub">mean share of the frame when found: {ov["mean_fraction_when_found"] if ov["mean_fraction_when_found"] is not None else "-"}; largest: {largest}</p>'
        f'<h3>Black bars (cropped in ingest)</h3><table id="signals-black-bars"><tr><th></th><th></th>{head}<th>examples</th></tr>'
        f"<tr><td>cropped</td><td></td>{_tier_cells(bb['cropped'])}<td>{', '.join(f'<code>{esc(c)}</code>' for c in bb['examples'])}</td></tr></table>"
    )
