"""A small real corpus for the score and tier tests: ffmpeg-made clips shaped like ingest output
(H.264, 16 fps, keyframe every 8 frames), a clips.parquet with the real CLIPS schema, a minimal
captions.parquet, and params that use a tiny open_clip model with random init.

Built once per test session (`scored_corpus`), shared by tests/curation/score and tests/curation/tier.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curation.config import Params, parse_params
from curation.io.tables import write_rows
from curation.schemas import CLIPS
from tests.conftest import ffmpeg

FPS = 16
SIZE = "256x144"
ENC = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "8", "-pix_fmt", "yuv420p", "-r", str(FPS)]
TINY_CLIP = {"model": "ViT-S-32", "pretrained": "openai", "allow_random_init": True, "max_frames": 4, "batch_size": 4}

CAPTIONS = {
    "static": "a plain blue wall",
    "mandelbrot": "a colourful fractal zooming in",
    "pan": "a camera panning across a fractal",
}


def lavfi_clip(path: Path, source: str, seconds: float = 2.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg("-f", "lavfi", "-i", f"{source}", "-t", str(seconds), *ENC, str(path))
    return path


def pan_clip(path: Path, still: Path, speed_px_s: int, seconds: float = 2.0, width: int = 320, height: int = 240) -> Path:
    """Crop window moving right at speed_px_s over a still image (a pure camera pan)."""
    ffmpeg("-loop", "1", "-framerate", str(FPS), "-i", str(still), "-vf", f"crop={width}:{height}:x='t*{speed_px_s}':y=0", "-t", str(seconds), *ENC, str(path))
    return path


def still_image(path: Path, source: str = "mandelbrot", size: str = "640x240") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg("-f", "lavfi", "-i", f"{source}=size={size}", "-frames:v", "1", "-update", "1", str(path))
    return path


def cut_clip(path: Path) -> Path:
    """1 s of red, then a hard cut to 1 s of testsrc2."""
    ffmpeg(
        "-f", "lavfi", "-i", f"color=c=red:size={SIZE}:rate={FPS}:duration=1",
        "-f", "lavfi", "-i", f"testsrc2=size={SIZE}:rate={FPS}:duration=1",
        "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]", *ENC, str(path),
    )  # fmt: skip
    return path


def reencode(src: Path, dst: Path, crf: int = 30) -> Path:
    ffmpeg("-i", str(src), "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-g", "8", "-pix_fmt", "yuv420p", str(dst))
    return dst


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def clip_row(clip_id: str, path: Path, num_frames: int | None = None, source_path: str | None = None, start_s: float = 0.0) -> dict:
    if num_frames is None:
        import decord

        num_frames = len(decord.VideoReader(str(path)))
    w, h = (int(x) for x in SIZE.split("x"))
    return {
        "clip_id": clip_id,
        "clip_path": str(path),
        "clip_sha256": sha256(path),
        "clip_bytes": path.stat().st_size,
        "source_path": source_path or f"{clip_id}.mp4",
        "source_sha256": sha256(path),
        "start_frame": int(round(start_s * FPS)),
        "end_frame": int(round(start_s * FPS)) + num_frames,
        "num_frames": num_frames,
        "start_s": start_s,
        "end_s": start_s + num_frames / FPS,
        "duration_s": num_frames / FPS,
        "fps": float(FPS),
        "width": w,
        "height": h,
        "codec": "h264",
        "pix_fmt": "yuv420p",
        "gop": 8,
        "split_reason": "end",
        "params_hash": "test",
    }


def write_captions(path: Path, captions: dict[str, str | None]) -> Path:
    """Minimal captions table: clip_id, caption, language, tags (the columns the score stage reads)."""
    ids = sorted(captions)
    table = pa.table(
        {
            "clip_id": ids,
            "caption": [captions[i] for i in ids],
            "language": ["en" if captions[i] else "und" for i in ids],
            "tags": [[] for _ in ids],
        },
        schema=pa.schema([("clip_id", pa.string()), ("caption", pa.string()), ("language", pa.string()), ("tags", pa.list_(pa.string()))]),
    )
    pq.write_table(table, path)
    return path


def corpus_params(root: Path, **over) -> Params:
    data = {
        "paths": {
            "clips_dir": str(root / "clips"),
            "clips_table": str(root / "clips.parquet"),
            "captions_table": str(root / "captions.parquet"),
            "scores_table": str(root / "scores.parquet"),
            "tiers_table": str(root / "tiers.parquet"),
            "metrics_dir": str(root / "metrics"),
        },
        "engine": {"workers": 1},
        "score": {"clip": dict(TINY_CLIP), "threads": 1},  # one torch thread: fast on a shared 2-core machine
        "tier": {"refinement_fraction": 0.15},
    }
    for k, v in over.items():
        data[k] = {**data.get(k, {}), **v}
    return parse_params(data)


@dataclass
class Corpus:
    root: Path
    params: Params
    ids: list[str]


def build_corpus(root: Path) -> Corpus:
    clips = root / "clips"
    clips.mkdir(parents=True, exist_ok=True)
    still = still_image(root / "still.png")
    made = {
        "static": lavfi_clip(clips / "static.mp4", f"color=c=0x3366aa:size={SIZE}:rate={FPS}"),
        "mandelbrot": lavfi_clip(clips / "mandelbrot.mp4", f"mandelbrot=size={SIZE}:rate={FPS}"),
        "noise": lavfi_clip(clips / "noise.mp4", f"color=c=gray:size={SIZE}:rate={FPS},noise=alls=60:allf=t+u"),
        "pan": pan_clip(clips / "pan.mp4", still, 64),
        "cut": cut_clip(clips / "cut.mp4"),
        "testsrc": lavfi_clip(clips / "testsrc.mp4", f"testsrc2=size={SIZE}:rate={FPS}"),
    }
    made["testsrc_copy"] = reencode(made["testsrc"], clips / "testsrc_copy.mp4")
    rows = [clip_row(k, p) for k, p in made.items()]
    # the re-encode comes from a later source file, so the original is the one kept
    rows[-1]["source_path"] = "zz_copy_of_testsrc.mp4"
    broken = clips / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    rows.append(clip_row("broken", broken, num_frames=32))
    outside = lavfi_clip(root / "elsewhere" / "outside.mp4", f"testsrc=size={SIZE}:rate={FPS}")
    rows.append(clip_row("outside", outside))
    params = corpus_params(root)
    write_rows(rows, CLIPS, params.paths.clips_table)
    write_captions(Path(params.paths.captions_table), {r["clip_id"]: CAPTIONS.get(r["clip_id"]) for r in rows})
    return Corpus(root, params, [r["clip_id"] for r in rows])
