"""Data-parallel training.  Unit checks of aiprod_model.distributed, then (slow) the real DVC entry
points under `torchrun --nproc_per_node=2` (gloo, CPU) on a real tiny shard set, compared with a
single-process run of the same params.

Shard layout (2 clips per shard): tier 1 has 8 clips in 4 shards (>= 2 ranks: split by shard),
tier 2 has 2 clips in 1 shard (< 2 ranks: split by sample).  Phase 1 (global batch 2 -> one clip
per rank, 4 steps) reads exactly one epoch of tier 1 per rank; phase 2 (1 step) one clip of tier 2
per rank; so within each phase the ranks' clips must be disjoint and together cover the tier.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from aiprod_model.checkpoint import load_checkpoint
from aiprod_model.distributed import SINGLE, Dist, pack_rank_states, unpack_rank_state
from tests.aiprod_model.conftest import tiny_params
from tests.conftest import ROOT, have_ffmpeg

SHARD_TEXT_DIM = 16  # tests.shards.conftest.TEXT_DIM: random caption embeddings


def _gloo() -> bool:
    import torch.distributed as td

    return td.is_available() and td.is_gloo_available()


torchrun_test = pytest.mark.skipif(not (have_ffmpeg() and _gloo()), reason="ffmpeg and torch.distributed with gloo needed")


# --------------------------------------------------------------------------- unit
def test_local_batch_splits_the_global_batch():
    for world in (2, 3, 8):
        for b in (1, 2, 5, 16, 17):
            shares = [Dist(rank=r, world=world).local_batch(b) for r in range(world)]
            assert max(shares) - min(shares) <= 1 and shares == sorted(shares, reverse=True)
            assert sum(shares) == max(b, world)  # a batch smaller than the world trains one sample per rank
    assert SINGLE.local_batch(5) == 5


def test_single_process_helpers_are_the_identity():
    assert SINGLE.all_reduce_sum([1.5, 2]) == [1.5, 2.0] and SINGLE.all_gather_object({"a": 1}) == [{"a": 1}]
    assert list(SINGLE.lockstep([{"video": torch.zeros(3, 1)}, {"video": torch.zeros(2, 1)}]))[1][1] == 2
    gen = torch.Generator().manual_seed(7)
    tensors, extra = pack_rank_states(SINGLE, {"pos": 3}, gen)
    assert set(tensors) == {"generator"} and extra == {}  # the single-process checkpoint is unchanged
    assert unpack_rank_state(SINGLE, tensors, {"loader_state": {"pos": 3}})[1] == {"pos": 3}


def test_resume_under_another_world_size_restarts_the_phase_stream(caplog):
    two = {"generator": torch.zeros(4, dtype=torch.uint8), "generator.rank1": torch.ones(4, dtype=torch.uint8)}
    meta = {"world_size": 2, "loader_state": {"pos": 1}, "loader_states": [{"pos": 1}, {"pos": 2}]}
    gen, loader = unpack_rank_state(SINGLE, two, meta)
    assert loader is None and torch.equal(gen, two["generator"]) and "starts afresh" in caplog.text
    assert unpack_rank_state(Dist(rank=1, world=2), two, meta) == (two["generator.rank1"], {"pos": 2})
    assert unpack_rank_state(Dist(rank=2, world=3), two, meta) == (None, None)  # no saved generator: the trainer seeds one


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> tuple[Path, dict]:
    from tests.shards.conftest import build_dataset, write

    root = tmp_path_factory.mktemp("ddp_shards")
    ds = build_dataset(root, {1: 8, 2: 2, 3: 1, 4: 1, 5: 2}, fps=8, seconds=1.0)
    out = root / "shards"
    write(ds, out)
    return out, ds


def run_params(tmp: Path, shard_dir: Path):
    return tiny_params(
        paths={"shards_dir": str(shard_dir), "models_dir": str(tmp / "models"), "metrics_dir": str(tmp / "metrics"), "reports_dir": str(tmp / "reports")},
        model={"backbone": {"text_dim": SHARD_TEXT_DIM}},
        curriculum={"phases": [
            {"tiers": {1: 1.0}, "lr": 1e-4, "batch_size": 16, "steps": 4},  # x batch_scale 0.125 -> global batch 2
            {"tiers": {2: 1.0}, "lr": 5e-5, "batch_size": 16, "steps": 1},
        ]},
        # no held-out split here: the phases below are sized to read whole epochs of every tier's clips
        # (the split's exclusion is the same loader code on every rank: tests/shards, tests/aiprod_model/test_stages)
        train={"vae_steps": 4, "vae_batch_size": 4, "vae_holdout": 0.0, "vae_eval_clips": 2},
        loader={"shuffle_buffer": 4},
    )


def write_params(tmp: Path, shard_dir: Path) -> Path:
    path = tmp / "params.yaml"
    tmp.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(run_params(tmp, shard_dir).model_dump(mode="json", exclude_unset=True), allow_unicode=True))
    return path


def torchrun(*args: str) -> subprocess.CompletedProcess:
    """`python -m torch.distributed.run --nproc_per_node=2 --standalone <args>` on the CPU (gloo)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="", PYTHONPATH=str(ROOT))
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    print(f"torchrun {' '.join(args)[:80]}: {time.perf_counter() - t0:.1f}s")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return proc


