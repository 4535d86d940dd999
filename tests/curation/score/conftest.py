from __future__ import annotations

import pytest

from tests.curation import signal_clips as sc
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
def texture(tmp_path_factory):
    """The blob texture the signal tests pan, zoom, scroll and overlay (made once per session)."""
    return sc.texture_png(tmp_path_factory.mktemp("signals") / "texture.png")


@pytest.fixture(scope="session")
def real_picture(tmp_path_factory, shared_media):
    """A real landscape (frame 0 of car-turn.mp4: mountains, trees, a road), 960 px wide."""
    return sc.frame_png(tmp_path_factory.mktemp("signals_real") / "car_turn.png", shared_media / "car-turn.mp4")


@pytest.fixture(scope="session")
def scored_corpus(tmp_path_factory):
    return scored(tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_stage():
    """The score chain with the tiny random-init CLIP, set up once (for per-clip tests):
    `.measure(path, task)` is the CPU stage's one decode pass, `.process(task)` runs the chain."""
    from curation.config import parse_params
    from curation.engines.chain import run_chain, start_states
    from curation.score.clip_model import resolve_precision
    from curation.score.clip_stage import ClipEmbedStage
    from curation.score.measure import MeasureStage
    from tests.curation.score.corpus import TINY_CLIP

    params = parse_params({"score": {"clip": TINY_CLIP}})
    measure = MeasureStage(params.score, params.cuts, "/", "test")
    embed = ClipEmbedStage(params.score.clip, "random-init", resolve_precision("auto", "cpu"))
    measure.setup()
    embed.setup()

    class Chain:
        def measure(self, path, task):
            return measure.measure(path, task)

        def process(self, task):
            (state,) = run_chain([measure, embed], start_states([task]))
            assert state.error is None, state.error
            return state.rows

    return Chain()


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One torch thread in these tests: a shared 2-core machine slows down badly with oversubscribed threads."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
