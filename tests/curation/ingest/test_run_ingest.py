import json
import os
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from curation.ingest import run_ingest
from curation.ingest.naming import clip_id
from curation.ingest.run import ingest_params_hash
from curation.io.atomic import TEMP_MARK
from curation.io.hashing import sha256_file
from curation.schemas import CLIPS, REJECTS
from tests.conftest import ffmpeg, make_video
from tests.curation.ingest.helpers import concat_video, count_frames, ingest_params

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory):
    raw = tmp_path_factory.mktemp("raw")
    concat_video(raw / "cuts.mp4", "testsrc2", "mandelbrot", seconds=3.0)  # hard cut at 3.0 s
    make_video(raw / "sub" / "long.mkv", source="testsrc2", seconds=5.0, size="320x180")  # split by max length
    make_video(raw / "portrait.mp4", source="testsrc2", seconds=1.5, size="180x320")
    make_video(raw / "tiny.mp4", source="testsrc2", seconds=0.5)  # shorter than min_clip_seconds
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440", "-t", "1", "-c:a", "aac", str(raw / "tone.mp4"))
    (raw / "random.mp4").write_bytes(np.random.default_rng(0).bytes(40_000))
    (raw / "empty.mp4").write_bytes(b"")
    shutil.copy(raw / "cuts.mp4", raw / "zz_copy_of_cuts.mp4")
    (raw / "notes.txt").write_text("not an input")
    return raw


