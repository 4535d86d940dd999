"""A real two-node Ray cluster on this machine (`ray start --head` + `ray start --address=...`,
one CPU each, same filesystem): ingest runs on both nodes and writes the same bytes as the
local engine.  This is the README's "Run on a Ray cluster" recipe, run as a test."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray cluster test needs the 'ray' extra: pip install 'ray[data]'")

from tests.conftest import make_video  # noqa: E402

pytestmark = pytest.mark.slow

RAY = str(Path(sys.executable).parent / "ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: `ray start` (Ray >= 2.5x) enables token authentication: drivers and nodes need RAY_AUTH_MODE=token
#: and the same token; this test gives every process its own fresh token in RAY_AUTH_TOKEN (a real
#: cluster uses ~/.ray/auth_token, made by `ray get-auth-token --generate` on the head)
AUTH = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32), "RAY_USAGE_STATS_ENABLED": "0"}


def _start(args: list[str], log: Path) -> subprocess.Popen:
    env = dict(os.environ, **AUTH)
    return subprocess.Popen([RAY, "start", "--block", "--disable-usage-stats", *args], stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _wait_nodes(address: str, n: int, timeout: float = 120) -> None:
    code = f"import ray; ray.init(address={address!r}, log_to_driver=False); print(len([x for x in ray.nodes() if x['Alive']]))"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=dict(os.environ, **AUTH))
        if out.returncode == 0 and out.stdout.strip().splitlines()[-1:] == [str(n)]:
            return
        time.sleep(2)
    raise TimeoutError(f"Ray cluster at {address} did not reach {n} nodes")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("ray_cluster")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    temp = Path("/tmp") / f"rayc{port}"  # Ray's socket paths must stay short
    head = _start(["--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--num-gpus=0", "--include-dashboard=false", f"--temp-dir={temp}", "--object-store-memory=200000000"], root / "head.log")
    procs = [head]
    try:
        _wait_nodes(address, 1)
        procs.append(_start([f"--address={address}", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--num-gpus=0", "--object-store-memory=200000000"], root / "worker.log"))
        _wait_nodes(address, 2)
        yield address
    finally:
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=60)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(p.pid, signal.SIGKILL)


def test_ingest_runs_on_both_nodes_and_matches_local(cluster, tmp_path, monkeypatch):
    """`curation ingest --engine ray --ray-address ADDR --workers 2` (the README recipe), next to
    the same ingest on the local engine: both nodes ingest sources, the tables are byte-identical."""
    import re

    import yaml

    from curation.ingest import run_ingest
    from tests.curation.ingest.helpers import ingest_params

    raw = tmp_path / "raw"
    for i, src in enumerate(("testsrc2", "mandelbrot", "smptebars", "rgbtestsrc", "testsrc", "life")):
        make_video(raw / f"v{i}.mp4", source=src, seconds=1.5, size="160x120")
    local = ingest_params(None, raw, workers=1, max_clip_seconds=2.0)
    for name in ("local", "cluster"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path / "local")
    run_ingest(local, progress=False, echo=False)

    (tmp_path / "cluster" / "params.yaml").write_text(yaml.safe_dump(local.model_dump(mode="json", exclude_unset=True)))
    cmd = [str(Path(sys.executable).parent / "curation"), "ingest", "--params", "params.yaml", "--engine", "ray", "--ray-address", cluster, "--workers", "2", "--no-progress"]
    out = subprocess.run(cmd, cwd=tmp_path / "cluster", capture_output=True, text=True, env=dict(os.environ, **AUTH), timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("ingest: "))
    assert line.endswith("processed 6, reused 0"), line
    nodes = dict((n, int(c)) for n, c in re.findall(r"([0-9a-f]{12}) (\d+)", line.split("; nodes ")[1]))
    assert len(nodes) == 2 and all(c > 0 for c in nodes.values()) and sum(nodes.values()) == 6, line  # both nodes ingested
    for rel in ("clips.parquet", "rejects.parquet", "metrics/ingest.json"):
        assert (tmp_path / "cluster" / rel).read_bytes() == (tmp_path / "local" / rel).read_bytes(), rel
    # the clip files are where the table says (relative to the project, not to a Ray worker's directory)
    local_clips = sorted(p.relative_to(tmp_path / "local").as_posix() for p in (tmp_path / "local" / "clips").rglob("*.mp4"))
    cluster_clips = sorted(p.relative_to(tmp_path / "cluster").as_posix() for p in (tmp_path / "cluster" / "clips").rglob("*.mp4"))
    assert cluster_clips == local_clips and len(local_clips) >= 6
    for rel in local_clips:
        assert (tmp_path / "cluster" / rel).read_bytes() == (tmp_path / "local" / rel).read_bytes(), rel
