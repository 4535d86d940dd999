"""LocalEngine: a spawn pool gives the same results, in the same order, as one process."""

from __future__ import annotations

import pytest

from curation.config import EngineParams
from curation.engines import run_stage
from curation.engines.local import LocalEngine
from curation.stage import TaskResult

from .media_tasks import BAD, SKIPPED, probe_tasks
from .probe_stage import ProbeStage


def _check_results(results: list[TaskResult], tasks) -> None:
    assert [r.index for r in results] == list(range(len(tasks)))
    assert [r.task for r in results] == tasks
    for r in results:
        if r.index in BAD:
            assert r.rows == [] and r.error and r.error.startswith("CalledProcessError"), r
        elif r.index in SKIPPED:
            assert r.rows == [] and r.error is None
        else:
            assert r.error is None, r.error
            kinds = [row["kind"] for row in r.rows]
            assert kinds == ["container", "video"]
            assert r.rows[0]["name"] == r.task["name"] and r.rows[0]["duration"] > 0
            assert r.rows[1]["codec"] == "h264" and r.rows[1]["packets"] > 0


def test_pool_matches_single_process(media_factory, tmp_path):
    tasks = probe_tasks(media_factory, tmp_path)
    one = list(LocalEngine(workers=1).run(ProbeStage(), tasks, progress=False))
    two = list(LocalEngine(workers=2).run(ProbeStage(), tasks, progress=False))
    _check_results(one, tasks)
    _check_results(two, tasks)
    # identical rows, errors (same message + traceback text) and order
    assert [(r.index, r.task, r.rows, r.error) for r in two] == [(r.index, r.task, r.rows, r.error) for r in one]
    # sizes from ffprobe match the files made by ffmpeg
    assert one[0].rows[1]["size_wh"] == [160, 120] and one[2].rows[1]["size_wh"] == [128, 96]
    assert one[2].rows[1]["fps"] == pytest.approx(12.0)


def test_run_stage_uses_local_engine(media_factory, tmp_path):
    tasks = probe_tasks(media_factory, tmp_path)[:3]
    results = list(run_stage(ProbeStage(), tasks, EngineParams(name="local", workers=2), progress=False))
    assert [r.index for r in results] == [0, 1, 2]
    assert results[1].error and results[0].rows and results[2].rows


class _CountingStage(ProbeStage):
    def setup(self) -> None:  # would fail the test if called for no tasks
        raise AssertionError("setup() must not run without tasks")


def test_no_tasks_no_setup():
    assert list(LocalEngine(workers=2).run(_CountingStage(), [], progress=False)) == []


def test_engine_cli_overrides(tmp_path):
    import argparse

    from curation.config import load_params
    from curation.engines import add_engine_arguments, engine_overrides

    params_file = tmp_path / "params.yaml"
    params_file.write_text("engine:\n  name: local\n  workers: 3\n", encoding="utf-8")
    parser = add_engine_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--engine", "ray", "--ray-address", "auto"])
    params = load_params(params_file, overrides=engine_overrides(args))
    assert params.engine == EngineParams(name="ray", workers=3, ray_address="auto")
    assert engine_overrides(parser.parse_args([])) == {}
    assert load_params(params_file, overrides=engine_overrides(parser.parse_args([]))).engine.name == "local"
    with pytest.raises(SystemExit):
        parser.parse_args(["--engine", "spark"])
    from curation.config import ParamsError

    with pytest.raises(ParamsError, match="workers"):
        load_params(params_file, overrides=engine_overrides(parser.parse_args(["--workers", "0"])))
