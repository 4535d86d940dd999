"""Device and precision settings (`device: cpu | cuda | cuda:N`, `precision: auto | fp32 | bf16`),
resolved and checked in the driver before any work; shared by CLIP, the captioner and the text encoder."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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


def cpu_bf16_flags(cpuinfo: str | None = None) -> set[str]:
    """The bf16 compute flags of this CPU (`amx_bf16`, `avx512_bf16`) found in /proc/cpuinfo (or `cpuinfo`)."""
    if cpuinfo is None:
        cpuinfo = _read_cpuinfo()
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags") and ":" in line:
            flags |= set(line.split(":", 1)[1].split())
    return flags & {"amx_bf16", "avx512_bf16"}


@lru_cache(maxsize=1)
def _read_cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux: no bf16 claim
        return ""


def resolve_precision(precision: str, device: str, cpuinfo: str | None = None) -> str:
    """"fp32" or "bf16": `auto` is bf16 on a CUDA device that supports it or a CPU with AMX / AVX512-BF16."""
    if precision in ("fp32", "bf16"):
        return precision
    if precision != "auto":
        raise ValueError(f"precision must be auto | fp32 | bf16, got {precision!r}")
    if is_cuda(device):
        import torch

        return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_bf16_flags(cpuinfo) else "fp32"
