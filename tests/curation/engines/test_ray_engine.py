"""RayEngine (Ray Data) gives exactly the local engine's results, and puts GPU stages on GPUs."""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray", reason="Ray engine tests need the 'ray' extra: pip install 'ray[data]'")
pytest.importorskip("ray.data")

from curation.config import EngineParams  # noqa: E402
from curation.engines import make_engine  # noqa: E402
from curation.engines.local import LocalEngine  # noqa: E402
from curation.engines.ray_engine import RayEngine  # noqa: E402
from curation.stage import Resources  # noqa: E402

from .media_tasks import BAD, SKIPPED, probe_tasks  # noqa: E402
from .probe_stage import ProbeStage, WhereStage  # noqa: E402
from .test_local_engine import collect  # noqa: E402

pytestmark = pytest.mark.slow


def test_ray_matches_local(media_factory, tmp_path):
    tasks = probe_tasks(media_factory, tmp_path)
    local = collect(LocalEngine(workers=1), [ProbeStage()], tasks, size=2)
    assert not ray.is_initialized()
    on_ray = collect(make_engine(EngineParams(name="ray", workers=2)), [ProbeStage()], tasks, size=2)
    assert not ray.is_initialized()  # the engine started its own Ray and stopped it
    for i, r in enumerate(on_ray):
        assert (r.error is not None) == (i in BAD), r.error
        assert bool(r.rows) == (i not in BAD | SKIPPED)
    # identical rows (types included: tuples, None, floats) and identical error texts
    assert [(r.rows, r.error) for r in on_ray] == [(r.rows, r.error) for r in local]
    for a, b in zip(on_ray, local, strict=True):
        for ra, rb in zip(a.rows, b.rows, strict=True):
            assert {k: type(v) for k, v in ra.items()} == {k: type(v) for k, v in rb.items()}


def test_ray_no_tasks_starts_nothing():
    assert list(RayEngine(workers=2).run([ProbeStage()], [])) == []
    assert not ray.is_initialized()


def test_gpu_stage_actors_request_gpus():
    """On logical GPUs (`ray.init(num_gpus=1)`, no CUDA needed) the GPU stage's actor gets GPU 0,
    the CPU stage's actors get none, and failures stay per item through both stages."""
    ray.init(num_cpus=3, num_gpus=1, include_dashboard=False, log_to_driver=False)
    try:
        cpu, gpu = WhereStage("cpu", Resources(cpus=1)), WhereStage("gpu", Resources(cpus=1, gpus=1), batch_size=4)
        tasks = [{"i": i, "fail": i == 3, "fail_in": "gpu"} for i in range(10)]
        res = collect(RayEngine(workers=2), [cpu, gpu], tasks, size=2)
    finally:
        ray.shutdown()
    assert res[3].error.startswith("ValueError: task 3 fails in gpu") and res[3].rows == []
    rows = [r.rows[0] for i, r in enumerate(res) if i != 3]
    assert all(r["gpu_ray_gpus"] == ["0"] for r in rows)
    assert all(r["cpu_ray_gpus"] == [] for r in rows)
    assert len({r["cpu_pid"] for r in rows}) == 2 and not {r["cpu_pid"] for r in rows} & {r["gpu_pid"] for r in rows}


def test_gpu_stage_on_a_cluster_without_gpus_is_refused():
    from curation.stage import StageConfigError

    with pytest.raises(StageConfigError, match="0 GPU"):
        list(RayEngine(workers=1, gpus=0).run([WhereStage("gpu", Resources(gpus=1))], [[{"i": 0}]]))
    assert not ray.is_initialized()


def _tree(root) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and "stores" not in p.relative_to(root).parts}


def test_ingest_on_ray_matches_local(tmp_path, monkeypatch):
    """The ingest stage on Ray writes byte-identical clips.parquet, rejects.parquet, metrics and clip files."""
    import numpy as np

    from curation.ingest import run_ingest
    from tests.conftest import ffmpeg, make_video
    from tests.curation.ingest.helpers import concat_video, ingest_params

    raw = tmp_path / "raw"
    concat_video(raw / "cuts.mp4", "testsrc2", "mandelbrot", seconds=1.5, size="160x120")  # hard cut at 1.5 s
    make_video(raw / "sub" / "long.mkv", source="testsrc2", seconds=3.0, size="160x90")  # split by max length
    make_video(raw / "tiny.mp4", source="testsrc2", seconds=0.5, size="160x120")  # too short
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440", "-t", "1", "-c:a", "aac", str(raw / "tone.mp4"))  # no video
    (raw / "random.mp4").write_bytes(np.random.default_rng(0).bytes(20_000))  # not media
    (raw / "empty.mp4").write_bytes(b"")

    local = ingest_params(None, raw, workers=2, max_clip_seconds=2.0)  # outputs relative to the run dir
    on_ray = local.model_copy(update={"engine": EngineParams(name="ray", workers=2)})
    summaries = {}
    for name, params in (("local", local), ("ray", on_ray)):
        out = tmp_path / name
        out.mkdir()
        monkeypatch.chdir(out)
        summaries[name] = run_ingest(params, progress=False, echo=False)
    assert not ray.is_initialized()

    s = summaries["local"]
    assert (s.videos, s.accepted, s.rejected, s.processed) == (6, 2, 4, 5) and s.clips >= 3
    assert summaries["ray"].metrics() == s.metrics()
    local_tree, ray_tree = _tree(tmp_path / "local"), _tree(tmp_path / "ray")
    assert sorted(ray_tree) == sorted(local_tree)
    assert {"clips.parquet", "rejects.parquet", "metrics/ingest.json"} <= set(local_tree)
    assert sum(k.endswith(".mp4") for k in local_tree) == s.clips
    for rel in local_tree:  # byte-identical tables, metrics and normalized clips
        assert ray_tree[rel] == local_tree[rel], rel
