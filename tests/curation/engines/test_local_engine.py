"""LocalEngine: pools give the same results as one process; chains, failures, GPU segments."""

from __future__ import annotations

import os

import pytest

from curation.engines.local import WORKER_DIED, LocalEngine, split_segments
from curation.stage import ItemResult, Resources

from .media_tasks import BAD, SKIPPED, probe_tasks
from .probe_stage import ProbeStage, WhereStage


def batches(tasks, size):
    return [tasks[i : i + size] for i in range(0, len(tasks), size)]


def collect(engine, stages, tasks, size=1) -> list[ItemResult]:
    """Item results in task order (engines yield batches as they complete)."""
    got: dict[int, ItemResult] = {}
    for br in engine.run(stages, batches(tasks, size)):
        for it in br.items:
            got[br.batch_id * size + it.index] = it
    assert sorted(got) == list(range(len(tasks)))
    return [got[i] for i in range(len(tasks))]


def _check_probe(results, tasks) -> None:
    for i, (r, t) in enumerate(zip(results, tasks, strict=True)):
        if i in BAD:
            assert r.rows == [] and r.error and r.error.startswith("CalledProcessError"), r
        elif i in SKIPPED:
            assert r.rows == [] and r.error is None
        else:
            assert r.error is None, r.error
            assert [row["kind"] for row in r.rows] == ["container", "video"]
            assert r.rows[0]["name"] == t["name"] and r.rows[0]["duration"] > 0
            assert r.rows[1]["codec"] == "h264" and r.rows[1]["packets"] > 0


def test_pool_matches_single_process(media_factory, tmp_path):
    tasks = probe_tasks(media_factory, tmp_path)
    one = collect(LocalEngine(workers=1), [ProbeStage()], tasks)
    two = collect(LocalEngine(workers=2), [ProbeStage()], tasks, size=2)
    _check_probe(one, tasks)
    _check_probe(two, tasks)
    # identical rows and errors (same message + traceback text)
    assert [(r.rows, r.error) for r in two] == [(r.rows, r.error) for r in one]
    assert one[0].rows[1]["size_wh"] == [160, 120] and one[2].rows[1]["size_wh"] == [128, 96]
    assert one[2].rows[1]["fps"] == pytest.approx(12.0)


class _NoSetup(ProbeStage):
    def setup(self) -> None:  # would fail the test if called for no tasks
        raise AssertionError("setup() must not run without tasks")


def test_no_tasks_no_setup():
    assert list(LocalEngine(workers=1).run([_NoSetup()], [])) == []
    assert list(LocalEngine(workers=2).run([_NoSetup()], [])) == []


def test_chain_feeds_rows_forward_and_isolates_failures():
    a = WhereStage("a", Resources(), batch_size=3)
    b = WhereStage("b", Resources(), batch_size=2)
    tasks = [{"i": i, "fail": i == 2, "fail_in": "a" if i == 2 else None} for i in range(5)] + [{"i": 5, "fail": True, "fail_in": "b"}]
    res = collect(LocalEngine(workers=1), [a, b], tasks, size=4)
    for r, t in zip(res, tasks, strict=True):
        if t["fail"]:
            stage = t["fail_in"]
            assert r.rows == [] and r.error.startswith(f"ValueError: task {t['i']} fails in {stage}")
        else:
            assert r.error is None and len(r.rows) == 1
            assert r.rows[0]["i"] == t["i"] and r.rows[0]["a_pid"] == r.rows[0]["b_pid"] == os.getpid()  # in this process


def test_gpu_stage_runs_in_its_own_pool_pinned_to_a_device():
    """A GPU-declared stage gets its own pool (one process per GPU, CUDA_VISIBLE_DEVICES set);
    `gpus=2` are logical here: the stage itself does not touch CUDA."""
    cpu, gpu = WhereStage("cpu", Resources(cpus=1)), WhereStage("gpu", Resources(cpus=1, gpus=1))
    assert [[s.name for s in seg] for seg in split_segments([cpu, gpu])] == [["cpu"], ["gpu"]]
    tasks = [{"i": i} for i in range(8)]
    res = collect(LocalEngine(workers=2, gpus=2), [cpu, gpu], tasks, size=2)
    rows = [r.rows[0] for r in res]
    assert all(r.error is None for r in res)
    cpu_pids, gpu_pids = {r["cpu_pid"] for r in rows}, {r["gpu_pid"] for r in rows}
    assert os.getpid() not in cpu_pids | gpu_pids and not cpu_pids & gpu_pids
    assert {r["gpu_cuda"] for r in rows} <= {"0", "1"} and all(r["cpu_cuda"] == os.environ.get("CUDA_VISIBLE_DEVICES") for r in rows)
    by_pid = {}
    for r in rows:
        by_pid.setdefault(r["gpu_pid"], set()).add(r["gpu_cuda"])
    assert all(len(devs) == 1 for devs in by_pid.values())  # each GPU worker keeps its one device


