"""One self-contained HTML page: inline CSS, plots and frames as base64 data URIs, no scripts.

Nothing on the page is fetched from anywhere (a Content-Security-Policy meta tag
forbids it too), so the file can be mailed, archived or opened offline.  Every
string that comes from the data (file names, captions, tags, error texts) goes
through `html.escape`: those strings are untrusted.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from typing import Any

from curation.report.contact_sheet import SheetCell
from curation.report.plots import EXCLUDED_COLOR, TIER_COLORS
from curation.report.signals import render_signals
from curation.report.summary import SECTIONS as SUMMARY_SECTIONS

#: background of the random-init banner (tests look for this exact colour in a screenshot)
BANNER_COLOR = "#c00000"

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

CSS = f"""
* {{ box-sizing: border-box; }}
body {{ margin: 0; background: #f4f5f7; color: #1d2330; font: 14px/1.45 "DejaVu Sans", system-ui, sans-serif; }}
main {{ max-width: 1200px; margin: 0 auto; padding: 16px 24px 48px; }}
h1 {{ font-size: 26px; margin: 8px 0 4px; }}
h2 {{ font-size: 19px; margin: 0 0 10px; }}
h3 {{ font-size: 15px; margin: 14px 0 8px; }}
section {{ background: #fff; border: 1px solid #dde1e7; border-radius: 8px; padding: 16px 20px; margin: 16px 0; }}
.sub {{ color: #4a5263; margin: 0 0 8px; }}
.banner {{ background: {BANNER_COLOR}; color: #fff; padding: 18px 24px; border-bottom: 6px solid #7a0000; }}
.banner strong {{ display: block; font-size: 24px; letter-spacing: .02em; margin-bottom: 6px; }}
.banner p {{ margin: 4px 0; font-size: 15px; }}
.cards {{ display: flex; gap: 12px; flex-wrap: wrap; margin: 8px 0 4px; }}
.card {{ background: #fff; border: 1px solid #dde1e7; border-radius: 8px; padding: 10px 16px; min-width: 150px; }}
.card b {{ display: block; font-size: 22px; }}
.card span {{ color: #4a5263; font-size: 12px; }}
table {{ border-collapse: collapse; width: 100%; font-size: 13px; }}
th, td {{ text-align: left; padding: 5px 8px; border-bottom: 1px solid #e6e9ee; vertical-align: top; }}
th {{ background: #eef1f5; font-weight: 600; }}
td.num, th.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.swatch {{ display: inline-block; width: 12px; height: 12px; border-radius: 3px; margin-right: 6px; vertical-align: -1px; }}
pre {{ background: #f1f3f6; padding: 10px 12px; border-radius: 6px; white-space: pre-wrap; word-break: break-word; margin: 0; }}
.plots {{ display: flex; flex-wrap: wrap; gap: 16px; }}
.plots img {{ max-width: 100%; height: auto; border: 1px solid #e6e9ee; border-radius: 6px; background: #fff; }}
.sheet {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 12px; }}
.clip {{ border: 1px solid #dde1e7; border-radius: 6px; padding: 8px; background: #fafbfc; overflow: hidden; }}
.clip img {{ width: 100%; height: auto; display: block; border-radius: 4px; }}
.clip .meta {{ font-size: 12px; color: #4a5263; margin-top: 6px; word-break: break-all; }}
.clip .caption {{ font-size: 13px; color: #1d2330; margin-top: 4px; word-break: break-word; }}
.placeholder {{ background: repeating-linear-gradient(45deg, #f6e3e3, #f6e3e3 10px, #fbefef 10px, #fbefef 20px);
  border: 2px dashed #b55; border-radius: 4px; color: #7a1f1f; padding: 18px 12px; min-height: 90px;
  font-size: 12px; word-break: break-word; }}
.placeholder b {{ display: block; font-size: 13px; margin-bottom: 4px; }}
.muted {{ color: #6b7383; }}
.warn {{ color: #9a1c1c; font-weight: 600; }}
code {{ font-size: 12px; }}
.pair {{ display: flex; flex-wrap: wrap; gap: 12px 40px; align-items: flex-start; }}
.pair > div {{ flex: 0 1 auto; min-width: 320px; }}
footer {{ color: #6b7383; font-size: 12px; margin-top: 24px; }}
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(x: float | None, fmt: str = "{:.3f}") -> str:
    return "&ndash;" if x is None else fmt.format(x)


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _swatch(tier: int) -> str:
    return f'<span class="swatch" style="background:{TIER_COLORS.get(tier, EXCLUDED_COLOR)}"></span>'


def _banner(summary: dict[str, Any]) -> str:
    models = summary["weights"]["random_init_models"]
    if not models:
        return ""
    names = " and ".join(esc(m["model"].upper()) for m in models)
    lines = [
        f"<p><b>{esc(m['model'])}</b> weights were randomly initialised for {m['clips']} of {m['of']} clips "
        f"(<code>{esc(m['column'])} = random-init</code>): {esc(m['affects'])} are NOT meaningful.</p>"
        for m in models
    ]
    return (
        '<div class="banner" id="random-init-banner" role="alert">'
        f"<strong>&#9888; RANDOM-INIT {names} WEIGHTS &mdash; SCORES ARE NOT MEANINGFUL</strong>"
        + "".join(lines)
        + "<p>Get real weights with <code>curation models fetch</code> (once, online; README, &ldquo;Real weights&rdquo;), set the params it prints "
        "and re-run <code>dvc repro</code> before trusting tiers built from these scores.</p>"
        "</div>"
    )


def _cards(summary: dict[str, Any]) -> str:
    tot = summary["totals"]
    hours = tot["hours"] or 0.0
    items = [
        (str(tot["clips"]), "clips in the tier table"),
        (f"{hours:.3f} h" if hours >= 1 else f"{hours * 60:.1f} min", "footage"),
        (str(tot["tiered_clips"]), "clips in tiers 1-5"),
        (str(tot["excluded_clips"]), "excluded clips (tier 0)"),
        (str(tot["rejected_files"]), "rejected source files"),
    ]
    return '<div class="cards">' + "".join(f'<div class="card"><b>{v}</b><span>{esc(k)}</span></div>' for v, k in items) + "</div>"


def _tier_table(summary: dict[str, Any]) -> str:
    head = (
        "<tr><th>tier</th><th class=num>clips</th><th class=num>hours</th><th class=num>minutes</th>"
        "<th class=num>difficulty min</th><th class=num>median</th><th class=num>max</th>"
        "<th class=num>captioned</th><th>top tags</th><th>languages</th></tr>"
    )
    rows = []
    for t in summary["tiers"]:
        d = t["difficulty"]
        tags = ", ".join(f"{esc(x['tag'])} ({x['clips']})" for x in t["top_tags"]) or '<span class="muted">&ndash;</span>'
        langs = ", ".join(f"{esc(x['language'])} {x['clips']}" for x in t["languages"]) or '<span class="muted">&ndash;</span>'
        rows.append(
            f"<tr><td>{_swatch(t['tier'])}{t['tier']}</td><td class=num>{t['clips']}</td>"
            f"<td class=num>{_num(t['hours'], '{:.4f}')}</td><td class=num>{_num((t['hours'] or 0) * 60, '{:.2f}')}</td>"
            f"<td class=num>{_num(d['min'])}</td><td class=num>{_num(d['median'])}</td><td class=num>{_num(d['max'])}</td>"
            f"<td class=num>{t['captioned']}</td><td>{tags}</td><td>{langs}</td></tr>"
        )
    ex = summary["excluded"]
    rows.append(
        f"<tr><td>{_swatch(0)}excluded</td><td class=num>{ex['clips']}</td><td class=num>{_num(ex['hours'], '{:.4f}')}</td>"
        f"<td class=num>{_num((ex['hours'] or 0) * 60, '{:.2f}')}</td><td colspan=6>"
        + (", ".join(f"{esc(x['reason'])} {x['clips']}" for x in ex["reasons"]) or '<span class="muted">none</span>')
        + "</td></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _formula(summary: dict[str, Any]) -> str:
    f = summary["difficulty_formula"]
    body = f"<pre>{esc(f)}</pre>" if f else '<p class="warn">Formula unavailable: curation.score.difficulty.FORMULA could not be imported.</p>'
    dw = summary.get("difficulty_weights")
    if dw:
        cells = "".join(f"<tr><td><code>{esc(k)}</code></td><td class=num>{esc(v)}</td></tr>" for k, v in dw.items())
        weights_table = f"<div><h3>Weights (params.yaml score.weights)</h3><table><tr><th>component</th><th class=num>weight</th></tr>{cells}</table></div>"
    else:
        weights_table = ""
    w = summary["weights"]
    weights = "".join(
        f"<tr><td><code>{esc(col)}</code></td><td>{esc(val)}</td><td class=num>{n}</td></tr>"
        for col in ("clip_weights", "captioner_weights")
        for val, n in w[col].items()
    )
    models = f"<div><h3>Model weights behind the scores</h3><table><tr><th>column</th><th>value</th><th class=num>clips</th></tr>{weights}</table></div>"
    return body + f'<div class="pair">{weights_table}{models}</div>'


def _plots(plots: dict[str, bytes]) -> str:
    alts = {
        "difficulty_histogram": "Difficulty histogram coloured by tier",
        "flow_vs_clip": "Optical flow vs CLIP semantic change / caption similarity, coloured by tier",
        "hours_per_tier": "Footage per tier",
    }
    imgs = [f'<img id="plot-{esc(k)}" alt="{esc(alts.get(k, k))}" src="{data_uri(v, "image/png")}">' for k, v in plots.items()]
    return '<div class="plots">' + "".join(imgs) + "</div>"


def _cell(c: SheetCell) -> str:
    if c.image_jpeg is not None:
        visual = f'<img alt="frames {esc(c.frame_indices)} of clip {esc(c.clip_id)}" src="{data_uri(c.image_jpeg, "image/jpeg")}">'
    else:
        visual = f'<div class="placeholder"><b>frames unavailable</b>{esc(c.error)}</div>'
    caption = f'<div class="caption">{esc(c.caption)}</div>' if c.caption else '<div class="caption muted">(no caption)</div>'
    return (
        f'<div class="clip">{visual}{caption}<div class="meta">difficulty {_num(c.difficulty)} &middot; '
        f"{c.duration_s:.2f} s &middot; clip <code>{esc(c.clip_id)}</code><br>{esc(c.source_path)}</div></div>"
    )


def _contact_sheet(sheet: dict[int, list[SheetCell]], frames: int) -> str:
    parts = [f'<p class="sub">{frames} evenly spaced frames per clip; clips spread over each tier&rsquo;s difficulty range.</p>']
    for tier, cells in sheet.items():
        parts.append(f"<h3>{_swatch(tier)}Tier {tier}</h3>")
        if not cells:
            parts.append('<p class="muted">no clips in this tier</p>')
            continue
        parts.append('<div class="sheet">' + "".join(_cell(c) for c in cells) + "</div>")
    return "".join(parts)


def _stat_cells(s: dict[str, Any]) -> str:
    return "".join(f"<td class=num>{_num(s[k])}</td>" for k in ("min", "p10", "median", "mean", "max"))


def _caption_quality(summary: dict[str, Any]) -> str:
    cq = summary.get("caption_quality") or {"shown": False, "note": "caption quality not computed"}
    if not cq["shown"]:
        return f'<p class="muted" id="caption-quality-note">{esc(cq["note"])}</p>'
    head = "<th class=num>min</th><th class=num>p10</th><th class=num>median</th><th class=num>mean</th><th class=num>max</th>"
    intro = (
        '<p class="sub">Cosine between the CLIP embedding of each caption and the mean CLIP embedding of its clip&rsquo;s frames '
        f"(CLIP weights: {', '.join(f'<code>{esc(w)}</code>' for w in cq['clip_weights'])}). "
        f"{cq['measured']} of {cq['captioned']} captioned clips measured. Low values flag captions that do not describe the footage: "
        "check the lowest-matching clips below.</p>"
    )
    tiers = "".join(
        f"<tr><td>{_swatch(t['tier'])}{t['tier'] if t['tier'] else 'excluded'}</td><td class=num>{t['captioned']}</td>"
        f"<td class=num>{t['measured']}</td>{_stat_cells(t)}</tr>"
        for t in cq["tiers"]
    )
    sources = "".join(f"<tr><td><code>{esc(s['source'])}</code></td><td class=num>{s['measured']}</td>{_stat_cells(s)}</tr>" for s in cq["by_source"])
    low = "".join(
        f"<tr><td class=num>{_num(r['caption_similarity'])}</td><td><code>{esc(r['clip_id'])}</code></td><td>{esc(r['tier'])}</td>"
        f"<td><code>{esc(r['caption_source'])}</code></td><td>{esc(r['caption'])}</td></tr>"
        for r in cq["lowest"]
    )
    return (
        intro
        + f'<div class="pair"><div><h3>Per tier</h3><table id="caption-quality-tiers"><tr><th>tier</th><th class=num>captioned</th><th class=num>measured</th>{head}</tr>{tiers}</table></div>'
        + f'<div><h3>Per caption source</h3><table id="caption-quality-sources"><tr><th>source</th><th class=num>measured</th>{head}</tr>{sources}</table></div></div>'
        + f'<h3>Lowest-matching clips ({len(cq["lowest"])})</h3><table id="caption-quality-lowest"><tr><th class=num>similarity</th><th>clip</th><th>tier</th><th>source</th><th>caption</th></tr>{low}</table>'
    )


def _rejects(summary: dict[str, Any], max_listed: int) -> str:
    rj = summary["rejects"]
    if not rj["files"]:
        return '<p class="muted">No source file was rejected.</p>'
    counts = "".join(f"<tr><td>{esc(x['stage'])}</td><td>{esc(x['reason'])}</td><td class=num>{x['files']}</td></tr>" for x in rj["reasons"])
    listed = rj["list"][:max_listed]
    files = "".join(
        f"<tr><td>{esc(x['source_path'])}</td><td>{esc(x['stage'])}</td><td>{esc(x['reason'])}</td><td>{esc(x['detail'])}</td></tr>" for x in listed
    )
    more = len(rj["list"]) - len(listed)
    tail = f'<p class="muted">&hellip; and {more} more (see the rejects table).</p>' if more > 0 else ""
    return (
        f"<h3>By reason</h3><table><tr><th>stage</th><th>reason</th><th class=num>files</th></tr>{counts}</table>"
        f"<h3>Files</h3><table><tr><th>source file</th><th>stage</th><th>reason</th><th>detail</th></tr>{files}</table>{tail}"
    )


def _flatten(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(obj, dict):
        out: list[tuple[str, Any]] = []
        for k, v in obj.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    return [(prefix, obj)]


def _metrics(summary: dict[str, Any]) -> str:
    blocks = []
    for name, data in summary["stage_metrics"].items():
        rows = "".join(f"<tr><td><code>{esc(k)}</code></td><td>{esc(v)}</td></tr>" for k, v in _flatten(data))
        blocks.append(f"<h3>metrics/{esc(name)}.json</h3><table>{rows}</table>")
    manifest = summary["shard_manifest"]
    if manifest is not None:
        blocks.append("<h3>shard manifest</h3>" + _shard_tiers(manifest.get("tiers")))
        rest = {k: v for k, v in manifest.items() if k != "tiers"}
        rows = "".join(f"<tr><td><code>{esc(k)}</code></td><td>{esc(v)}</td></tr>" for k, v in _flatten(rest))
        blocks.append(f"<table>{rows}</table>")
    return "".join(blocks)


def _shard_tiers(tiers: Any) -> str:
    """Per-tier shard table when the manifest has the shard writer's `tiers` block; '' otherwise."""
    if not isinstance(tiers, dict) or not all(isinstance(v, dict) for v in tiers.values()):
        return ""
    rows = []
    for t, v in tiers.items():
        tier = int(t) if str(t).isdigit() else 0
        mib = v.get("bytes") / 2**20 if isinstance(v.get("bytes"), int | float) else None
        rows.append(
            f"<tr><td>{_swatch(tier)}{esc(t)}</td><td class=num>{esc(v.get('shards'))}</td><td class=num>{esc(v.get('samples'))}</td>"
            f"<td class=num>{esc(v.get('hours'))}</td><td class=num>{_num(mib, '{:.2f}')}</td></tr>"
        )
    head = "<tr><th>tier</th><th class=num>shards</th><th class=num>samples</th><th class=num>hours</th><th class=num>MiB</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


#: How the summary's SECTIONS (summary.SECTIONS, after the fixed part) are shown: summary key ->
#: (section id, title, renderer(summary) -> HTML).  They come after the contact sheet, in
#: summary.SECTIONS order; a renderer gets the whole summary (its key may be absent: say so).
SECTIONS: dict[str, tuple[str, str, Callable[[dict[str, Any]], str]]] = {
    "caption_quality": ("caption-quality", "Caption quality", _caption_quality),
    "signals": ("signals", "Curation signals", render_signals),
}


def render_html(
    summary: dict[str, Any],
    plots: dict[str, bytes],
    sheet: dict[int, list[SheetCell]],
    frames: int,
    max_listed_rejects: int,
    sources: dict[str, str] | None = None,
    extra_sections: list[tuple[str, str, str]] | None = None,
) -> str:
    """The complete page as a string (deterministic for the same arguments).

    `extra_sections`: (id, title, html) sections placed after the plots (e.g. the held-out evaluation)."""
    metrics = _metrics(summary)
    sections = [
        ("tiers", "Tiers", _cards(summary) + _tier_table(summary)),
        ("formula", "Difficulty formula", _formula(summary)),
        ("plots", "Plots", _plots(plots)),
        *(extra_sections or []),
        ("contact-sheet", "Contact sheet", _contact_sheet(sheet, frames)),
    ]
    for key, _ in SUMMARY_SECTIONS:
        if key in SECTIONS:
            sid, title, render = SECTIONS[key]
            sections.append((sid, title, render(summary)))
    sections.append(("rejects", f"Rejected files ({summary['rejects']['files']})", _rejects(summary, max_listed_rejects)))
    if metrics:
        sections.append(("metrics", "Pipeline metrics", metrics))
    body = "".join(f'<section id="{sid}"><h2>{esc(title)}</h2>{content}</section>' for sid, title, content in sections)
    src = ", ".join(f"{esc(k)}: <code>{esc(v)}</code>" for k, v in (sources or {}).items())
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Difficulty report</title>"
        f"<style>{CSS}</style></head><body>"
        f"{_banner(summary)}<main><h1>Difficulty report</h1>"
        f'<p class="sub">Curriculum tiers of the curated clips: how many, how long, how hard, and what was left out.</p>'
        f"{body}<footer>Written by <code>difficulty-report</code>. Inputs: {src or 'n/a'}</footer>"
        "</main></body></html>\n"
    )
