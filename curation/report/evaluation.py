"""The report's evaluation section: held-out loss per tier, and the curriculum ablation when it ran.

Inputs (both optional; the section is left out when neither exists):

* `metrics/eval.json` -- the evaluate stage (aiprod_model.evaluate): per tier, the diffusion
  validation loss on held-out clips (fixed timesteps, fixed noise) and the VAE's SSIM/PSNR.
* `reports/ablation/ablation.json` -- `benchmarks/bench_curriculum.py`: the same evaluation for
  every (order, seed) run of the ablation and at every phase end; shown as a table (mean, sample
  standard deviation and range over seeds, per tier and overall) and a plot of held-out loss vs
  training step per order.

Every string from these files is escaped; numbers are formatted, never trusted as markup.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from curation.report.html_page import esc
from curation.report.load import read_json_file

TIER_KEYS = ("1", "2", "3", "4", "5")
ORDER_COLORS = {"curriculum": "#2e7d32", "shuffled": "#1f5fa8", "reversed": "#c0392b"}


def load_json(path: str | Path | None) -> dict[str, Any] | None:
    """The parsed file, None when there is none; an unreadable file becomes {"error": ...}."""
    data = read_json_file(path)
    return data if data is None or isinstance(data, dict) else {"error": "not a JSON object"}


def _f(x: Any, fmt: str = "{:.4f}") -> str:
    return fmt.format(x) if isinstance(x, int | float) and not isinstance(x, bool) else "&ndash;"


def stats(values: list[float]) -> dict[str, float | int | None]:
    """mean, sample standard deviation (n-1; None for one value), min, max, n."""
    vals = [float(v) for v in values]
    if not vals:
        return {"n": 0, "mean": None, "sd": None, "min": None, "max": None}
    return {"n": len(vals), "mean": statistics.fmean(vals), "sd": statistics.stdev(vals) if len(vals) > 1 else None, "min": min(vals), "max": max(vals)}


def _cell(s: dict[str, Any] | None) -> str:
    if not s or not s.get("n"):
        return "&ndash;"
    sd = f" &plusmn; {s['sd']:.4f}" if s.get("sd") is not None else ""
    return f"{s['mean']:.4f}{sd}<br><span class=muted>{s['min']:.4f}&ndash;{s['max']:.4f} (n={s['n']})</span>"


# --------------------------------------------------------------------------- eval.json
def eval_table_html(doc: dict[str, Any]) -> str:
    if "error" in doc:
        return f'<p class="warn">metrics/eval.json: {esc(doc["error"])}</p>'
    d, h, st = doc.get("diffusion", {}), doc.get("heldout", {}), doc.get("settings", {})
    intro = (
        f'<p class="sub">Held-out clips (split <code>{esc(h.get("split"))}</code>: train.vae_holdout={esc(h.get("fraction"))}, '
        f"at least {esc(h.get('min_per_tier'))} per tier), never trained on by the VAE or the diffusion model. "
        f"Diffusion validation loss: v-prediction MSE of the {esc(d.get('weights'))} weights at step {esc(d.get('step'))} "
        f"({esc(d.get('curriculum_order'))} order), at t = {esc(', '.join(str(t) for t in st.get('timesteps', [])))} with fixed noise "
        f"(seed {esc(st.get('noise_seed'))}), {esc(st.get('windows_per_clip'))} fixed windows per clip. Lower is better; "
        "SSIM/PSNR of the VAE's reconstructions, higher is better.</p>"
    )
    head = "<tr><th>tier</th><th class=num>held-out clips</th><th class=num>windows</th><th class=num>diffusion loss</th><th class=num>SSIM</th><th class=num>PSNR dB</th><th>note</th></tr>"
    rows = []
    for t in TIER_KEYS:
        e = doc.get("tiers", {}).get(t, {})
        rows.append(
            f"<tr><td>{t}</td><td class=num>{esc(e.get('clips', 0))}</td><td class=num>{esc(e.get('windows', 0))}</td>"
            f"<td class=num>{_f(e.get('loss'))}</td><td class=num>{_f(e.get('ssim'), '{:.3f}')}</td><td class=num>{_f(e.get('psnr'), '{:.2f}')}</td>"
            f"<td>{esc(e.get('note', ''))}</td></tr>"
        )
    o = doc.get("overall", {})
    rows.append(
        f"<tr><td><b>all</b></td><td class=num>{esc(o.get('clips', 0))}</td><td class=num>{esc(o.get('windows', 0))}</td>"
        f"<td class=num>{_f(o.get('loss'))}</td><td class=num>{_f(o.get('ssim'), '{:.3f}')}</td><td class=num>{_f(o.get('psnr'), '{:.2f}')}</td>"
        f"<td>mean over clips; mean of tier means {_f(o.get('loss_tier_mean'))}</td></tr>"
    )
    return intro + f'<table id="eval-table">{head}{"".join(rows)}</table>'


# --------------------------------------------------------------------------- ablation
def ablation_summary(ablation: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """{row ("1".."5", "all"): {order: stats of the final held-out loss over seeds}}."""
    out: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in (*TIER_KEYS, "all")}
    for order in ablation.get("orders", []):
        runs = [r for r in ablation.get("runs", []) if r.get("order") == order]
        for t in TIER_KEYS:
            out[t][order] = stats([r["final"]["tiers"][t]["loss"] for r in runs if r["final"]["tiers"].get(t, {}).get("loss") is not None])
        out["all"][order] = stats([r["final"]["overall"]["loss"] for r in runs if r["final"]["overall"].get("loss") is not None])
    return out


def ablation_plot(ablation: dict[str, Any]) -> bytes:
    """Held-out loss (all clips) vs training step, one line per order (mean over seeds, band = range)."""
    from curation.report.plots import _figure, _no_data, _png

    with _figure(6.4, 3.6) as fig:
        ax = fig.add_subplot()
        drawn = False
        for order in ablation.get("orders", []):
            runs = [r for r in ablation.get("runs", []) if r.get("order") == order and r.get("curve")]
            if not runs:
                continue
            steps = sorted({p["step"] for r in runs for p in r["curve"]})
            per = [[p["loss"] for r in runs for p in r["curve"] if p["step"] == s and p.get("loss") is not None] for s in steps]
            keep = [(s, v) for s, v in zip(steps, per, strict=True) if v]
            if not keep:
                continue
            xs = [s for s, _ in keep]
            mean = [statistics.fmean(v) for _, v in keep]
            color = ORDER_COLORS.get(order, "#555555")
            ax.plot(xs, mean, marker="o", ms=3, lw=1.6, color=color, label=f"{order} (n={len(runs)})")
            ax.fill_between(xs, [min(v) for _, v in keep], [max(v) for _, v in keep], color=color, alpha=0.15, lw=0)
            drawn = True
        if drawn:
            ax.legend(loc="best", frameon=False, fontsize=8)
        else:
            _no_data(ax, "no ablation runs")
        ax.set_xlabel("training step (phase ends)")
        ax.set_ylabel("held-out diffusion loss")
        ax.set_title("Held-out loss vs step per order (line: mean over seeds, band: range)", loc="left")
        return _png(fig)


def ablation_html(ablation: dict[str, Any], plot_png: bytes | None) -> str:
    from curation.report.html_page import data_uri

    if "error" in ablation:
        return f'<p class="warn">ablation.json: {esc(ablation["error"])}</p>'
    orders = [str(o) for o in ablation.get("orders", [])]
    summ = ablation_summary(ablation)
    head = "<tr><th>held-out loss</th>" + "".join(f"<th class=num>{esc(o)}</th>" for o in orders) + "</tr>"
    rows = []
    for key in (*TIER_KEYS, "all"):
        label = f"tier {key}" if key != "all" else "<b>all clips</b>"
        rows.append(f"<tr><td>{label}</td>" + "".join(f"<td class=num>{_cell(summ[key].get(o))}</td>" for o in orders) + "</tr>")
    seeds = ", ".join(str(s) for s in ablation.get("seeds", []))
    intro = (
        f'<p class="sub">Curriculum ablation (<code>{esc(ablation.get("command", "benchmarks/bench_curriculum.py"))}</code>): '
        f"the same clips, steps, batch sizes and learning rates, only the order of the tiers changes; seeds {esc(seeds)}; "
        f"model size {esc(ablation.get('model_size'))}. Cells: mean &plusmn; sample standard deviation over seeds, range below. "
        "Differences smaller than the spread are not evidence either way.</p>"
    )
    img = f'<div class="plots"><img id="plot-ablation" alt="Held-out loss vs training step per order" src="{data_uri(plot_png, "image/png")}"></div>' if plot_png else ""
    note = f'<p class="muted">{esc(ablation["note"])}</p>' if ablation.get("note") else ""
    return intro + f'<table id="ablation-table">{head}{"".join(rows)}</table>' + img + note


def evaluation_section(eval_doc: dict[str, Any] | None, ablation: dict[str, Any] | None) -> tuple[str, str, str] | None:
    """(id, title, html) of the report section, or None when neither input exists."""
    if eval_doc is None and ablation is None:
        return None
    parts = []
    if eval_doc is not None:
        parts.append("<h3>Held-out evaluation (metrics/eval.json)</h3>" + eval_table_html(eval_doc))
    if ablation is not None:
        png = ablation_plot(ablation) if "error" not in ablation else None
        parts.append("<h3>Does the curriculum help? (ablation)</h3>" + ablation_html(ablation, png))
    return ("evaluation", "Held-out evaluation", "".join(parts))


def eval_lines(eval_doc: dict[str, Any]) -> list[str]:
    """Plain lines for the terminal view."""
    if "error" in eval_doc:
        return [f"metrics/eval.json: {eval_doc['error']}"]
    o = eval_doc.get("overall", {})
    out = [f"held-out evaluation ({eval_doc.get('diffusion', {}).get('curriculum_order')} order, step {eval_doc.get('diffusion', {}).get('step')}): "
           f"{o.get('clips', 0)} clip(s), diffusion loss {_plain(o.get('loss'))}, SSIM {_plain(o.get('ssim'), '{:.3f}')}, PSNR {_plain(o.get('psnr'), '{:.2f}')} dB"]
    for t in TIER_KEYS:
        e = eval_doc.get("tiers", {}).get(t, {})
        out.append(f"  tier {t}: " + (f"{e['clips']} clip(s), loss {_plain(e.get('loss'))}, SSIM {_plain(e.get('ssim'), '{:.3f}')}" if e.get("clips") else str(e.get("note", "no held-out clip"))))
    return out


def _plain(x: Any, fmt: str = "{:.4f}") -> str:
    return fmt.format(x) if isinstance(x, int | float) and not isinstance(x, bool) else "-"
