from __future__ import annotations

import pytest

from tests.curation.score.conftest import scored


@pytest.fixture(scope="session")
def scored_corpus(tmp_path_factory):
    return scored(tmp_path_factory)
