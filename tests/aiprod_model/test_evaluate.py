"""Held-out evaluation: fixed noise per (clip, window, t), independent of batching and order; per-tier arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aiprod_model.checkpoint import CheckpointError
from aiprod_model.diffusion import q_sample
from aiprod_model.diffusion_trainer import build_backbone
from aiprod_model.evaluate import (
    Evaluator,
    HeldOutWindow,
    first_per_clip,
    noise_seed,
    summarize,
)
from aiprod_model.params import EvalParams
from aiprod_model.presets import resolve
from aiprod_model.synthetic import synthetic_video
from aiprod_model.vae_trainer import build_vae
from shards.curriculum import HeldOut
from tests.aiprod_model.conftest import TEXT_DIM, tiny_params


def items(tiers=(1, 2), clips=2, windows=2) -> list[HeldOutWindow]:
    out = []
    g = torch.Generator().manual_seed(3)
    for t in tiers:
        for c in range(clips):
            emb = torch.randn(TEXT_DIM, generator=g)
            for w in range(windows):
                out.append(HeldOutWindow(f"t{t}c{c}", t, w, synthetic_video(t + c, 4, 16, phase=w), emb, c % 2 == 0, None))
    return out


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    p = tiny_params()
    r = resolve(p.model)
    vae = build_vae(r.vae).eval()
    model = build_backbone(r, p.model.diffusion.flow_bins).eval()
    with torch.no_grad():  # the zero-initialised output layers would make every prediction 0
        for prm in model.parameters():
            prm.add_(0.02 * torch.randn_like(prm))
    vae_man = {"files": {"model": {"sha256": "vae-sha"}}, "meta": {"scale_factor": 0.8}}
    man = {"meta": {"vae": {"sha256": "vae-sha"}, "diffusion": p.model.diffusion.model_dump(mode="json"), "model": r.to_json()}}
    return vae, vae_man, model, man


def ev(models, its, **over) -> Evaluator:
    vae, vae_man, _, _ = models
    return Evaluator(vae, vae_man, its, EvalParams(**({"timesteps": [0.2, 0.6], "batch_size": 3} | over)))


def test_losses_are_fixed_and_independent_of_batching_and_order(models):
    _, _, model, man = models
    its = items()
    a = ev(models, its).diffusion_losses(model, man)
    assert a.shape == (8, 2) and np.all(a > 0)
    assert np.array_equal(a, ev(models, its).diffusion_losses(model, man))  # same inputs, same numbers
    np.testing.assert_allclose(ev(models, its, batch_size=1).diffusion_losses(model, man), a, rtol=1e-5)
    rev = ev(models, its[::-1]).diffusion_losses(model, man)[::-1]  # noise follows (clip, window, t), not the position
    np.testing.assert_allclose(rev, a, rtol=1e-5)
    assert not np.allclose(ev(models, its, noise_seed=1).diffusion_losses(model, man), a)
    # one value recomputed by hand: v-MSE on the latent noised with that (clip, window, t)'s own draw
    e = ev(models, its)
    x0 = e.latents(e.vae.spatial_down * 2)[5]
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(noise_seed(0, its[5].clip_id, its[5].window, 1)))
    z, v = q_sample(x0[None], torch.tensor([0.6]), noise[None])
    with torch.no_grad():
        pred = model(z, torch.tensor([0.6]), model.text_or_null(its[5].text_emb[None], torch.tensor([its[5].has_text])))
    assert a[5, 1] == pytest.approx(float(((pred - v) ** 2).mean()), rel=1e-5)


def test_other_weights_other_losses_and_vae_must_match(models):
    _, _, model, man = models
    its = items(tiers=(1,), clips=1)
    a = ev(models, its).diffusion_losses(model, man)
    other = build_backbone(resolve(tiny_params().model), 16).eval()
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        other.final.weight.add_(0.05)  # the output layer
    assert not np.allclose(ev(models, its).diffusion_losses(other, man), a)
    with pytest.raises(CheckpointError, match="another VAE"):
        ev(models, its).diffusion_losses(model, {"meta": {**man["meta"], "vae": {"sha256": "other"}}})


def test_summary_is_clip_then_tier_means():
    its = items(tiers=(1, 3), clips=2, windows=2)  # rows: t1c0 w0,w1  t1c1 w0,w1  t3c0 ...  t3c1 ...
    losses = np.arange(16, dtype=np.float64).reshape(8, 2)
    recon = [(0.1 * i, float(i)) for i in range(8)]
    held = HeldOut(0.1, 1, {t: () for t in range(1, 6)}, {1: ("t1c0", "t1c1"), 2: (), 3: ("t3c0", "t3c1"), 4: ("x",), 5: ()}, {})
    s = summarize(its, losses, recon, [0.2, 0.6], held)
    t1 = s["tiers"]["1"]
    assert t1["clips"] == 2 and t1["windows"] == 4
    assert t1["loss"] == pytest.approx(np.mean([losses[0:2].mean(), losses[2:4].mean()]))
    assert t1["loss_by_t"] == {"t0.2": pytest.approx(np.mean([0, 2, 4, 6])), "t0.6": pytest.approx(np.mean([1, 3, 5, 7]))}
    assert t1["ssim"] == pytest.approx(0.15) and s["tiers"]["3"]["psnr"] == pytest.approx(5.5)
    assert s["tiers"]["2"] == {"clips": 0, "heldout_clips": 0, "note": "no held-out clip (a tier never gives up its last training clip)"}
    assert s["tiers"]["4"]["note"] == "no decodable held-out window"
    assert s["overall"]["loss"] == pytest.approx(losses.mean()) and s["overall"]["loss_tier_mean"] == pytest.approx(np.mean([t1["loss"], s["tiers"]["3"]["loss"]]))
    assert s["overall"]["clips"] == 4 and s["overall"]["windows"] == 8


def test_first_per_clip_takes_tiers_in_turn():
    its = items(tiers=(1, 2), clips=3, windows=3)
    got = first_per_clip(its, 4)
    assert [(w.clip_id, w.window) for w in got] == [("t1c0", 1), ("t2c0", 1), ("t1c1", 1), ("t2c1", 1)]
