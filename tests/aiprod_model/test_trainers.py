import json

import pytest
import torch

from aiprod_model.diffusion_trainer import DiffusionTrainer, phase_plan
from aiprod_model.synthetic import SyntheticVideos
from aiprod_model.vae_trainer import VAETrainer, load_vae
from tests.aiprod_model.conftest import TEXT_DIM, tiny_params


def source(frames=4, size=16):
    calls = []

    def make(phase_index, batch_size, state):
        calls.append((phase_index, batch_size, state))
        return SyntheticVideos(batch_size, frames, size, text_dim=TEXT_DIM, seed=0 if phase_index is None else 10 + phase_index, state=state)

    make.calls = calls
    return make


def test_phase_plan_scales_seed_table():
    p = tiny_params(curriculum={"phases": [
        {"tiers": {1: 1.0}, "lr": 1e-4, "batch_size": 16, "steps": 5},
        {"tiers": {2: 1.0}, "lr": 5e-5, "batch_size": 12, "steps": 5},
        {"tiers": {4: 1.0}, "lr": 1e-6, "batch_size": 4, "steps": 5},
    ]}, train={"lr_scale": 2.0, "batch_scale": 0.25})
    plan = phase_plan(p)
    assert [(ph.lr, ph.batch_size) for ph in plan] == [(2e-4, 4), (1e-4, 3), (2e-6, 1)]


@pytest.fixture(scope="module")
def trained_vae(tmp_path_factory):
    root = tmp_path_factory.mktemp("vae")
    p = tiny_params()
    tr = VAETrainer(p, root / "vae", root / "metrics", progress=False)
    assert not tr.try_resume()
    summary = tr.train(source(), eval_source=SyntheticVideos(2, 4, 16, text_dim=TEXT_DIM, seed=5, limit=30))
    return root, summary


def test_vae_trainer_writes_checkpoint_and_metrics(trained_vae):
    root, s = trained_vae
    assert s["steps"] == 4 and s["completed"]
    assert s["eval"]["clips"] >= 1 and 0 < s["eval"]["ssim"] <= 1 and s["eval"]["psnr"] > 0
    assert s["scale_factor"] > 0
    metrics = json.loads((root / "metrics" / "metrics.json").read_text())
    assert metrics["step"] == 4 and "loss_first_window_mean" in metrics and metrics["eval"]["clips"] == s["eval"]["clips"]
    assert (root / "metrics" / "plots" / "metrics" / "recon.tsv").is_file()
    assert not (root / "metrics" / "dvc.yaml").exists()
    vae, man = load_vae(root / "vae")
    assert man["meta"]["completed"] and man["meta"]["scale_factor"] == s["scale_factor"]


def _trainer(root, vae, man, **over):
    return DiffusionTrainer(tiny_params(**over), vae, man, root / "diff", root / "dmetrics", progress=False)


def test_diffusion_resume_matches_uninterrupted_run(trained_vae, tmp_path):
    vae, man = load_vae(trained_vae[0] / "vae")
    a = _trainer(tmp_path / "a", vae, man)
    a.try_resume()
    sa = a.train(source())
    assert sa["steps"] == 6 and sa["completed"] and not sa["skipped_phases"]
    # interrupted after step 4 (a checkpoint step, mid phase 2), then resumed by a fresh trainer
    b = _trainer(tmp_path / "b", vae, man)
    b.try_resume()
    b.train(source(), max_steps=5)
    c = _trainer(tmp_path / "b", vae, man)
    assert c.try_resume()
    assert (c.step, c.phase, c.phase_step) == (4, 1, 1)
    assert c.loader_state == {"index": 1}
    src = source()
    sc = c.train(src)
    assert src.calls[0] == (1, 2, {"index": 1})  # phase 2 continues from the saved loader position
    assert sc["steps"] == 6
    for (k, v), (k2, v2) in zip(a.model.state_dict().items(), c.model.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), k
    for k, v in a.ema.state_dict().items():
        assert torch.equal(v, c.ema.state_dict()[k]), k
    sa_opt, sc_opt = a.opt.state_dict(), c.opt.state_dict()
    for pid, st in sa_opt["state"].items():
        for key, val in st.items():
            assert torch.equal(val, sc_opt["state"][pid][key])
    # metrics history was truncated to the checkpoint and continued, not doubled
    rows = (tmp_path / "b" / "dmetrics" / "plots" / "metrics" / "loss.tsv").read_text().strip().splitlines()
    assert [r.split("\t")[0] for r in rows[1:]] == ["1", "2", "3", "4", "5", "6"]


def test_other_params_start_afresh(trained_vae, tmp_path):
    vae, man = load_vae(trained_vae[0] / "vae")
    a = _trainer(tmp_path, vae, man)
    a.try_resume()
    a.train(source(), max_steps=3)
    assert (tmp_path / "diff" / "manifest.json").exists()
    b = _trainer(tmp_path, vae, man, train={"seed": 1})
    assert not b.try_resume() and b.step == 0
    assert not (tmp_path / "diff" / "manifest.json").exists()


def test_phase_without_data_is_skipped_with_reason(trained_vae, tmp_path):
    from aiprod_model.stages import EmptySource

    vae, man = load_vae(trained_vae[0] / "vae")
    inner = source()

    def make(phase_index, batch_size, state):
        return EmptySource("phase 1: no samples in tiers [1]") if phase_index == 0 else inner(phase_index, batch_size, state)

    t = _trainer(tmp_path, vae, man)
    t.try_resume()
    s = t.train(make)
    assert s["steps"] == 3 and "no samples" in s["skipped_phases"]["1"]


def test_vae_resume_matches(tmp_path):
    p = tiny_params()
    a = VAETrainer(p, tmp_path / "a", None, progress=False)
    a.try_resume()
    a.train(source())
    b = VAETrainer(p, tmp_path / "b", None, progress=False)
    b.try_resume()
    b.train(source(), max_steps=3)  # checkpoint at step 2
    c = VAETrainer(p, tmp_path / "b", None, progress=False)
    assert c.try_resume() and c.step == 2
    c.train(source())
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, c.model.state_dict()[k]), k


def test_trainers_refuse_a_batch_with_a_heldout_clip(trained_vae, tmp_path):
    """The last guard: a batch source that leaks a held-out clip stops training before the step."""
    from aiprod_model.batches import HeldOutLeak

    leaked = "syn-000001-1"  # a clip of source()'s second batch
    vae_tr = VAETrainer(tiny_params(), tmp_path / "vae", None, progress=False, heldout=frozenset({leaked}))
    vae_tr.try_resume()
    with pytest.raises(HeldOutLeak, match=leaked):
        vae_tr.train(source())
    assert vae_tr.step == 1  # the first batch trained, the second was refused
    vae, man = load_vae(trained_vae[0] / "vae")
    d = DiffusionTrainer(tiny_params(), vae, man, tmp_path / "diff", None, progress=False, heldout=frozenset({"syn-000000-0"}))
    d.try_resume()
    with pytest.raises(HeldOutLeak, match="syn-000000-0"):
        d.train(source())
    assert d.step == 0
    # the split is part of the run: another split never resumes a checkpoint
    a = DiffusionTrainer(tiny_params(), vae, man, tmp_path / "d2", None, progress=False, heldout_digest="a")
    b = DiffusionTrainer(tiny_params(), vae, man, tmp_path / "d2", None, progress=False, heldout_digest="b")
    assert a.run_hash != b.run_hash
