"""End to end: `dvc repro shard` in a scratch copy of the project, on a small real corpus.

The raw folder holds a small sample corpus plus the bad-input corpus (truncated, random
bytes, audio-only, zero-length, one-frame, hostile names, ...).  The bad corpus's
self-referencing file symlink is left out here: DVC hashes the `${paths.raw}` dependency
before ingest runs and stops on it ("Too many levels of symbolic links: <path>"); ingest
itself rejects it (tests/curation/ingest/test_ingest_real_media.py).  Checked here:

- every input is accounted for: inputs == accepted + rejected, each reject with a reason;
- two clean runs give byte-identical clips.parquet, tiers.parquet, clip files and shards;
- SIGKILL of the whole `dvc repro` process group with about half of the ingest (or score)
  items done, then `dvc repro shard` again: the re-run processes exactly the items not yet in
  the stage's store, gives the same bytes as a clean run and leaves no temp file behind; the
  same for a kill in the middle of the shard stage;
- one video added: ingest processes 1 source, caption and score only its clips; then a change
  of score.weights alone: score processes 0 clips (nothing decoded) and the difficulty moves.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT, have_ffmpeg

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not have_ffmpeg(), reason="ffmpeg not installed")]

BIN = Path(sys.executable).parent
TEMP_MARK = ".tmp-"
COMPARED = ("data/clips.parquet", "data/tiers.parquet", "data/rejects.parquet", "data/shards", "data/clips")

# small but real: every stage up to shard runs with its real models and encoders
PARAMS = {
    "paths": {"raw": "data/raw"},
    "engine": {"workers": 2},
    "ingest": {"fps": 8, "short_side": 96, "max_clip_seconds": 4.0},
    "score": {"clip": {"sample_fps": 0.5, "max_frames": 4, "batch_size": 4}, "flow": {"sample_fps": 2.0, "width": 96}},
    "shard": {"max_samples": 3},
}


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", DVC_NO_ANALYTICS="1", PYTHONHASHSEED="0")
    return env


@pytest.fixture(scope="module")
def raw_corpus(tmp_path_factory) -> Path:
    """Sample corpus (0.3 min) + bad-input corpus, made once for every project copy."""
    from curation.bad_corpus import make_bad_corpus
    from curation.config import CorpusParams
    from curation.sample_corpus import generate_corpus

    raw = tmp_path_factory.mktemp("raw_corpus") / "raw"
    generate_corpus(raw, CorpusParams(minutes=0.3, width=320, height=180, fps=16, seed=0), progress=False)
    make_bad_corpus(raw / "bad", seconds=2.0)
    (raw / "bad" / "self_loop.mp4").unlink()  # DVC's own hashing of paths.raw stops on it (see above)
    return raw


def _project(dest: Path, raw: Path) -> Path:
    """A git+DVC copy of the tracked project files, with the small params and the raw corpus."""
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"], check=True, capture_output=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    (dest / "params.yaml").write_text(yaml.safe_dump(_merge(params, PARAMS), sort_keys=False, allow_unicode=True))
    shutil.copytree(raw, dest / "data" / "raw", symlinks=True)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


def _stage_process(proc: subprocess.Popen, module: str):
    import psutil

    try:
        for child in psutil.Process(proc.pid).children(recursive=True):
            if module in " ".join(child.cmdline()):
                return child
    except psutil.Error:
        pass
    return None


def _repro(project: Path, *, kill_when: Callable[[Path], bool] | None = None, slow_down: str | None = None, timeout: float = 600) -> bool:
    """Run `dvc repro shard`; with `kill_when`, SIGKILL its whole process group once that holds.

    `slow_down` (a module name, e.g. "pipelines.shard"): once that stage's process runs, it is
    run in short slices (2 ms on, 8 ms suspended) and `kill_when` is checked while it is
    suspended, so a stage that takes only tens of milliseconds is still caught in the middle,
    without a race.  Returns True when the run was killed, False when it ran to the end."""
    import psutil

    log = open(project / "repro.log", "ab")
    proc = subprocess.Popen([str(BIN / "dvc"), "repro", "shard"], cwd=project, env=_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    stage = None
    try:
        while proc.poll() is None:
            if slow_down and stage is None:
                stage = _stage_process(proc, slow_down)
            if stage is not None:
                try:
                    stage.suspend()
                except psutil.Error:
                    stage = None
            if kill_when is not None and kill_when(project):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            if time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                pytest.fail(f"dvc repro ran past {timeout}s; see {project / 'repro.log'}")
            if stage is not None:
                time.sleep(0.008)
                try:
                    stage.resume()
                except psutil.Error:
                    stage = None
                time.sleep(0.002)
            else:
                time.sleep(0.05)
    finally:
        log.close()
    if proc.returncode != 0:
        pytest.fail(f"dvc repro failed ({proc.returncode}):\n{(project / 'repro.log').read_text()[-4000:]}")
    return False


def _digests(project: Path) -> dict[str, str]:
    out = {}
    for rel in COMPARED:
        p = project / rel
        for f in sorted(p.rglob("*")) if p.is_dir() else [p]:
            if f.is_file():
                out[str(f.relative_to(project))] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def _temps(project: Path) -> list[str]:
    return sorted(str(p.relative_to(project)) for p in (project / "data").rglob(f"*{TEMP_MARK}*"))


def _mid_ingest(project: Path) -> bool:
    clips = project / "data" / "clips"
    return clips.is_dir() and any(TEMP_MARK not in p.name for p in clips.rglob("*.mp4"))


def _mid_shard(project: Path) -> bool:
    data = project / "data"
    return any(TEMP_MARK in p.name and any(p.rglob("*.tar")) for p in data.iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def clean_run(raw_corpus, tmp_path_factory) -> Path:
    project = _project(tmp_path_factory.mktemp("clean_a"), raw_corpus)
    assert _repro(project) is False
    return project


def test_every_input_is_accepted_or_rejected_with_a_reason(clean_run, raw_corpus):
    metrics = json.loads((clean_run / "metrics" / "ingest.json").read_text())
    clips = pd.read_parquet(clean_run / "data" / "clips.parquet")
    rejects = pd.read_parquet(clean_run / "data" / "rejects.parquet")
    assert metrics["videos"] == metrics["accepted"] + metrics["rejected"]
    assert metrics["rejected"] == len(rejects) >= 8
    assert metrics["accepted"] == clips["source_path"].nunique()
    assert rejects["reason"].str.len().min() > 0
    # the shard manifest verifies, and its samples are exactly the tiered, non-duplicate clips
    subprocess.run([str(BIN / "shards"), "verify", str(clean_run / "data" / "shards")], check=True, env=_env(), capture_output=True)
    tiers = pd.read_parquet(clean_run / "data" / "tiers.parquet")
    manifest = json.loads((clean_run / "data" / "shards" / "manifest.json").read_text())
    assert manifest["totals"]["samples"] == int((tiers["tier"] > 0).sum()) - len(manifest["skipped"])


def test_two_clean_runs_are_byte_identical(clean_run, raw_corpus, tmp_path_factory):
    other = _project(tmp_path_factory.mktemp("clean_b"), raw_corpus)
    assert _repro(other) is False
    a, b = _digests(clean_run), _digests(other)
    assert a and a == b
    assert not _temps(other)


def _stored(project: Path, stage: str) -> int:
    """Items finished and persisted in a stage's store (distinct reuse keys of its part files)."""
    import pyarrow.dataset as pads

    files = [str(p) for p in (project / "data" / "stores" / stage).glob("*.parquet")]
    if not files:
        return 0
    return len(set(pads.dataset(files, format="parquet").to_table(columns=["_reuse"]).column("_reuse").to_pylist()))


