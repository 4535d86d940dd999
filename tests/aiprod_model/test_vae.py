import pytest
import torch

from aiprod_model.presets import resolve
from aiprod_model.vae import VideoVAE, vae_loss
from curation.config import ParamsError, parse_params
from tests.aiprod_model.conftest import tiny_params


def test_tiny_vae_shapes_and_range(params):
    vp = resolve(params.model).vae
    vae = VideoVAE(vp)
    x = torch.rand(2, 8, 3, 16, 16) * 2 - 1
    post = vae.encode(x)
    assert post.mean.shape == (2, vp.latent_channels, 8 // vp.temporal_down, 16 // vp.spatial_down, 16 // vp.spatial_down)
    assert vae.latent_shape(8, 16, 16) == tuple(post.mean.shape[1:])
    recon, post2 = vae(x, generator=torch.Generator().manual_seed(0))
    assert recon.shape == x.shape
    loss, parts = vae_loss(recon, x, post2, vp)
    assert loss.ndim == 0 and parts["recon"] > 0 and parts["kl"] >= 0


@pytest.mark.parametrize("causal", [True, False])
def test_default_8x4_downsampling(causal):
    p = parse_params({"model": {"size": "S", "vae": {"base_channels": 8, "causal": causal, "channel_mult": [1, 1, 1, 1]}}})
    vae = VideoVAE(resolve(p.model).vae)
    post = vae.encode(torch.zeros(1, 8, 3, 32, 32))
    assert post.mean.shape == (1, 4, 2, 4, 4)
    assert vae.decode(post.mean).shape == (1, 8, 3, 32, 32)


def test_bad_shapes_are_clear_errors(params):
    vae = VideoVAE(resolve(params.model).vae)
    with pytest.raises(ValueError, match="multiple"):
        vae.encode(torch.zeros(1, 3, 3, 16, 16))


def test_preset_resolution_order():
    p = tiny_params(model={"configs": {"tiny": {"vae": {"base_channels": 8}}}, "vae": {"kl_beta": 0.5}})
    r = resolve(p.model)
    assert r.vae.base_channels == 8  # configs override the code preset
    assert r.vae.kl_beta == 0.5  # explicit fields override both
    assert r.vae.spatial_down == 4  # the rest comes from the tiny preset
    with pytest.raises(ParamsError, match="downsampling levels"):
        resolve(tiny_params(model={"vae": {"spatial_down": 16}}).model)


def test_vae_steps_lower_reconstruction_loss(params):
    torch.manual_seed(0)
    vp = resolve(params.model).vae
    vae = VideoVAE(vp)
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(2, 4, 3, 16, 16, generator=g) * 2 - 1)
    opt = torch.optim.AdamW(vae.parameters(), lr=2e-3)

    def loss_now():
        with torch.no_grad():
            post = vae.encode(x)
            return float(vae_loss(vae.decode(post.mean), x, post, vp)[0])

    before = loss_now()
    for _ in range(8):
        recon, post = vae(x, generator=torch.Generator().manual_seed(2))
        loss, _ = vae_loss(recon, x, post, vp)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss_now() < 0.9 * before