# One torchrun launch (each costs ~10 s of interpreter + torch start-up on 2 cores) for three runs:
# VAE and curriculum in run dir A, then the curriculum in run dir B stopped at step 3 (--max-steps:
# no final checkpoint, like a kill), which test_killed_two_rank_run_resumes_exactly resumes with a
# plain `-m pipelines.train_diffusion` launch.  The process group is made here once;
# aiprod_model.distributed.session reuses an initialised group.
COMBINED = r"""
import shutil, sys
import torch.distributed as td
from pipelines import train_diffusion, train_vae
a, b = sys.argv[1:3]
td.init_process_group("gloo")
assert train_vae.main(["--params", f"{a}/params.yaml", "--clip-log", f"{a}/clips"]) == 0
assert train_diffusion.main(["--params", f"{a}/params.yaml", "--clip-log", f"{a}/clips"]) == 0
if td.get_rank() == 0:
    shutil.copytree(f"{a}/models/vae", f"{b}/models/vae")
td.barrier()
assert train_diffusion.main(["--params", f"{b}/params.yaml", "--max-steps", "3", "--clip-log", f"{b}/clips"]) == 0
td.destroy_process_group()
"""


def clip_log(path: Path) -> dict[int, dict]:
    """step -> last record of that step (a resumed run re-does the steps after its checkpoint)."""
    out: dict[int, dict] = {}
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        out[rec["step"]] = rec
    return out


def keys_tree(obj):
    """The nested key structure of a JSON value (values dropped)."""
    if isinstance(obj, dict):
        return {k: keys_tree(v) for k, v in obj.items()}
    return type(obj).__name__ if obj is None else "value"


# --------------------------------------------------------------------------- torchrun, 2 ranks
@pytest.fixture(scope="module")
def two_ranks(shards, tmp_path_factory) -> tuple[Path, Path]:
    """(run dir A: VAE + curriculum, run dir B: curriculum interrupted at step 3), 2 ranks each."""
    tmp = tmp_path_factory.mktemp("ddp")
    a, b = tmp / "a", tmp / "b"
    write_params(a, shards[0])
    write_params(b, shards[0])
    out = torchrun("--no-python", sys.executable, "-c", COMBINED, str(a), str(b))
    assert out.stdout.count("train_vae: 4 steps") == 1  # rank 0 reports
    assert out.stdout.count("train_diffusion: 5 steps") == 1
    # a copy of the interrupted run, resumed by one process in test_one_process_resumes_a_two_rank_run
    write_params(tmp / "c", shards[0])
    shutil.copytree(b / "models", tmp / "c" / "models")
    return a, b


@pytest.fixture(scope="module")
def one_process(shards, tmp_path_factory) -> Path:
    from aiprod_model.stages import run_train_diffusion, run_train_vae

    tmp = tmp_path_factory.mktemp("single")
    p = run_params(tmp, shards[0])
    assert run_train_vae(p, progress=False)["steps"] == 4
    assert run_train_diffusion(p, progress=False)["steps"] == 5
    return tmp


@pytest.mark.slow
@torchrun_test
def test_ranks_run_the_same_steps_on_disjoint_clips(two_ranks, shards):
    a = two_ranks[0]
    tier = {r["clip_id"]: r["tier"] for r in shards[1]["rows"]}
    vae = [clip_log(a / "clips" / f"vae-rank{r}.jsonl") for r in (0, 1)]
    assert sorted(vae[0]) == sorted(vae[1]) == [1, 2, 3, 4]
    diff = [clip_log(a / "clips" / f"diffusion-rank{r}.jsonl") for r in (0, 1)]
    assert sorted(diff[0]) == sorted(diff[1]) == [1, 2, 3, 4, 5]
    for phase, want in ((1, {c for c, t in tier.items() if t == 1}), (2, {c for c, t in tier.items() if t == 2})):
        seen = [[c for rec in d.values() if rec["phase"] == phase for c in rec["clips"]] for d in diff]
        assert len(seen[0]) == len(seen[1]) == len(want) // 2  # global batch 2 = one clip per rank per step
        assert all(len(x) == len(set(x)) for x in seen), seen  # within an epoch no clip comes twice
        assert not set(seen[0]) & set(seen[1]), (phase, seen)  # disjoint across ranks
        assert set(seen[0]) | set(seen[1]) == want  # together: the whole tier


