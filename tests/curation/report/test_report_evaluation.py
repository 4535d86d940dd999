"""The report's evaluation section: metrics/eval.json per tier, the ablation table and plot, escaping, absence."""

from __future__ import annotations

import json
import statistics

import pytest

from curation.config import parse_params
from curation.report import write_stage_outputs
from curation.report.evaluation import (
    ablation_plot,
    ablation_summary,
    evaluation_section,
    load_json,
    stats,
)
from tests.curation.report.test_report_stage import _project

EVAL = {
    "overall": {"clips": 3, "windows": 12, "loss": 0.51234, "loss_tier_mean": 0.5, "ssim": 0.4, "psnr": 14.5},
    "tiers": {
        "1": {"clips": 2, "heldout_clips": 2, "windows": 8, "loss": 0.41111, "ssim": 0.5, "psnr": 15.25},
        "2": {"clips": 1, "heldout_clips": 1, "windows": 4, "loss": 0.61111, "ssim": 0.3, "psnr": 13.0},
        "3": {"clips": 0, "heldout_clips": 0, "note": "<script>alert(1)</script>"},
        "4": {"clips": 0, "heldout_clips": 0, "note": "no held-out clip"},
        "5": {"clips": 0, "heldout_clips": 0, "note": "no held-out clip"},
    },
    "diffusion": {"step": 300, "completed": True, "curriculum_order": "reversed", "weights": "ema"},
    "heldout": {"fraction": 0.1, "min_per_tier": 1, "split": "abc", "clips": {"1": 2, "2": 1, "3": 0, "4": 0, "5": 0}},
    "settings": {"timesteps": [0.1, 0.5], "noise_seed": 0, "windows_per_clip": 4},
}


def run(order, seed, final_all, final_t1, curve):
    tiers = {t: {"clips": 0} for t in ("1", "2", "3", "4", "5")}
    tiers["1"] = {"clips": 1, "loss": final_t1}
    return {"order": order, "seed": seed, "final": {"overall": {"loss": final_all}, "tiers": tiers},
            "curve": [{"step": s, "loss": v} for s, v in curve]}


ABLATION = {
    "orders": ["curriculum", "shuffled"],
    "seeds": [0, 1, 2],
    "model_size": "tiny",
    "command": "python benchmarks/bench_curriculum.py",
    "runs": [
        run("curriculum", 0, 0.50, 0.40, [(10, 0.9), (20, 0.5)]),
        run("curriculum", 1, 0.52, 0.44, [(10, 0.8), (20, 0.52)]),
        run("curriculum", 2, 0.57, 0.45, [(10, 0.85), (20, 0.57)]),
        run("shuffled", 0, 0.60, 0.50, [(10, 0.7), (20, 0.6)]),
        run("shuffled", 1, 0.61, 0.52, [(10, 0.75), (20, 0.61)]),
        run("shuffled", 2, 0.65, 0.53, [(10, 0.72), (20, 0.65)]),
    ],
}


def test_no_inputs_no_section(tmp_path):
    assert evaluation_section(None, None) is None
    assert load_json(tmp_path / "missing.json") is None
    (tmp_path / "bad.json").write_text("{not json")
    assert "unreadable" in load_json(tmp_path / "bad.json")["error"]


def test_eval_table_and_escaping():
    sid, title, body = evaluation_section(EVAL, None)
    assert sid == "evaluation" and title == "Held-out evaluation"
    assert "<td>1</td><td class=num>2</td><td class=num>8</td><td class=num>0.4111</td><td class=num>0.500</td><td class=num>15.25</td>" in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>" not in body
    assert "step 300" in body and "reversed order" in body and "ablation" not in body.lower()


def test_ablation_stats_table_and_plot():
    s = ablation_summary(ABLATION)
    assert s["all"]["curriculum"]["mean"] == pytest.approx(statistics.fmean([0.50, 0.52, 0.57]))
    assert s["all"]["curriculum"]["sd"] == pytest.approx(statistics.stdev([0.50, 0.52, 0.57]))
    assert (s["1"]["shuffled"]["min"], s["1"]["shuffled"]["max"], s["1"]["shuffled"]["n"]) == (0.50, 0.53, 3)
    assert s["2"]["curriculum"]["n"] == 0 and stats([1.0])["sd"] is None
    _, _, body = evaluation_section(None, ABLATION)
    assert 'id="ablation-table"' in body and 'id="plot-ablation"' in body
    assert f"{statistics.fmean([0.60, 0.61, 0.65]):.4f} &plusmn; {statistics.stdev([0.60, 0.61, 0.65]):.4f}" in body
    png = ablation_plot(ABLATION)
    assert png.startswith(b"\x89PNG") and png == ablation_plot(ABLATION)  # deterministic bytes
    assert png != ablation_plot({**ABLATION, "runs": ABLATION["runs"][:3]})


def test_stage_report_shows_the_section_only_when_eval_json_exists(report_dir):
    _project(report_dir)
    params = parse_params({"report": {"contact_sheet_clips": 1, "contact_sheet_frames": 1}})
    page = write_stage_outputs(params, base_dir=report_dir, progress=False)["html"].read_text()
    assert 'id="evaluation"' not in page
    (report_dir / "metrics").mkdir(exist_ok=True)
    (report_dir / "metrics" / "eval.json").write_text(json.dumps(EVAL))
    (report_dir / "reports" / "ablation").mkdir(parents=True)
    (report_dir / "reports" / "ablation" / "ablation.json").write_text(json.dumps(ABLATION))
    page = write_stage_outputs(params, base_dir=report_dir, progress=False)["html"].read_text()
    assert page.index('id="plots"') < page.index('id="evaluation"') < page.index('id="contact-sheet"')
    assert 'id="eval-table"' in page and 'id="ablation-table"' in page and "0.6111" in page


def test_terminal_lines():
    from curation.report.evaluation import eval_lines

    lines = eval_lines(EVAL)
    assert lines[0] == "held-out evaluation (reversed order, step 300): 3 clip(s), diffusion loss 0.5123, SSIM 0.400, PSNR 14.50 dB"
    assert lines[1] == "  tier 1: 2 clip(s), loss 0.4111, SSIM 0.500" and lines[4] == "  tier 4: no held-out clip"
    assert eval_lines({"error": "unreadable: x"}) == ["metrics/eval.json: unreadable: x"]