def _counts(project: Path, stage: str) -> tuple[int, int]:
    """(processed, reused) from the last `<stage>: ...; processed N, reused M` line of the repro log."""
    lines = [ln for ln in (project / "repro.log").read_text().splitlines() if ln.startswith(f"{stage}: ")]
    m = re.search(r"processed (\d+), reused (\d+)$", lines[-1])
    assert m, lines[-1]
    return int(m.group(1)), int(m.group(2))


def _items(project: Path, stage: str) -> int:
    processed, reused = _counts(project, stage)
    return processed + reused


def _half_done(stage: str, total: int) -> Callable[[Path], bool]:
    return lambda project: _stored(project, stage) >= total // 2


def _assert_rerun_resumes(project: Path, clean_run: Path, stage: str, total: int) -> None:
    """`project` was killed with about half of `stage`'s `total` items stored: a re-run processes
    exactly the items not in the store and ends byte-identical to the clean run, without temps."""
    done = _stored(project, stage)
    assert total // 2 <= done < total
    (project / "repro.log").unlink()
    assert _repro(project) is False
    assert _counts(project, stage) == (total - done, done)
    assert _digests(project) == _digests(clean_run)
    assert not _temps(project)


def test_sigkill_mid_ingest_then_rerun_matches_clean_run(clean_run, raw_corpus, tmp_path_factory):
    """Killed with about half of the sources ingested: the re-run processes exactly the sources
    not in the store (nothing persisted is redone) and the outputs are byte-identical."""
    project = _project(tmp_path_factory.mktemp("kill_ingest"), raw_corpus)
    total = _items(clean_run, "ingest")
    assert _repro(project, kill_when=_half_done("ingest", total)) is True
    assert not (project / "data" / "clips.parquet").exists(), "killed too late: ingest had finished"
    _assert_rerun_resumes(project, clean_run, "ingest", total)


