"""Writing generated frames to an H.264 (yuv420p) mp4 with ffmpeg: raw RGB frames on stdin, arg list, atomic."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import torch

from curation.io.atomic import atomic_path


def to_uint8_frames(video: torch.Tensor) -> np.ndarray:
    """(T, C, H, W) in [-1, 1] -> (T, H, W, 3) uint8 RGB."""
    if video.dim() != 4 or video.shape[1] != 3:
        raise ValueError(f"expected (T, 3, H, W), got {tuple(video.shape)}")
    x = ((video.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).contiguous().cpu().numpy()


def write_mp4(frames: np.ndarray, dest: str | Path, fps: float, display_size: int | None = None, crf: int = 18) -> Path:
    """Encode (T, H, W, 3) uint8 frames; upscales (nearest neighbour) so the short side is `display_size`."""
    if shutil.which("ffmpeg") is None:
        raise RuntimeError("ffmpeg not found on PATH (apt-get install ffmpeg)")
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    t, h, w, _ = frames.shape
    scale = max(1, (display_size or min(h, w)) // min(h, w))
    out_w, out_h = w * scale, h * scale
    out_w += out_w % 2  # yuv420p needs even sides
    out_h += out_h % 2
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        cmd = [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{fps:g}", "-i", "pipe:0",
            "-vf", f"scale={out_w}:{out_h}:flags=neighbor",
            "-c:v", "libx264", "-preset", "medium", "-crf", str(crf), "-pix_fmt", "yuv420p", "-threads", "1",
            "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact",
            "-f", "mp4", str(tmp),
        ]
        proc = subprocess.run(cmd, input=frames.tobytes(), capture_output=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"ffmpeg failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-500:]}")
    return dest
