import pytest
import torch

from aiprod_model.backbone import HybridBackbone, block_layout
from aiprod_model.diffusion import diffusion_loss, guided_v
from aiprod_model.presets import resolve
from tests.aiprod_model.conftest import TEXT_DIM, tiny_params


def make(params):
    r = resolve(params.model)
    return HybridBackbone(r.backbone, r.vae.latent_channels), r


def test_shapes_and_zero_init(params):
    torch.manual_seed(0)
    m, r = make(params)
    z = torch.randn(3, r.vae.latent_channels, 2, 4, 6)
    with torch.no_grad():
        v = m(z, torch.rand(3), torch.randn(3, TEXT_DIM))
    assert v.shape == z.shape
    assert float(v.abs().max()) == 0.0  # AdaLN-Zero / zero final layer: the untrained model predicts 0


def test_layouts():
    p = tiny_params(model={"backbone": {"attn_blocks": 5, "conv_blocks": 3, "layout": "interleaved"}})
    lay = block_layout(resolve(p.model).backbone)
    assert lay.count("attn") == 5 and lay.count("conv") == 3 and lay[0] == "attn" and lay[-1] == "conv"
    assert lay != sorted(lay)  # conv blocks spread between attention blocks
    p = tiny_params(model={"backbone": {"attn_blocks": 3, "conv_blocks": 2}})
    assert block_layout(resolve(p.model).backbone) == ["attn"] * 3 + ["conv"] * 2


def test_patch_mismatch_is_error(params):
    m, r = make(params)
    with pytest.raises(ValueError, match="patch_size"):
        m(torch.randn(1, r.vae.latent_channels, 2, 3, 4), torch.rand(1), torch.randn(1, TEXT_DIM))


def test_training_steps_lower_loss_and_use_text(params):
    torch.manual_seed(0)
    m, r = make(params)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(4, r.vae.latent_channels, 2, 4, 4, generator=g)
    text = torch.randn(4, TEXT_DIM, generator=g)
    has = torch.ones(4, dtype=torch.bool)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)

    def eval_loss():
        with torch.no_grad():
            return float(diffusion_loss(m, x0, text, has, torch.Generator().manual_seed(123), cfg_drop=0.0))

    before = eval_loss()
    for _ in range(10):  # the fixed batch: same latents, t, noise (and no caption drop) every step
        loss = diffusion_loss(m, x0, text, has, torch.Generator().manual_seed(123), cfg_drop=0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert eval_loss() < 0.7 * before
    # after training the prediction depends on the caption: guidance changes the output
    z, t = torch.randn(4, r.vae.latent_channels, 2, 4, 4, generator=g), torch.full((4,), 0.5)
    with torch.no_grad():
        assert not torch.allclose(guided_v(m, z, t, text, 1.0), guided_v(m, z, t, text, 4.0))


def test_flow_conditioning_changes_output_when_enabled(params):
    torch.manual_seed(0)
    m, r = make(params)
    for p in m.parameters():  # leave the zero init so conditioning paths are live
        torch.nn.init.normal_(p, std=0.05)
    z, t, text = torch.randn(1, r.vae.latent_channels, 2, 4, 4), torch.rand(1), torch.randn(1, TEXT_DIM)
    flow = torch.rand(1, m.flow_bins)
    with torch.no_grad():
        base = m(z, t, text)
        assert torch.equal(base, m(z, t, text, flow=flow, flow_strength=0.0))
        assert not torch.allclose(base, m(z, t, text, flow=flow, flow_strength=1.0))