def test_gpu_stage_without_gpus_is_refused():
    from curation.stage import StageConfigError

    with pytest.raises(StageConfigError, match="no CUDA device"):
        list(LocalEngine(workers=1, gpus=0).run([WhereStage("gpu", Resources(gpus=1))], [[{"i": 0}]]))


@pytest.mark.slow
def test_a_task_that_kills_its_worker_fails_alone():
    stage = WhereStage("a", Resources(), batch_size=3)
    tasks = [{"i": i, "die": i == 4} for i in range(9)]
    res = collect(LocalEngine(workers=2), [stage], tasks, size=3)
    assert res[4].error == WORKER_DIED and res[4].rows == []
    assert all(r.error is None and r.rows[0]["i"] == i for i, r in enumerate(res) if i != 4)


def test_engine_cli_overrides(tmp_path):
    import argparse

    from curation.config import EngineParams, ParamsError, load_params
    from curation.engines import add_engine_arguments, engine_overrides

    params_file = tmp_path / "params.yaml"
    params_file.write_text("engine:\n  name: local\n  workers: 3\n", encoding="utf-8")
    parser = add_engine_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--engine", "ray", "--ray-address", "auto", "--gpus", "2"])
    params = load_params(params_file, overrides=engine_overrides(args))
    assert params.engine == EngineParams(name="ray", workers=3, ray_address="auto", gpus=2)
    assert engine_overrides(parser.parse_args([])) == {}
    assert load_params(params_file, overrides=engine_overrides(parser.parse_args([]))).engine.name == "local"
    with pytest.raises(SystemExit):
        parser.parse_args(["--engine", "spark"])
    with pytest.raises(ParamsError, match="workers"):
        load_params(params_file, overrides=engine_overrides(parser.parse_args(["--workers", "0"])))


def test_a_failing_setup_stops_the_run_with_its_reason():
    """setup() failing in the pool's workers (e.g. missing weights) stops the run at once with the reason,
    like it does in one process; it is not mistaken for crashing items."""
    import time

    from curation.engines.local import WorkerSetupError

    from .probe_stage import BrokenSetupStage

    t = time.monotonic()
    with pytest.raises(WorkerSetupError, match="broken-setup worker setup failed: FileNotFoundError: no weights in the cache"):
        list(LocalEngine(workers=2).run([BrokenSetupStage()], batches([{"i": i} for i in range(6)], 1)))
    assert time.monotonic() - t < 60
    with pytest.raises(FileNotFoundError, match="no weights"):
        list(LocalEngine(workers=1).run([BrokenSetupStage()], batches([{"i": 0}], 1)))


def test_light_engine_runs_cpu_chains_in_this_process_and_keeps_gpu_and_ray():
    from curation.config import EngineParams
    from curation.engines import light_engine, make_engine

    local = EngineParams(name="local", workers=4, gpus=2)
    cpu, gpu = WhereStage("cpu", Resources(cpus=1)), WhereStage("gpu", Resources(cpus=1, gpus=1))
    light = light_engine(local, [cpu])
    assert light == EngineParams(name="local", workers=1, gpus=2)
    rows = [r.rows[0] for r in collect(make_engine(light), [cpu], [{"i": i} for i in range(3)])]
    assert {r["cpu_pid"] for r in rows} == {os.getpid()}  # no pool
    assert light_engine(local, [cpu, gpu]) == local  # a GPU chain keeps its GPU pool
    ray = EngineParams(name="ray", workers=4, ray_address="auto")
    assert light_engine(ray, [cpu]) == ray
