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
