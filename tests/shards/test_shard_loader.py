"""Streaming loader: documented sample dict, all tiers, workers > shards, integrity refusal, exact resume, short clips."""

from __future__ import annotations

import json
import shutil

import cv2
import decord
import numpy as np
import pytest
import torch

from curation.config import parse_params
from shards.decode import scaled_size
from shards.loader import LoaderState, ShardIntegrityError, make_phase_loader, make_tiers_loader
from shards.manifest import read_manifest
from tests.shards.conftest import TEXT_DIM, write

DOC_KEYS = {"video", "frames_valid", "text_emb", "has_text", "caption", "tier", "difficulty", "clip_id", "replay", "flow_curve"}


def params(**loader):
    base = {"frames": 4, "frame_stride": 1, "size": 16, "shuffle_buffer": 4, "flow_curve_length": 6}
    base.update(loader)
    return parse_params({"loader": base})


def take(loader, n):
    out = []
    for b in loader:
        out.append(b)
        if len(out) == n:
            break
    return out


def test_phase_loader_yields_documented_batch(shard_set, dataset):
    loader, state = make_phase_loader(params(), 0, shard_set, batch_size=3)
    (b,) = take(loader, 1)
    assert set(b) == DOC_KEYS
    assert b["video"].shape == (3, 4, 3, 16, 16) and b["video"].dtype == torch.float32
    assert b["video"].min() >= -1.0 and b["video"].max() <= 1.0 and b["video"].std() > 0.05
    assert b["text_emb"].shape == (3, TEXT_DIM) and b["text_emb"].dtype == torch.float32
    assert b["flow_curve"].shape == (3, 6) and b["tier"].tolist() == [1, 1, 1]
    rows = {r["clip_id"]: r for r in dataset["rows"]}
    for i, cid in enumerate(b["clip_id"]):
        r = rows[cid]
        assert b["has_text"][i].item() == (r["embedding_row"] >= 0) and b["caption"][i] == (r["caption"] or "")
        if r["embedding_row"] >= 0:
            assert torch.equal(b["text_emb"][i], torch.from_numpy(dataset["emb"][r["embedding_row"]]))
        else:
            assert not b["text_emb"][i].any()
        assert b["difficulty"][i].item() == pytest.approx(r["difficulty"])
        assert torch.allclose(b["flow_curve"][i], torch.tensor(r["flow_curve"][:6], dtype=torch.float32))
    assert state.batches_seen == 1 and json.loads(json.dumps(loader.state_dict()))["positions"] == [3]


def test_decoded_frames_match_the_clip(shard_set, dataset):
    """All 12 frames of a 1.5 s clip: the window must start at 0 and equal a direct decode + area resize + center crop."""
    loader, _ = make_tiers_loader(params(frames=12, size=16), shard_set, {1: 1.0}, batch_size=1)
    (b,) = take(loader, 1)
    row = next(r for r in dataset["rows"] if r["clip_id"] == b["clip_id"][0])
    w, h = scaled_size(64, 48, 16)
    full = decord.VideoReader(row["clip_path"]).get_batch(list(range(12))).asnumpy()
    ref = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in full])
    top, left = (h - 16) // 2, (w - 16) // 2
    ref = torch.from_numpy(ref[:, top : top + 16, left : left + 16].transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1)
    assert torch.equal(b["video"][0], ref)


def test_tiers_loader_streams_every_tier(shard_set, dataset):
    loader, _ = make_tiers_loader(params(frames=1, size=8), shard_set, batch_size=8)
    seen = {int(t) for b in take(loader, 5) for t in b["tier"]}
    assert seen == {1, 2, 3, 4, 5}
    loader, _ = make_tiers_loader(params(), shard_set, {5: 1.0}, batch_size=2, loader_overrides={"frames": 2, "size": 12})
    (b,) = take(loader, 1)
    assert b["video"].shape == (2, 2, 3, 12, 12) and b["tier"].tolist() == [5, 5]
    excluded = {r["clip_id"] for r in dataset["rows"] if r["tier"] == 0}
    assert not excluded & {c for b in take(loader, 3) for c in b["clip_id"]}


@pytest.mark.slow
def test_more_workers_than_shards(dataset, tmp_path):
    out = tmp_path / "one"
    m = write(dataset, out, max_samples=1000)
    assert sum(e["tier"] == 1 for e in m["shards"]) == 1
    loader, state = make_phase_loader(params(), 0, out, batch_size=2, num_workers=2)
    batches = take(loader, 4)
    tier1 = {r["clip_id"] for r in dataset["rows"] if r["tier"] == 1}
    assert all(set(b["clip_id"]) <= tier1 and b["video"].shape == (2, 4, 3, 16, 16) for b in batches)
    assert len(state.positions) == 2 and all(p > 0 for p in state.positions)
    # the single shard is split by sample: each worker's first epoch holds different clips
    firsts = [b["clip_id"] for b in batches[:2]]
    assert not set(firsts[0]) & set(firsts[1])


