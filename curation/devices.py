"""Device settings (`device: cpu | cuda | cuda:N`) checked before any work."""

from __future__ import annotations

from curation.stage import StageConfigError


def is_cuda(device: str) -> bool:
    return str(device).startswith("cuda")


def check_cuda(device: str, what: str) -> None:
    """`device: cuda` without CUDA stops the run before any work, saying what to change."""
    if not is_cuda(device):
        return
    try:
        import torch

        ok = torch.cuda.is_available()
    except Exception:  # noqa: BLE001 - a broken torch install is "no CUDA" here
        ok = False
    if not ok:
        raise StageConfigError(f"{what}: device {device!r} but CUDA is not available on this machine; set it to cpu (or run on a machine with a GPU)")