@pytest.mark.slow
@torchrun_test
def test_checkpoints_and_metrics_match_single_process_layout(two_ranks, one_process):
    a = two_ranks[0]
    for model in ("vae", "diffusion"):
        ddp_files, ddp_man = load_checkpoint(a / "models" / model)  # sha256-verified safetensors
        one_files, one_man = load_checkpoint(one_process / "models" / model)
        assert ddp_man["step"] == one_man["step"] and ddp_man["meta"]["completed"]
        assert set(ddp_files) == set(one_files)
        for name in set(one_files) - {"trainer"}:
            assert {k: tuple(v.shape) for k, v in ddp_files[name].items()} == {k: tuple(v.shape) for k, v in one_files[name].items()}, (model, name)
        assert set(one_files["trainer"]) == {"generator"}
        assert set(ddp_files["trainer"]) == {"generator", "generator.rank1"}
        assert not torch.equal(ddp_files["trainer"]["generator"], ddp_files["trainer"]["generator.rank1"])  # seed + rank
        meta, one_meta = ddp_man["meta"], one_man["meta"]
        assert set(meta) - set(one_meta) == {"world_size", "loader_states"} and set(one_meta) <= set(meta)
        assert meta["world_size"] == 2 and len(meta["loader_states"]) == 2
        ddp_metrics = json.loads((a / "metrics" / f"train_{model}" / "metrics.json").read_text())
        one_metrics = json.loads((one_process / "metrics" / f"train_{model}" / "metrics.json").read_text())
        assert keys_tree(ddp_metrics) == keys_tree(one_metrics)
        plots = sorted(p.relative_to(a).as_posix() for p in (a / "metrics" / f"train_{model}").rglob("*.tsv"))
        assert plots == sorted(p.relative_to(one_process).as_posix() for p in (one_process / "metrics" / f"train_{model}").rglob("*.tsv"))
    vae_meta = load_checkpoint(a / "models" / "vae", ["model"])[1]["meta"]
    assert vae_meta["eval"] == {"clips": 0, "reason": "no held-out clip in the eval source"} and vae_meta["scale_factor"] > 0


@pytest.mark.slow
@torchrun_test
def test_killed_two_rank_run_resumes_exactly(two_ranks):
    a, b = two_ranks
    man = json.loads((b / "models" / "diffusion" / "manifest.json").read_text())
    assert man["step"] == 2 and not man["meta"]["completed"]  # the run stopped at step 3; last checkpoint: step 2
    out = torchrun("-m", "pipelines.train_diffusion", "--params", str(b / "params.yaml"), "--clip-log", str(b / "clips"))
    assert "resumed" in out.stderr and out.stdout.count("train_diffusion: 5 steps") == 1
    for r in (0, 1):  # each rank continued its own stream: same clips per step as the uninterrupted run
        assert clip_log(b / "clips" / f"diffusion-rank{r}.jsonl") == clip_log(a / "clips" / f"diffusion-rank{r}.jsonl")
    got = load_checkpoint(b / "models" / "diffusion")[0]
    want = load_checkpoint(a / "models" / "diffusion")[0]
    for name in ("model", "ema", "optimizer", "trainer"):
        assert set(got[name]) == set(want[name])
        for k in want[name]:
            assert torch.equal(got[name][k], want[name][k]), (name, k)


@pytest.mark.slow
@torchrun_test
def test_one_process_resumes_a_two_rank_run(two_ranks, caplog):
    from aiprod_model.stages import run_train_diffusion
    from curation.config import load_params

    c = two_ranks[0].parent / "c"  # the 2-rank run stopped at step 3 (checkpoint: step 2, mid phase 1)
    s = run_train_diffusion(load_params(c / "params.yaml"), progress=False)
    assert s["completed"] and s["steps"] == 5 and not s["skipped_phases"]
    assert "written by 2 process(es), this run has 1" in caplog.text
    man = load_checkpoint(c / "models" / "diffusion")[1]
    assert "world_size" not in man["meta"] and man["meta"]["completed"]