def test_tampered_shard_is_refused(shard_set, tmp_path):
    out = tmp_path / "t"
    shutil.copytree(shard_set, out)
    e = next(e for e in read_manifest(out)["shards"] if e["tier"] == 1)
    data = bytearray((out / e["path"]).read_bytes())
    data[4000] ^= 0x01
    (out / e["path"]).write_bytes(bytes(data))
    with pytest.raises(ShardIntegrityError, match="sha256 .* does not match the manifest"):
        make_phase_loader(params(), 0, out, batch_size=2)
    (out / e["path"]).unlink()
    with pytest.raises(ShardIntegrityError, match="missing"):
        make_phase_loader(params(), 0, out, batch_size=2)
    make_phase_loader(params(), 2, out, batch_size=2)  # phase 3 (tiers 3 + replay of tier 2) does not touch it


def _same(a, b):
    assert a["clip_id"] == b["clip_id"]
    assert torch.equal(a["video"], b["video"]) and torch.equal(a["replay"], b["replay"])


def test_resume_continues_exactly_workers0(shard_set):
    p = params(shuffle_buffer=3)
    full, _ = make_phase_loader(p, 1, shard_set, batch_size=3)
    ref = take(full, 8)
    first, state = make_phase_loader(p, 1, shard_set, batch_size=3)
    take(first, 4)
    saved = json.loads(json.dumps(state.to_dict()))
    resumed, st2 = make_phase_loader(p, 1, shard_set, state=saved, batch_size=3)
    tail = take(resumed, 4)
    for a, b in zip(ref[4:], tail):
        _same(a, b)
    assert st2.batches_seen == 8 and st2.positions == [24]
    # iterating the same loader again continues too (the state moved on)
    more = take(resumed, 1)
    full2, _ = make_phase_loader(p, 1, shard_set, batch_size=3)
    _same(take(full2, 9)[8], more[0])


@pytest.mark.slow
def test_resume_with_workers_continues_each_worker(shard_set):
    p = params(shuffle_buffer=3)
    full, _ = make_phase_loader(p, 1, shard_set, batch_size=2, num_workers=2)
    ref = take(full, 6)
    first, state = make_phase_loader(p, 1, shard_set, batch_size=2, num_workers=2)
    take(first, 2)
    resumed, _ = make_phase_loader(p, 1, shard_set, state=state.to_dict(), batch_size=2, num_workers=2)
    for a, b in zip(ref[2:], take(resumed, 4)):
        _same(a, b)


def test_state_for_another_phase_is_rejected(shard_set):
    _, state = make_phase_loader(params(), 0, shard_set, batch_size=2)
    with pytest.raises(ValueError, match="phase index 0, not 1"):
        make_phase_loader(params(), 1, shard_set, state=state.to_dict())
    with pytest.raises(ValueError, match="loader state"):
        LoaderState.from_dict({"version": 99})


def test_short_clips_are_padded_or_skipped(shard_set, dataset):
    short = {r["clip_id"] for r in dataset["rows"] if r["num_frames"] < 8 and r["tier"] == 2}
    assert short
    loader, _ = make_tiers_loader(params(frames=8, size=8, shuffle_buffer=0), shard_set, {2: 1.0}, batch_size=4)
    (b,) = take(loader, 1)
    for i, cid in enumerate(b["clip_id"]):
        valid = int(b["frames_valid"][i])
        if cid in short:
            assert valid == 4 and all(torch.equal(b["video"][i][k], b["video"][i][valid - 1]) for k in range(valid, 8))
        else:
            assert valid == 8
    assert short & set(b["clip_id"])
    loader, _ = make_tiers_loader(params(frames=8, size=8, short_clips="skip"), shard_set, {2: 1.0}, batch_size=4)
    got = {c for b in take(loader, 3) for c in b["clip_id"]}
    assert got and not got & short and all(int(v) == 8 for b in take(loader, 1) for v in b["frames_valid"])


def test_training_loaders_leave_out_the_heldout_split(shard_set, dataset):
    from shards.curriculum import HeldOut, heldout_split

    p = parse_params({"loader": {"frames": 1, "size": 8, "shuffle_buffer": 4}, "train": {"vae_holdout": 0.2, "holdout_min_per_tier": 1}})
    held = heldout_split(read_manifest(shard_set), shard_set, 0.2, 1)
    assert all(len(held.clips[t]) >= 1 for t in (1, 2, 3, 4, 5))
    tiered = {r["clip_id"] for r in dataset["rows"] if r["tier"] in (1, 2, 3, 4, 5)}
    loader, _ = make_tiers_loader(p, shard_set, batch_size=8)  # default: the params' split
    seen = {c for b in take(loader, 10) for c in b["clip_id"]}
    assert seen == tiered - held.clip_ids  # every training clip, no held-out one
    loader, _ = make_tiers_loader(p, shard_set, batch_size=8, heldout=HeldOut.empty())
    assert {c for b in take(loader, 10) for c in b["clip_id"]} == tiered  # nothing left out on request
