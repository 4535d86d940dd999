from __future__ import annotations

import pytest

from tests.curation.score.corpus import build_corpus

_CACHE: dict = {}


def scored(tmp_path_factory):
    """Corpus + one run_score over it, built once per session (also used by the tier tests)."""
    if "scored" not in _CACHE:
        from curation.score import run_score

        corpus = build_corpus(tmp_path_factory.mktemp("score_corpus"))
        summary = run_score(corpus.params, progress=False)
        _CACHE["scored"] = (corpus, summary)
    return _CACHE["scored"]


@pytest.fixture(scope="session")
def scored_corpus(tmp_path_factory):
    return scored(tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_stage():
    """A ScoreStage with the tiny random-init CLIP, set up once (for per-clip tests)."""
    from curation.score.stage import ScoreStage
    from tests.curation.score.corpus import TINY_CLIP
    from curation.config import parse_params

    params = parse_params({"score": {"clip": TINY_CLIP}})
    stage = ScoreStage(params.score, "/", threads=1)
    stage.setup()
    return stage


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One torch thread in these tests: a shared 2-core machine slows down badly with oversubscribed threads."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
