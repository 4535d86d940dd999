"""The terminal view of a report summary: one rich table row per tier, then excluded/rejects lines."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def _num(x: float | None, fmt: str = "{:.3f}") -> str:
    return "-" if x is None else fmt.format(x)


def tier_table(summary: dict[str, Any]) -> Table:
    table = Table(title="Curriculum tiers", title_justify="left", header_style="bold")
    for name, justify in (
        ("tier", "right"),
        ("clips", "right"),
        ("hours", "right"),
        ("difficulty min", "right"),
        ("median", "right"),
        ("max", "right"),
        ("top tags", "left"),
        ("languages", "left"),
    ):
        table.add_column(name, justify=justify)
    for t in summary["tiers"]:
        d = t["difficulty"]
        table.add_row(
            str(t["tier"]),
            str(t["clips"]),
            _num(t["hours"], "{:.4f}"),
            _num(d["min"]),
            _num(d["median"]),
            _num(d["max"]),
            escape(", ".join(f"{x['tag']} {x['clips']}" for x in t["top_tags"]) or "-"),
            escape(", ".join(f"{x['language']} {x['clips']}" for x in t["languages"]) or "-"),
        )
    tot = summary["totals"]
    table.add_section()
    table.add_row("all", str(tot["tiered_clips"]), _num(tot["tiered_hours"], "{:.4f}"), "", "", "", "", "")
    return table


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """Plain-text lines (rich markup escaped) for what the table does not show."""
    lines = []
    ex = summary["excluded"]
    reasons = ", ".join(f"{x['reason']} {x['clips']}" for x in ex["reasons"]) or "none"
    lines.append(f"excluded (tier 0): {ex['clips']} clips, {_num(ex['hours'], '{:.4f}')} h; reasons: {reasons}")
    rj = summary["rejects"]
    reasons = ", ".join(f"{x['stage']}/{x['reason']} {x['files']}" for x in rj["reasons"]) or "none"
    lines.append(f"rejected files: {rj['files']}; reasons: {reasons}")
    cq = summary.get("caption_quality")
    if cq and cq["shown"]:
        per_tier = ", ".join(f"tier {t['tier']} {_num(t['median'])}" for t in cq["tiers"] if t["tier"])
        low = ", ".join(f"{r['clip_id']} {_num(r['caption_similarity'])}" for r in cq["lowest"][:3])
        lines.append(f"caption quality (CLIP caption-frame similarity, median): {per_tier or '-'}; lowest: {low or '-'}")
    elif cq:
        lines.append(cq["note"])
    for w in summary["weights"]["random_init_models"]:
        lines.append(
            f"WARNING: {w['model']} weights were RANDOM-INIT for {w['clips']} of {w['of']} clips "
            f"({w['column']}); {w['affects']} are NOT meaningful"
        )
    return [escape(x) for x in lines]


def print_summary(summary: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    console.print(tier_table(summary))
    for line in summary_lines(summary):
        style = "bold red" if line.startswith("WARNING") else None
        console.print(line, style=style, highlight=False)
