import json

import pyarrow.parquet as pq
import pytest

from curation.config import parse_params
from curation.schemas import CLIPS, SCORES, TIERS, TIERS_LEAVE_OUT
from curation.tier import run_tier

pytestmark = pytest.mark.slow


def _params(corpus, tmp_path, **tier):
    data = corpus.params.model_dump()
    data["paths"]["tiers_table"] = str(tmp_path / "tiers.parquet")
    data["paths"]["metrics_dir"] = str(tmp_path / "metrics")
    data["tier"].update(tier)
    return parse_params(data)


def test_one_joined_row_per_clip_and_counts_add_up(scored_corpus, tmp_path, capsys):
    corpus, _ = scored_corpus
    summary = run_tier(_params(corpus, tmp_path))
    table = pq.read_table(tmp_path / "tiers.parquet")
    assert table.schema.equals(TIERS, check_metadata=False)
    assert set(CLIPS.names) | {"caption", "language", "tags"} | (set(SCORES.names) - {"params_hash"} - TIERS_LEAVE_OUT) <= set(table.column_names)
    assert not TIERS_LEAVE_OUT & set(table.column_names)  # the vectors stay in scores.parquet
    rows = table.to_pylist()
    assert [r["clip_id"] for r in rows] == corpus.ids
    m = json.loads((tmp_path / "metrics" / "tiers.json").read_text())
    assert sum(m["clips"].values()) == len(corpus.ids) == summary.clips
    total_h = sum(r["duration_s"] for r in rows) / 3600
    assert sum(m["hours"].values()) == pytest.approx(total_h, abs=1e-5) and m["total_hours"] == pytest.approx(total_h, abs=1e-6)
    by_id = {r["clip_id"]: r for r in rows}
    assert by_id["testsrc_copy"]["tier"] == 0 and by_id["testsrc_copy"]["excluded_reason"] == "duplicate_of:testsrc"
    assert by_id["broken"]["tier"] == 0 and by_id["broken"]["excluded_reason"].startswith("score_error")
    assert by_id["outside"]["tier"] == 0
    assert m["excluded"] == 3 and m["excluded_reasons"] == {"duplicate_of": 1, "score_error": 2}
    assert by_id["static"]["tier"] == 1  # the static colour clip is the easiest
    assert by_id["static"]["caption"] == "a plain blue wall" and by_id["noise"]["caption"] is None
    # random-init CLIP: tier 5 by the fallback quality, said loudly
    five = [r for r in rows if r["tier"] == 5]
    assert len(five) == 1 and "RANDOM-INIT" in five[0]["tier_reason"] and "fallback" in five[0]["quality_method"]
    assert five[0]["clip_id"] != "noise"  # noise looks sharp but is unstable
    assert m["clip_weights"] == "random-init" and m["quality_fallback_clips"] >= 1
    out = capsys.readouterr().out
    assert "refinement" in out and "hours" in out and "FALLBACK" in out


def test_hours_method_and_determinism(scored_corpus, tmp_path):
    corpus, _ = scored_corpus
    a, b = tmp_path / "a", tmp_path / "b"
    hours = [2 / 3600, 2 / 3600, 2 / 3600, 2 / 3600]  # one 2-s clip per tier budget
    run_tier(_params(corpus, a, method="hours", hours=hours, refinement_fraction=0.0), verbose=False)
    run_tier(_params(corpus, b, method="hours", hours=hours, refinement_fraction=0.0), verbose=False)
    assert (a / "tiers.parquet").read_bytes() == (b / "tiers.parquet").read_bytes()
    assert (a / "metrics" / "tiers.json").read_text() == (b / "metrics" / "tiers.json").read_text()
    m = json.loads((a / "metrics" / "tiers.json").read_text())
    assert m["method"] == "hours"
    assert [m["clips"][f"tier_{t}"] for t in range(6)] == [3, 1, 1, 1, 3, 0]  # 6 eligible: 1+1+1, rest overflow to 4
    assert m["hours_overflow_clips"] == 2


def test_missing_scores_table_is_a_clear_error(scored_corpus, tmp_path):
    corpus, _ = scored_corpus
    data = corpus.params.model_dump()
    data["paths"]["scores_table"] = str(tmp_path / "nope.parquet")
    with pytest.raises(FileNotFoundError, match="run the score stage first"):
        run_tier(parse_params(data))


def test_flagged_content_never_reaches_tier_5(scored_corpus, tmp_path):
    """Clips flagged screen / still / slideshow by score: never tier 5; tier.flagged_content says
    whether they keep a tier by difficulty (default) or are excluded."""
    corpus, _ = scored_corpus
    flags = {r["clip_id"]: r["content_flags"] for r in pq.read_table(corpus.params.paths.scores_table, columns=["clip_id", "content_flags"]).to_pylist()}
    flagged = {c for c, f in flags.items() if f}
    assert "static" in flagged and flags["static"] == ["still"]  # the static colour clip
    everything_tier5 = {"refinement_fraction": 0.5}  # as many tier-5 places as there are eligible clips / 2
    run_tier(_params(corpus, tmp_path / "keep", **everything_tier5), verbose=False)
    rows = {r["clip_id"]: r for r in pq.read_table(tmp_path / "keep" / "tiers.parquet").to_pylist()}
    assert not any(rows[c]["tier"] == 5 for c in flagged)
    assert rows["static"]["tier"] in (1, 2, 3, 4) and "never tier 5" in rows["static"]["tier_reason"]
    m = json.loads((tmp_path / "keep" / "metrics" / "tiers.json").read_text())
    assert m["flagged_content"]["rule"] == "tiers_1_to_4" and m["flagged_content"]["by_flag"]["still"] >= 1
    assert m["flagged_content"]["by_tier"]["tier_5"] == 0

    run_tier(_params(corpus, tmp_path / "excl", flagged_content="exclude", **everything_tier5), verbose=False)
    rows = {r["clip_id"]: r for r in pq.read_table(tmp_path / "excl" / "tiers.parquet").to_pylist()}
    assert rows["static"]["tier"] == 0 and rows["static"]["excluded_reason"] == "content:still"
    assert all(rows[c]["tier"] == 0 for c in flagged)
