"""Caption-test fixtures: a raw folder with real source videos, real clip files cut with ffmpeg,
and a clips.parquet with the CLIPS schema, plus caption params pointed at them."""

from __future__ import annotations

from pathlib import Path

import pytest

from curation.config import parse_params
from curation.io.tables import write_rows
from curation.schemas import CLIPS
from tests.conftest import ffmpeg, make_video

FPS = 16


def cut_clip(source: Path, out: Path, start_s: float, end_s: float) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg("-ss", f"{start_s:.3f}", "-i", str(source), "-t", f"{end_s - start_s:.3f}", "-r", str(FPS), "-an",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "8", str(out))  # fmt: skip
    return out


def clip_row(clip_id: str, clip_path: Path, source_rel: str, start_s: float, end_s: float) -> dict:
    start_f, end_f = round(start_s * FPS), round(end_s * FPS)
    return {
        "clip_id": clip_id, "clip_path": str(clip_path), "clip_sha256": "0" * 64, "clip_bytes": clip_path.stat().st_size if clip_path.exists() else 0,
        "source_path": source_rel, "source_sha256": "1" * 64, "start_frame": start_f, "end_frame": end_f,
        "num_frames": end_f - start_f, "start_s": start_f / FPS, "end_s": end_f / FPS, "duration_s": (end_f - start_f) / FPS,
        "fps": float(FPS), "width": 160, "height": 120, "codec": "h264", "pix_fmt": "yuv420p", "gop": 8,
        "split_reason": "max_length", "params_hash": "test",
    }  # fmt: skip


class Corpus:
    """tmp project: raw/ with sources (+ sidecars written by tests), clips/ with real clips, clips.parquet."""

    def __init__(self, root: Path):
        self.root = root
        self.raw = root / "raw"
        self.clips_dir = root / "clips"
        self.rows: list[dict] = []
        self.raw.mkdir(parents=True, exist_ok=True)

    def source(self, rel: str, seconds: float = 4.0, source: str = "testsrc2") -> Path:
        p = self.raw / rel
        if not p.exists():
            make_video(p, source=source, seconds=seconds, size="160x120", fps=FPS)
        return p

    def sidecar(self, rel: str, content: str | bytes) -> Path:
        p = self.raw / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return p

    def clip(self, clip_id: str, source_rel: str, start_s: float, end_s: float, **src_kw) -> dict:
        src = self.source(source_rel, **src_kw)
        out = cut_clip(src, self.clips_dir / f"{clip_id}.mp4", start_s, end_s)
        row = clip_row(clip_id, out, source_rel, start_s, end_s)
        self.rows.append(row)
        return row

    def write_table(self) -> Path:
        dest = self.root / "data" / "clips.parquet"
        write_rows(self.rows, CLIPS, dest)
        return dest

    def params(self, **caption):
        data = {
            "paths": {
                "raw": str(self.raw), "clips_dir": str(self.clips_dir), "clips_table": str(self.root / "data" / "clips.parquet"),
                "captions_table": str(self.root / "data" / "captions.parquet"), "text_embeddings": str(self.root / "data" / "text_embeddings.npy"),
                "metrics_dir": str(self.root / "metrics"),
            },
            "engine": {"name": "local", "workers": 1},
            "caption": caption,
        }  # fmt: skip
        return parse_params(data)


@pytest.fixture
def corpus(tmp_path) -> Corpus:
    return Corpus(tmp_path)


TINY_CAPTIONER = {"tiny_config": True, "allow_random_init": True, "frames": 3, "max_new_tokens": 8}
