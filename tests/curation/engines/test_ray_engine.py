"""RayEngine (Ray Data) gives exactly the local engine's results; skipped when Ray is not installed."""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray", reason="Ray engine tests need the 'ray' extra: pip install 'ray[data]'")
pytest.importorskip("ray.data")

from curation.config import EngineParams  # noqa: E402
from curation.engines import run_stage  # noqa: E402
from curation.engines.local import LocalEngine  # noqa: E402
from curation.engines.ray_engine import RayEngine  # noqa: E402

from .media_tasks import BAD, SKIPPED, probe_tasks  # noqa: E402
from .probe_stage import ProbeStage  # noqa: E402

pytestmark = pytest.mark.slow


def _as_tuples(results):
    return [(r.index, r.task, r.rows, r.error) for r in results]


def test_ray_matches_local(media_factory, tmp_path):
    tasks = probe_tasks(media_factory, tmp_path)
    local = list(LocalEngine(workers=1).run(ProbeStage(), tasks, progress=False))
    assert not ray.is_initialized()
    on_ray = list(run_stage(ProbeStage(), tasks, EngineParams(name="ray", workers=2), progress=False))
    assert not ray.is_initialized()  # the engine started its own Ray (num_cpus=2) and stopped it
    assert [r.index for r in on_ray] == list(range(len(tasks)))
    for r in on_ray:
        assert (r.error is not None) == (r.index in BAD), r.error
        assert bool(r.rows) == (r.index not in BAD | SKIPPED)
    # identical rows (types included: tuples, None, floats), identical error texts, same order
    assert _as_tuples(on_ray) == _as_tuples(local)
    for a, b in zip(on_ray, local):
        for ra, rb in zip(a.rows, b.rows):
            assert {k: type(v) for k, v in ra.items()} == {k: type(v) for k, v in rb.items()}


def test_ray_no_tasks_starts_nothing():
    assert list(RayEngine(workers=2).run(ProbeStage(), [], progress=False)) == []
    assert not ray.is_initialized()


def _tree(root) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


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
