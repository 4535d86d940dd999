import math

import torch

from aiprod_model.metrics import gaussian_window, psnr, ssim


def test_identical_videos():
    x = torch.rand(2, 3, 3, 24, 24) * 2 - 1
    assert abs(float(ssim(x, x)) - 1.0) < 1e-5
    assert float(psnr(x, x)) > 90


def test_constant_images_known_value():
    # uniform images: variances are 0, so SSIM = (2 mx my + C1) / (mx^2 + my^2 + C1) (values in [0, 1])
    a = torch.full((1, 3, 16, 16), -0.6)  # -> 0.2
    b = torch.full((1, 3, 16, 16), -0.2)  # -> 0.4
    c1 = 0.01**2
    want = (2 * 0.2 * 0.4 + c1) / (0.2**2 + 0.4**2 + c1)
    assert abs(float(ssim(a, b)) - want) < 1e-5
    assert abs(float(psnr(a, b)) - 10 * math.log10(1 / 0.04)) < 1e-3


def test_ssim_and_psnr_fall_with_noise():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 2, 3, 32, 32, generator=g) * 2 - 1
    x = torch.nn.functional.avg_pool3d(x, (1, 3, 3), stride=1, padding=(0, 1, 1))  # some structure
    n1 = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    n2 = (x + 0.3 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    assert 1.0 > float(ssim(x, n1)) > float(ssim(x, n2))
    assert float(psnr(x, n1)) > float(psnr(x, n2))


def test_gaussian_window_normalised():
    w = gaussian_window(11, 1.5)
    assert w.shape == (11, 11) and abs(float(w.sum()) - 1) < 1e-6
    assert float(w[5, 5]) == float(w.max())