def _copy_run(src: Path, dest: Path) -> Path:
    for rel in ("data", "metrics", "dvc.lock", ".dvc/cache"):  # the finished stages of `src`
        if not (src / rel).exists():
            continue
        if (src / rel).is_dir():
            shutil.rmtree(dest / rel, ignore_errors=True)
            shutil.copytree(src / rel, dest / rel, symlinks=True)
        else:
            shutil.copy2(src / rel, dest / rel)
    return dest


def test_sigkill_mid_score_then_rerun_matches_clean_run(clean_run, raw_corpus, tmp_path_factory):
    project = _copy_run(clean_run, _project(tmp_path_factory.mktemp("kill_score"), raw_corpus))
    total = _items(clean_run, "score")
    for rel in ("data/stores/score", "data/scores.parquet"):
        p = project / rel
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    assert _repro(project, kill_when=_half_done("score", total)) is True
    _assert_rerun_resumes(project, clean_run, "score", total)


def test_one_new_video_then_new_weights_redo_only_what_changed(clean_run, raw_corpus, tmp_path_factory):
    """One video added to the folder: ingest processes that source, caption and score only its
    clips.  Then only score.weights change: score decodes nothing (processed 0), tiers move."""
    from tests.conftest import make_video

    project = _copy_run(clean_run, _project(tmp_path_factory.mktemp("add_one"), raw_corpus))
    make_video(project / "data" / "raw" / "zz_new" / "added.mp4", source="mandelbrot", seconds=3.0, size="320x180", fps=16)
    assert _repro(project) is False
    clips = pd.read_parquet(project / "data" / "clips.parquet")
    new = int((clips["source_path"] == "zz_new/added.mp4").sum())
    assert new >= 1
    ingest_total, clips_total = _items(clean_run, "ingest"), _items(clean_run, "caption")
    assert _counts(project, "ingest") == (1, ingest_total)
    assert _counts(project, "caption") == (new, clips_total)
    assert _counts(project, "score") == (new, clips_total)
    before = pd.read_parquet(project / "data" / "scores.parquet")

    params = yaml.safe_load((project / "params.yaml").read_text())
    params["score"]["weights"] = {**params["score"]["weights"], "flow_mean": 0.0, "temporal_noise": 1.0}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
    (project / "repro.log").unlink()
    assert _repro(project) is False
    assert _counts(project, "score") == (0, clips_total + new)  # no decode, no flow, no CLIP
    after = pd.read_parquet(project / "data" / "scores.parquet")
    assert (after["flow_mean"].fillna(-1) == before["flow_mean"].fillna(-1)).all()  # stored measurements reused
    assert not (after["difficulty"].fillna(-1) == before["difficulty"].fillna(-1)).all()  # the combine step re-ran


def test_sigkill_mid_shard_then_rerun_matches_clean_run(clean_run, raw_corpus, tmp_path_factory):
    project = _copy_run(clean_run, _project(tmp_path_factory.mktemp("kill_shard"), raw_corpus))
    shutil.rmtree(project / "data" / "shards")
    assert _repro(project, kill_when=_mid_shard, slow_down="pipelines.shard") is True
    assert _temps(project), "killed too late: no half-written shard set to clean up"
    assert not (project / "data" / "shards").exists()
    assert _repro(project) is False
    assert _digests(project) == _digests(clean_run)
    assert not _temps(project)
