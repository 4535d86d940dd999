"""Helpers shared by the ingest tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

from curation.config import Params, parse_params


def ingest_params(root: Path | None, raw: Path, workers: int = 1, cuts: dict | None = None, **ingest) -> Params:
    """Params writing every output under `root` (None: relative to the working directory);
    small normalized clips so tests stay fast."""
    base = {"fps": 16, "short_side": 96, "preset": "ultrafast", "min_clip_seconds": 1.0, "max_clip_seconds": 10.0}
    base.update(ingest)
    root = Path(".") if root is None else root
    return parse_params(
        {
            "paths": {
                "raw": str(raw),
                "clips_dir": (root / "clips").as_posix(),
                "clips_table": str(root / "clips.parquet"),
                "rejects_table": str(root / "rejects.parquet"),
                "metrics_dir": str(root / "metrics"),
            },
            "engine": {"name": "local", "workers": workers},
            "ingest": base,
            "cuts": cuts or {},
        }
    )


def count_frames(path: Path) -> int:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
        capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    return int(out.strip())


def concat_video(path: Path, first: str = "testsrc2", second: str = "mandelbrot", seconds: float = 3.0, fps: int = 25, size: str = "320x240") -> Path:
    """`first` for `seconds`, then a hard cut to `second` for `seconds`."""
    graph = (
        f"{first}=s={size}:r={fps},trim=duration={seconds},setpts=PTS-STARTPTS,format=yuv420p[a];"
        f"{second}=s={size}:r={fps},trim=duration={seconds},setpts=PTS-STARTPTS,format=yuv420p[b];"
        "[a][b]concat=n=2:v=1:a=0[out0]"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", graph, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    return path
