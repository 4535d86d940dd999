from pathlib import Path

import pytest

from curation.config import ParamsError, load_params, parse_params, section_hash

ROOT = Path(__file__).resolve().parents[1]


def test_repo_params_validate():
    p = load_params(ROOT / "params.yaml")
    assert p.ingest.gop_seconds <= 0.5
    assert len(p.curriculum.phases) == 5


def test_bad_params_list_every_problem(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("ingest:\n  fps: -1\n  short_side: 255\n  bogus: 1\n")
    with pytest.raises(ParamsError) as e:
        load_params(f)
    msg = str(e.value)
    assert "ingest.fps" in msg and "ingest.bogus" in msg


def test_clip_bounds_validation():
    with pytest.raises(ParamsError, match="max_clip_seconds"):
        parse_params({"ingest": {"min_clip_seconds": 5, "max_clip_seconds": 2}})


def test_section_hash_stable_and_sensitive():
    a = parse_params({})
    b = parse_params({"ingest": {"crf": 30}})
    assert section_hash(a.ingest) == section_hash(parse_params({}).ingest)
    assert section_hash(a.ingest) != section_hash(b.ingest)


def test_readme_test_command_is_ci_command():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci in (ROOT / "README.md").read_text()


def test_curriculum_order_and_eval_params_validate():
    p = load_params(ROOT / "params.yaml")
    assert p.curriculum.order == "curriculum" and p.eval.weights == "ema" and p.train.holdout_min_per_tier == 1
    assert parse_params({"curriculum": {"order": "reversed"}}).curriculum.order == "reversed"
    with pytest.raises(ParamsError, match=r"curriculum\.order: Input should be 'curriculum', 'shuffled' or 'reversed'"):
        parse_params({"curriculum": {"order": "random"}})
    with pytest.raises(ParamsError, match=r"timesteps must lie strictly between 0 and 1, got \[1\.0\]"):
        parse_params({"eval": {"timesteps": [0.5, 1.0]}})
    with pytest.raises(ParamsError, match="timesteps must be distinct"):
        parse_params({"eval": {"timesteps": [0.5, 0.5]}})
    with pytest.raises(ParamsError, match=r"eval\.windows_per_clip"):
        parse_params({"eval": {"windows_per_clip": 0}})
    assert section_hash(parse_params({}).curriculum) != section_hash(parse_params({"curriculum": {"order": "shuffled"}}).curriculum)
    # the batch size every consumer uses for a phase (trainer, schedule): x batch_scale, rounded, at least 1
    assert [ph.scaled_batch_size(0.25) for ph in p.curriculum.phases] == [4, 3, 3, 2, 1]
