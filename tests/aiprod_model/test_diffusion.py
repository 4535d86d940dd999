import math

import pytest
import torch
from torch import nn

from aiprod_model.backbone import HybridBackbone
from aiprod_model.diffusion import alpha_sigma, q_sample, resample_curve, sample
from aiprod_model.presets import resolve
from tests.aiprod_model.conftest import TEXT_DIM


class Oracle(nn.Module):
    """Predicts the exact v for a known x0: v = (alpha z - x0) / sigma."""

    def __init__(self, x0: torch.Tensor):
        super().__init__()
        self.x0 = x0
        self.null_text = nn.Parameter(torch.zeros(TEXT_DIM))

    def forward(self, z, t, text_emb, flow=None, flow_strength=0.0):
        a, s = alpha_sigma(t)
        a, s = a.view(-1, 1, 1, 1, 1), s.view(-1, 1, 1, 1, 1)
        return (a * z - self.x0.repeat(z.shape[0] // self.x0.shape[0], 1, 1, 1, 1)) / s


def test_schedule_and_v_identities():
    t = torch.linspace(0, 1, 11)
    a, s = alpha_sigma(t)
    assert torch.allclose(a**2 + s**2, torch.ones_like(a))
    assert bool((a[1:] <= a[:-1]).all())  # signal decays with t
    x0, eps = torch.randn(11, 2, 1, 2, 2), torch.randn(11, 2, 1, 2, 2)
    z, v = q_sample(x0, t, eps)
    A, S = a.view(-1, 1, 1, 1, 1), s.view(-1, 1, 1, 1, 1)
    assert torch.allclose(A * z - S * v, x0, atol=1e-5)
    assert torch.allclose(S * z + A * v, eps, atol=1e-5)


@pytest.mark.parametrize("sampler,tol", [("ddim", 1e-3), ("euler", 0.05)])
def test_samplers_reach_the_data_with_an_oracle(sampler, tol):
    x0 = torch.randn(1, 2, 2, 2, 2)
    out = sample(Oracle(x0), (1, 2, 2, 2, 2), torch.zeros(1, TEXT_DIM), steps=50, guidance_scale=3.0, sampler=sampler, seed=0)
    assert float((out - x0).abs().max()) < tol


def test_cfg_sampling_shape_and_determinism(params):
    torch.manual_seed(0)
    r = resolve(params.model)
    m = HybridBackbone(r.backbone, r.vae.latent_channels).eval()
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.02)
    text = torch.randn(2, TEXT_DIM)
    shape = (2, r.vae.latent_channels, 2, 4, 4)
    a = sample(m, shape, text, steps=4, guidance_scale=5.0, seed=7)
    b = sample(m, shape, text, steps=4, guidance_scale=5.0, seed=7)
    c = sample(m, shape, text, steps=4, guidance_scale=5.0, seed=8)
    e = sample(m, shape, text, steps=4, guidance_scale=5.0, sampler="euler", seed=7)
    assert a.shape == shape and torch.isfinite(a).all()
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert e.shape == shape
    with pytest.raises(ValueError):
        sample(m, shape, text, steps=2, guidance_scale=1.0, sampler="bogus")


def test_resample_curve():
    c = torch.tensor([[0.0, 1.0, 2.0]])
    out = resample_curve(c, 5)
    assert torch.allclose(out, torch.tensor([[0.0, 0.5, 1.0, 1.5, 2.0]]))
    assert resample_curve(torch.tensor([[3.0]]), 4).tolist() == [[3.0] * 4]
    assert math.isclose(float(resample_curve(torch.ones(2, 16), 16).mean()), 1.0)
