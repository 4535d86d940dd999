"""Fixtures for the shard tests: real H.264 clips made with ffmpeg, a tiers table and text embeddings."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.config import parse_params
from tests.conftest import make_video

SOURCES = ["testsrc2", "mandelbrot", "smptebars", "rgbtestsrc", "life", "testsrc"]
TEXT_DIM = 16


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_dataset(root: Path, per_tier: dict[int, int], fps: int = 8, seconds: float = 1.5, short_every: int = 0) -> dict:
    """Encode real clips and write tiers.parquet + text_embeddings.npy under `root`.

    Difficulty rises with the tier and within it; every third clip has no caption/embedding;
    with short_every=k every k-th clip is only 0.5 s long."""
    clips_dir = root / "clips"
    rows = []
    n = 0
    for tier, count in sorted(per_tier.items()):
        for j in range(count):
            cid = f"c{tier}x{j:03d}" + hashlib.sha1(f"{tier}-{j}".encode()).hexdigest()[:8]
            secs = 0.5 if short_every and (n % short_every == short_every - 1) else seconds
            path = make_video(clips_dir / f"{cid}.mp4", source=SOURCES[n % len(SOURCES)], seconds=secs, size="64x48", fps=fps)
            frames = int(round(secs * fps))
            base = max(tier - 1, 0) * 0.2
            has_text = n % 3 != 2
            rows.append(
                {
                    "clip_id": cid,
                    "tier": tier,
                    "clip_path": str(path),
                    "caption": f"clip {j} of tier {tier}" if has_text else None,
                    "language": "en" if has_text else "und",
                    "tags": ["test", f"t{tier}"],
                    "embedding_row": n if has_text else -1,
                    "difficulty": float(np.float32(base + 0.19 * (j + 1) / (count + 1))),
                    "quality": 0.5,
                    "flow_curve": [float(0.01 * k) for k in range(frames - 1)],
                    "duration_s": secs,
                    "fps": float(fps),
                    "num_frames": frames,
                    "width": 64,
                    "height": 48,
                    "source_path": f"src/{cid}.mp4",
                    "source_sha256": "0" * 64,
                    "start_s": 0.0,
                    "end_s": secs,
                    "start_frame": 0,
                    "end_frame": frames,
                    "clip_sha256": sha256(path),
                    "clip_weights": "random-init",
                    "params_hash": "abc123",
                    "thumb_signature": [float(n)] * 768,
                }
            )
            n += 1
    schema = pa.schema(
        [
            ("clip_id", pa.string()), ("tier", pa.int32()), ("clip_path", pa.string()), ("caption", pa.string()),
            ("language", pa.string()), ("tags", pa.list_(pa.string())), ("embedding_row", pa.int32()),
            ("difficulty", pa.float64()), ("quality", pa.float64()), ("flow_curve", pa.list_(pa.float32())),
            ("duration_s", pa.float64()), ("fps", pa.float64()), ("num_frames", pa.int32()), ("width", pa.int32()),
            ("height", pa.int32()), ("source_path", pa.string()), ("source_sha256", pa.string()), ("start_s", pa.float64()),
            ("end_s", pa.float64()), ("start_frame", pa.int64()), ("end_frame", pa.int64()), ("clip_sha256", pa.string()),
            ("clip_weights", pa.string()), ("params_hash", pa.string()), ("thumb_signature", pa.list_(pa.float32())),
        ]
    )
    table = pa.Table.from_pylist(rows, schema=schema)
    tiers = root / "tiers.parquet"
    pq.write_table(table, tiers)
    emb = np.random.default_rng(0).standard_normal((n, TEXT_DIM)).astype(np.float32)
    emb_path = root / "text_embeddings.npy"
    np.save(emb_path, emb)
    return {"root": root, "clips_dir": clips_dir, "tiers": tiers, "embeddings": emb_path, "rows": rows, "emb": emb}


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> dict:
    """16 clips: tier 0 (1, excluded), tier 1 (4), tier 2 (4), tier 3 (3), tier 4 (2), tier 5 (2)."""
    return build_dataset(tmp_path_factory.mktemp("shardsrc"), {0: 1, 1: 4, 2: 4, 3: 3, 4: 2, 5: 2}, short_every=7)


def shard_params(**over):
    base = {"max_bytes": 10 * 1024 * 1024, "max_samples": 2, "include_flow_curve": True}
    base.update(over)
    return parse_params({"shard": base}).shard


def write(dataset: dict, out: Path, **over) -> dict:
    from shards.stage import write_shard_set

    return write_shard_set(
        dataset["tiers"], out, shard_params(**over), clips_root=dataset["clips_dir"], text_embeddings=dataset["embeddings"],
        metrics_path=out.parent / f"{out.name}-metrics.json", progress=False,
    )


@pytest.fixture(scope="session")
def shard_set(dataset, tmp_path_factory) -> Path:
    """A written shard set (max 2 samples per shard); treat as read-only."""
    out = tmp_path_factory.mktemp("shardset") / "shards"
    write(dataset, out)
    return out
