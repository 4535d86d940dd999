"""A small, real report corpus: ffmpeg-made clips, a broken clip, a hostile file name, tier/reject tables."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import make_video

TIERS_SCHEMA = pa.schema(
    [
        ("clip_id", pa.string()),
        ("tier", pa.int32()),
        ("excluded_reason", pa.string()),
        ("clip_path", pa.string()),
        ("duration_s", pa.float64()),
        ("caption", pa.string()),
        ("language", pa.string()),
        ("tags", pa.list_(pa.string())),
        ("difficulty", pa.float64()),
        ("quality", pa.float64()),
        ("flow_mean", pa.float64()),
        ("flow_p95", pa.float64()),
        ("moving_fraction", pa.float64()),
        ("semantic_change", pa.float64()),
        ("caption_similarity", pa.float64()),
        ("spatial_complexity", pa.float64()),
        ("clip_weights", pa.string()),
        ("captioner_weights", pa.string()),
        ("is_duplicate", pa.bool_()),
        ("source_path", pa.string()),
    ]
)

REJECTS_SCHEMA = pa.schema(
    [("source_path", pa.string()), ("source_sha256", pa.string()), ("stage", pa.string()), ("reason", pa.string()), ("detail", pa.string())]
)

HOSTILE = '<img src=x onerror="alert(1)">.mp4'
HOSTILE_CAPTION = "<script>alert('caption')</script> a red car & a <b>tree</b>"

# name, lavfi source, tier, difficulty, seconds, language, tags
CLIPS = [
    ("calm_gradient", "gradients", 1, 0.05, 1.0, "en", ["sky", "static"]),
    ("bars", "smptebars", 1, 0.12, 1.5, "en", ["static", "pattern"]),
    ("rgb", "rgbtestsrc", 2, 0.31, 1.0, "fr", ["pattern"]),
    ("testsrc", "testsrc2", 2, 0.38, 2.0, "en", ["pattern", "motion"]),
    ("cells", "cellauto", 3, 0.55, 1.0, "es", ["motion"]),
    ("life", "life", 4, 0.81, 1.25, "en", ["motion", "chaos"]),
    ("mandel", "mandelbrot", 5, 0.47, 1.0, "en", ["fractal"]),
]


def _row(**kw):
    base = {f.name: None for f in TIERS_SCHEMA}
    base.update(
        excluded_reason=None, tags=[], quality=0.5, flow_p95=0.2, moving_fraction=0.3, spatial_complexity=0.4,
        clip_weights="pretrained:openai", captioner_weights=None, is_duplicate=False,
    )
    base.update(kw)
    return base


@pytest.fixture(scope="session")
def report_media(tmp_path_factory):
    """Clip files shared by every report test (made once per session)."""
    root = tmp_path_factory.mktemp("report_media")
    clips = root / "clips"
    for name, src, *_ in CLIPS:
        make_video(clips / f"{name}.mp4", source=src, seconds=2.0, size="160x120", fps=16)
    make_video(clips / HOSTILE, source="testsrc", seconds=1.0, size="160x120", fps=16)
    (clips / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 200)
    make_video(root / "outside.mp4", source="testsrc", seconds=1.0, size="160x120", fps=16)
    return root


def write_tables(root: Path, clip_weights: str = "pretrained:openai", captioner_weights: str | None = None, order: int = 1) -> dict:
    """Write tiers.parquet / rejects.parquet under `root` pointing at `report_media` clips; returns expectations."""
    rows = []
    for i, (name, _src, tier, diff, secs, lang, tags) in enumerate(CLIPS):
        rows.append(
            _row(
                clip_id=f"c{i:02d}_{name}", tier=tier, clip_path=f"clips/{name}.mp4", duration_s=secs,
                caption=f"clip {name}" if i % 2 == 0 else None, language=lang, tags=tags, difficulty=diff,
                flow_mean=0.1 * tier + 0.01 * i, semantic_change=0.05 * i, caption_similarity=0.2 + 0.01 * i if i % 2 == 0 else None,
                clip_weights=clip_weights, captioner_weights=captioner_weights, source_path=f"{name}.mp4",
            )
        )
    # tier 3: a clip with a hostile name and caption; tier 4: a corrupt file; tier 5: a path escaping the clips dir
    rows.append(_row(clip_id="c10_hostile", tier=3, clip_path=f"clips/{HOSTILE}", duration_s=1.0, caption=HOSTILE_CAPTION, language="en",
                     tags=["<b>tag</b>"], difficulty=0.6, flow_mean=0.3, semantic_change=0.4, clip_weights=clip_weights,
                     captioner_weights=captioner_weights, source_path=HOSTILE))
    rows.append(_row(clip_id="c11_broken", tier=4, clip_path="clips/broken.mp4", duration_s=2.0, caption=None, language="und",
                     tags=["motion"], difficulty=0.9, flow_mean=0.5, semantic_change=0.5, clip_weights=clip_weights,
                     captioner_weights=captioner_weights, source_path="broken.mp4"))
    rows.append(_row(clip_id="c12_escape", tier=5, clip_path="clips/../outside.mp4", duration_s=1.0, caption=None, language="en",
                     tags=[], difficulty=0.5, flow_mean=0.4, semantic_change=0.2, clip_weights=clip_weights,
                     captioner_weights=captioner_weights, source_path="outside.mp4"))
    # excluded: a duplicate and an unscored clip
    rows.append(_row(clip_id="c20_dup", tier=0, excluded_reason="duplicate", clip_path="clips/bars.mp4", duration_s=1.5, language="en",
                     difficulty=0.12, flow_mean=0.1, semantic_change=0.0, is_duplicate=True, clip_weights=clip_weights,
                     captioner_weights=captioner_weights, source_path="bars_copy.mp4"))
    rows.append(_row(clip_id="c21_noscore", tier=0, excluded_reason="score_failed", clip_path="clips/rgb.mp4", duration_s=3.0, language="en",
                     difficulty=None, flow_mean=None, semantic_change=None, clip_weights=clip_weights,
                     captioner_weights=captioner_weights, source_path="rgb_bad.mp4"))
    rows = rows[::order]
    pq.write_table(pa.Table.from_pylist(rows, schema=TIERS_SCHEMA), root / "tiers.parquet")
    rejects = [
        {"source_path": "empty.mp4", "source_sha256": None, "stage": "ingest", "reason": "zero_length", "detail": "file is 0 bytes"},
        {"source_path": "audio_only.m4a", "source_sha256": "ab" * 32, "stage": "ingest", "reason": "no_video_stream", "detail": "only audio"},
        {"source_path": "<script>x</script>.avi", "source_sha256": None, "stage": "ingest", "reason": "unreadable", "detail": "moov atom not found"},
        {"source_path": "zz_empty2.mp4", "source_sha256": None, "stage": "ingest", "reason": "zero_length", "detail": "file is 0 bytes"},
    ][::order]
    pq.write_table(pa.Table.from_pylist(rejects, schema=REJECTS_SCHEMA), root / "rejects.parquet")
    tiers = {t: [r for r in rows if r["tier"] == t] for t in range(6)}
    return {
        "clips": {t: len(v) for t, v in tiers.items()},
        "seconds": {t: sum(r["duration_s"] for r in v) for t, v in tiers.items()},
        "rows": rows,
        "rejects": len(rejects),
    }


@pytest.fixture
def report_dir(report_media, tmp_path):
    """A project-like folder: clips/ (symlink-free copy of the shared media), tiers.parquet, rejects.parquet."""
    import shutil

    shutil.copytree(report_media / "clips", tmp_path / "clips")
    shutil.copy(report_media / "outside.mp4", tmp_path / "outside.mp4")
    return tmp_path