@pytest.fixture(scope="module")
def first_run(raw_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    params = ingest_params(None, raw_dir, workers=2, max_clip_seconds=2.0)  # outputs relative to `out`, like a repo
    cwd = os.getcwd()
    os.chdir(out)
    try:
        summary = run_ingest(params, progress=False)
    finally:
        os.chdir(cwd)
    return params, out, summary


def test_summary_and_rejects(first_run):
    params, out, s = first_run
    assert s.videos == 8 and s.videos == s.accepted + s.rejected
    assert (s.accepted, s.rejected, s.processed) == (3, 5, 6)  # zero-length and the duplicate are decided without decoding
    rejects = {r["source_path"]: r for r in pq.read_table(out / params.paths.rejects_table).to_pylist()}
    assert {k: v["reason"] for k, v in rejects.items()} == {
        "empty.mp4": "zero_length",
        "random.mp4": "not_media",
        "tiny.mp4": "too_short",
        "tone.mp4": "no_video_stream",
        "zz_copy_of_cuts.mp4": "duplicate_source",
    }
    assert "cuts.mp4" in rejects["zz_copy_of_cuts.mp4"]["detail"]  # names the first path
    assert all(r["params_hash"] == ingest_params_hash(params) and r["stage"] == "ingest" for r in rejects.values())
    m = json.loads((out / "metrics" / "ingest.json").read_text())
    assert m["videos"] == 8 and m["accepted"] == 3 and m["rejected"] == 5 and m["clips"] == s.clips
    assert not any("time" in k or k.endswith("_s") for k in m)


def test_manifest_schema_and_exact_bounds(first_run):
    params, out, s = first_run
    table = pq.read_table(out / params.paths.clips_table)
    assert table.schema.equals(CLIPS)
    assert pq.read_table(out / params.paths.rejects_table).schema.equals(REJECTS)
    rows = table.to_pylist()
    by_src: dict[str, list] = {}
    for r in rows:
        by_src.setdefault(r["source_path"], []).append(r)
    assert sorted(by_src) == ["cuts.mp4", "portrait.mp4", "sub/long.mkv"]
    phash = ingest_params_hash(params)
    for src, clips in by_src.items():
        for a, b in zip(clips, clips[1:]):
            assert a["end_frame"] <= b["start_frame"]
        for r in clips:
            path = out / "clips" / r["clip_id"][:2] / f"{r['clip_id']}.mp4"
            assert r["clip_path"] == f"clips/{r['clip_id'][:2]}/{r['clip_id']}.mp4" and path.exists()
            assert r["clip_id"] == clip_id(r["source_sha256"], phash, r["start_frame"], r["end_frame"])
            assert r["num_frames"] == r["end_frame"] - r["start_frame"] == count_frames(path)
            assert r["start_s"] == r["start_frame"] / 16 and r["duration_s"] == r["num_frames"] / 16
            assert r["clip_sha256"] == sha256_file(path) and r["clip_bytes"] == path.stat().st_size
            assert (r["codec"], r["pix_fmt"], r["gop"], r["fps"]) == ("h264", "yuv420p", 8, 16.0)
            assert r["crop_box"] is None  # lavfi test sources fill the frame: no black bars
            assert r["height" if r["width"] >= r["height"] else "width"] == 96 and r["width"] % 2 == 0
    # the hard cut at 3.0 s ends the first clip (+-1 frame), max length 2 s splits both shots
    cuts = by_src["cuts.mp4"]
    assert [c["split_reason"] for c in cuts] == ["max_length", "cut", "max_length", "end"]
    assert abs(cuts[1]["end_frame"] - 48) <= 1 and cuts[2]["start_frame"] == cuts[1]["end_frame"]
    assert cuts[0]["num_frames"] == 32  # 2.0 s cap
    # 5 s = 80 frames: 32 + 32 + 16 (16 frames = min_clip_seconds, kept)
    assert [(c["start_frame"], c["end_frame"]) for c in by_src["sub/long.mkv"]] == [(0, 32), (32, 64), (64, 80)]
    assert (by_src["portrait.mp4"][0]["width"], by_src["portrait.mp4"][0]["height"]) == (96, 170)


def test_incremental(first_run, raw_dir, tmp_path, monkeypatch):
    params, out, _ = first_run
    # work on a copy so the module fixture stays as it is
    raw2, out2 = tmp_path / "raw", tmp_path / "out"
    shutil.copytree(raw_dir, raw2, symlinks=True)
    shutil.copytree(out, out2)
    monkeypatch.chdir(out2)
    p2 = ingest_params(None, raw2, workers=1, max_clip_seconds=2.0)
    tables = [out2 / "clips.parquet", out2 / "rejects.parquet", out2 / "metrics" / "ingest.json"]
    before = [sha256_file(t) for t in tables]
    clip_files = sorted((out2 / "clips").rglob("*.mp4"))
    stale = out2 / "clips" / f".abc.mp4{TEMP_MARK}dead"
    stale.write_bytes(b"left by a killed run")

    s = run_ingest(p2, progress=False)  # nothing changed: nothing decoded, same bytes
    assert s.processed == 0 and s.reused == 6 and not stale.exists()
    assert [sha256_file(t) for t in tables] == before
    assert sorted((out2 / "clips").rglob("*.mp4")) == clip_files

    make_video(raw2 / "new.mp4", source="testsrc2", seconds=1.5)  # one new video: only it is processed
    s = run_ingest(p2, progress=False)
    assert s.processed == 1 and s.accepted == 4 and s.videos == 9

    (raw2 / "sub" / "long.mkv").unlink()  # a source disappears: its rows and files go
    s = run_ingest(p2, progress=False)
    assert s.processed == 0 and s.videos == 8 and s.removed_orphans == 3
    rows = pq.read_table(out2 / "clips.parquet").to_pylist()
    assert "sub/long.mkv" not in {r["source_path"] for r in rows}
    assert len(list((out2 / "clips").rglob("*.mp4"))) == len(rows)

    (raw2 / "cuts.mp4").unlink()  # the duplicate now becomes the first copy: its clips are reused
    s = run_ingest(p2, progress=False)
    assert s.processed == 0
    assert {r["source_path"] for r in pq.read_table(out2 / "clips.parquet").to_pylist()} == {"new.mp4", "portrait.mp4", "zz_copy_of_cuts.mp4"}


def test_params_change_reprocesses(first_run, raw_dir, tmp_path, monkeypatch):
    params, out, _ = first_run
    out2 = tmp_path / "out"
    shutil.copytree(out, out2)
    monkeypatch.chdir(out2)
    p2 = ingest_params(None, raw_dir, workers=1, max_clip_seconds=3.0, cuts={"enabled": False})
    s = run_ingest(p2, progress=False)
    assert s.processed == 6
    rows = pq.read_table(out2 / "clips.parquet").to_pylist()
    assert {r["params_hash"] for r in rows} == {ingest_params_hash(p2)}
    assert len(list((out2 / "clips").rglob("*.mp4"))) == len(rows)  # the old params' clips were removed
    assert all(r["split_reason"] != "cut" for r in rows)
