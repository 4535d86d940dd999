"""`run_caption`: clips.parquet -> captions.parquet + text_embeddings.npy + metrics/caption.json."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from curation.caption.stage import TASK_COLUMNS, CaptionStage, default_threads, uncaptioned_row
from curation.caption.text_encoder import load_text_encoder
from curation.caption.vocabulary import Vocabulary
from curation.config import Params, section_hash
from curation.engines import run_stage
from curation.io.atomic import atomic_path, write_json
from curation.io.tables import read_table, write_rows
from curation.schemas import CAPTIONS


@dataclass
class CaptionSummary:
    clips: int
    captioned: int
    uncaptioned: int
    embedding_dim: int
    text_encoder: str
    metrics: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        by_src = ", ".join(f"{k} {v}" for k, v in sorted(self.metrics.get("by_source", {}).items()))
        return (
            f"caption: {self.clips} clips, {self.captioned} captioned, {self.uncaptioned} uncaptioned"
            f" ({by_src or 'none'}); text embeddings {self.captioned}x{self.embedding_dim} ({self.text_encoder})"
        )


def read_clip_tasks(clips_table: str | Path) -> list[dict[str, Any]]:
    path = Path(clips_table)
    if not path.exists():
        raise FileNotFoundError(f"{path}: clips table not found; run the ingest stage first")
    table = read_table(path)
    missing = [c for c in TASK_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; re-run the ingest stage")
    return table.select(list(TASK_COLUMNS)).to_pylist()


def write_embeddings(dest: str | Path, texts: list[str], encoder, progress: bool = True) -> Path:
    """Encode `texts` in order straight into a float32 .npy ([len(texts), dim]) written atomically."""
    with atomic_path(dest) as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(texts), encoder.dim))
        row = 0
        with tqdm(total=len(texts), desc="text embeddings", unit="caption", disable=not progress or not texts, dynamic_ncols=True) as bar:
            for block in encoder.iter_encode(texts):
                arr[row : row + len(block)] = block
                row += len(block)
                bar.update(len(block))
        arr.flush()
        del arr
    return Path(dest)


def caption_metrics(rows: list[dict[str, Any]], encoder_name: str, dim: int, engine_errors: int) -> dict[str, Any]:
    captioned = [r for r in rows if r["caption"] is not None]
    return {
        "clips": len(rows),
        "captioned": len(captioned),
        "uncaptioned": len(rows) - len(captioned),
        "by_source": dict(sorted(Counter(r["caption_source"] for r in rows).items())),
        "by_language": dict(sorted(Counter(r["language"] for r in captioned).items())),
        "by_language_source": dict(sorted(Counter(r["language_source"] for r in captioned).items())),
        "captioner_weights": dict(sorted(Counter(r["captioner_weights"] for r in captioned if r["captioner_weights"]).items())),
        "uncaptioned_reasons": dict(sorted(Counter(r["uncaptioned_reason"].split(" (")[0] for r in rows if r["uncaptioned_reason"]).items())),
        "tagged_clips": sum(1 for r in captioned if r["tags"]),
        "by_tag_category": dict(sorted(Counter(c for r in captioned for c in set(r["tag_categories"])).items())),
        "clips_with_sidecar_issues": sum(1 for r in rows if r["sidecar_issues"]),
        "engine_errors": engine_errors,
        "text_encoder": encoder_name,
        "embedding_dim": dim,
    }


def run_caption(params: Params, progress: bool = True) -> CaptionSummary:
    """Caption every clip of `paths.clips_table`, embed the captions, write table, embeddings and metrics."""
    cp, paths = params.caption, params.paths
    Vocabulary.load(cp.vocabulary)  # a malformed vocabulary stops the run before any work
    encoder = load_text_encoder(cp.text_encoder)  # likewise an unloadable text encoder
    tasks = read_clip_tasks(paths.clips_table)

    stage = CaptionStage(cp, paths.raw, paths.clips_dir, threads=default_threads(params.engine.workers))
    rows: list[dict[str, Any]] = []
    errors = 0
    for res in run_stage(stage, tasks, params.engine, progress=progress):
        clip_id = str(res.task["clip_id"])
        if res.error is not None or len(res.rows) != 1:
            errors += 1
            detail = (res.error or f"stage returned {len(res.rows)} rows").strip().splitlines()[0][:200]
            rows.append(uncaptioned_row(clip_id, f"caption stage error: {detail}", cp.default_language))
        else:
            rows.append(res.rows[0])

    texts: list[str] = []
    phash = section_hash(cp)
    for r in rows:
        if r["caption"] is not None:
            r["embedding_row"] = len(texts)
            texts.append(r["caption"])
        else:
            r["embedding_row"] = -1
        r["text_encoder"] = encoder.name
        r["params_hash"] = phash

    write_embeddings(paths.text_embeddings, texts, encoder, progress=progress)
    write_rows(rows, CAPTIONS, paths.captions_table)
    metrics = caption_metrics(rows, encoder.name, encoder.dim, errors)
    write_json(Path(paths.metrics_dir) / "caption.json", metrics)
    summary = CaptionSummary(len(rows), len(texts), len(rows) - len(texts), encoder.dim, encoder.name, metrics)
    print(summary.line(), flush=True)
    return summary
