"""Report plots as deterministic PNG bytes (matplotlib Agg, no pyplot global state).

Every plot is drawn on its own `Figure` with a fixed rc context and saved with
no "Software" metadata, so the same inputs give byte-identical PNGs.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from curation.report.load import clip_table
from curation.report.summary import TIERS

#: one colour per tier (easy -> hard -> refinement), shared by every plot and the HTML legend
TIER_COLORS = {1: "#4c9f70", 2: "#3a7dc9", 3: "#e0a030", 4: "#d1495b", 5: "#7b5ea7"}
EXCLUDED_COLOR = "#9a9a9a"
DPI = 110

_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.hashsalt": "difficulty-report",
    "path.simplify": True,
}


def tier_label(tier: int) -> str:
    return f"tier {tier}" if tier in TIERS else "excluded"


@contextmanager
def _figure(width: float, height: float) -> Iterator[Figure]:
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        yield fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _no_data(ax: Any, text: str = "no clips") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666666")


def difficulty_histogram(summary: dict[str, Any]) -> bytes:
    """Stacked histogram of difficulty (0..1), one colour per tier, from the summary's bin counts."""
    hist = summary["difficulty_histogram"]
    edges = hist["edges"]
    width = edges[1] - edges[0]
    with _figure(4.9, 3.3) as fig:
        ax = fig.add_subplot()
        bottom = [0] * len(hist["centers"])
        for t in TIERS:
            counts = hist["by_tier"][str(t)]
            if any(counts):
                ax.bar(hist["centers"], counts, width=width * 0.95, bottom=bottom, color=TIER_COLORS[t], label=tier_label(t))
                bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
        if not any(bottom):
            _no_data(ax)
        else:
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_xlabel("difficulty")
        ax.set_ylabel("clips")
        ax.set_title("Difficulty by tier", loc="left")
        ax.yaxis.get_major_locator().set_params(integer=True)
        return _png(fig)


def _scatter_panel(ax: Any, tier: np.ndarray, x: np.ndarray, y: np.ndarray, ycol: str, ylabel: str) -> None:
    drawn = False
    has_xy = ~np.isnan(x) & ~np.isnan(y)
    for t in (0, *TIERS):
        mask = has_xy & ((tier == t) if t else ~np.isin(tier, TIERS))
        if mask.any():  # points in clip_id order, as before
            ax.scatter(x[mask], y[mask], s=18, color=TIER_COLORS.get(t, EXCLUDED_COLOR), label=tier_label(t), alpha=0.85, edgecolors="none")
            drawn = True
    if drawn:
        ax.legend(loc="best", frameon=False, fontsize=7)
    else:
        _no_data(ax, f"no clips with flow_mean and {ycol}")
    ax.set_xlabel("optical flow (flow_mean)")
    ax.set_ylabel(ylabel)


def flow_vs_clip(clips: Any, random_init: bool) -> bytes:
    """Flow vs CLIP semantic change (and vs caption similarity when any clip has one), coloured by tier.

    `clips`: the report's clip table (or anything `load.clip_table` takes); only its tier, flow_mean,
    semantic_change and caption_similarity columns are read, as numpy arrays."""
    table = clip_table(clips)
    col = {c: table.column(c).to_numpy() for c in ("tier", "flow_mean", "semantic_change", "caption_similarity")}
    panels = [("semantic_change", "CLIP semantic change")]
    if not np.isnan(col["caption_similarity"]).all():
        panels.append(("caption_similarity", "CLIP caption similarity"))
    with _figure(6.4 if len(panels) == 1 else 9.6, 3.6) as fig:
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (name, label) in zip(axes, panels, strict=True):
            _scatter_panel(ax, col["tier"], col["flow_mean"], col[name], name, label)
        title = "Motion vs CLIP"
        if random_init:
            title += "  (CLIP weights: RANDOM-INIT, y values not meaningful)"
        fig.suptitle(title, x=0.01, ha="left", fontsize=10, color="#b00000" if random_init else "black")
        return _png(fig)


def hours_per_tier(summary: dict[str, Any]) -> bytes:
    """Bar chart of hours per tier (and excluded), annotated with clip counts."""
    labels, hours, clips, colors = [], [], [], []
    for t in summary["tiers"]:
        labels.append(tier_label(t["tier"]))
        hours.append(t["hours"] or 0.0)
        clips.append(t["clips"])
        colors.append(TIER_COLORS[t["tier"]])
    ex = summary["excluded"]
    if ex["clips"]:
        labels.append("excluded")
        hours.append(ex["hours"] or 0.0)
        clips.append(ex["clips"])
        colors.append(EXCLUDED_COLOR)
    # pick a unit that keeps the numbers readable: 0.001 h bars say nothing
    top = max(hours, default=0.0)
    unit, scale = ("hours", 1.0) if top >= 1.0 else ("minutes", 60.0) if top * 60.0 >= 1.0 else ("seconds", 3600.0)
    values = [h * scale for h in hours]
    with _figure(4.9, 3.3) as fig:
        ax = fig.add_subplot()
        bars = ax.bar(labels, values, color=colors)
        for bar, v, n in zip(bars, values, clips, strict=True):
            ax.annotate(f"{v:.3g}\n{n} clips", (bar.get_x() + bar.get_width() / 2, v), ha="center", va="bottom", fontsize=7, xytext=(0, 2), textcoords="offset points")
        ax.set_ylabel(unit)
        ax.set_title(f"Footage per tier ({unit})", loc="left")
        ax.margins(y=0.15)
        return _png(fig)
