"""`run_score`: clips.parquet (+ captions.parquet) -> scores.parquet + metrics/score.json.

Measure, then combine:

1. caption texts -> CLIP text embeddings (`ClipTextStage`, text tower only), a per-item
   stage keyed by the text's sha256 (store `score-text`);
2. clips -> measurements: the chain `MeasureStage` (CPU: one decode pass, flow, cuts,
   cheap signals, camera motion, overlays, content flags, CLIP frames) -> `ClipEmbedStage` (CLIP vision tower, batched; on GPU
   workers when `score.clip.device` is CUDA), a per-item stage keyed by the clip's id and
   file sha256 (store `score`).  Its params hash covers the score params EXCEPT
   `weights` and `dedup_threshold`, plus the cut params and the CLIP weights;
3. combine (`curation.score.combine`): difficulty, caption similarity, near-duplicates,
   in the driver from the stored measurements.

So a re-run with one new video decodes only its clips, and changing only the difficulty
weights or the dedup threshold decodes nothing.  Missing CLIP weights stop the run
before any work (unless random init is allowed, and then every row says so).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.config import Params, section_hash
from curation.driver import CONTENT, ItemStageSpec, run_items
from curation.engines import light_engine
from curation.io.atomic import write_json
from curation.io.tables import read_table, write_table
from curation.labels import RANDOM_INIT
from curation.params_base import stable_hash
from curation.schemas import SCORE_MEASURES
from curation.score import difficulty as diff
from curation.score.clip_model import FETCH_HINT, resolve_precision, weights_label
from curation.score.clip_stage import CLIP_TEXT, ClipEmbedStage, ClipTextStage, text_sha256
from curation.score.combine import combine, vectors
from curation.score.measure import TASK_COLUMNS, MeasureStage

log = logging.getLogger(__name__)

#: bump when the measured rows change for the same inputs and params
VERSION = "score-measure-3"  # 3: camera motion, overlays, content flags
TEXT_VERSION = "score-text-1"


@dataclass
class ScoreSummary:
    clips: int
    scored: int
    failed: int
    duplicates: int
    clip_weights: str
    dedup_method: str
    metrics: dict[str, Any] = field(default_factory=dict)
    counts: str = ""  # "processed N, reused M"
    nodes_note: str = ""

    def line(self) -> str:
        warn = f"  [CLIP random-init: semantic scores meaningless; `{FETCH_HINT}` gets real weights]" if self.clip_weights == RANDOM_INIT else ""
        return (
            f"score: {self.clips} clips, {self.scored} scored, {self.failed} failed, {self.duplicates} near-duplicates "
            f"({self.dedup_method}); CLIP {self.metrics.get('clip_model')} weights {self.clip_weights} {self.metrics.get('clip_precision')}{warn}"
            f"{self.nodes_note}; {self.counts}"
        )


def measure_params_hash(params: Params, weights_fingerprint: str, precision: str) -> str:
    """What the stored measurements depend on: NOT score.weights / score.dedup_threshold."""
    sp = params.score
    return stable_hash(
        {"score": section_hash(sp, exclude={"weights", "dedup_threshold"}), "cuts": section_hash(params.cuts), "clip_weights": weights_fingerprint, "precision": precision}
    )


def read_clips(clips_table: str | Path) -> pa.Table:
    path = Path(clips_table)
    if not path.exists():
        raise FileNotFoundError(f"{path}: clips table not found; run the ingest stage first")
    cols = list(dict.fromkeys([*TASK_COLUMNS, "clip_sha256", "source_path", "start_s"]))
    table = read_table(path)
    missing = [c for c in cols if c not in table.column_names]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; re-run the ingest stage")
    return table.select(cols)


def read_captions(captions_table: str | Path, clip_ids: pa.ChunkedArray) -> tuple[list[str | None], bool]:
    """The caption of each clip (clips order; None when uncaptioned), and whether the table exists."""
    path = Path(captions_table)
    if not path.exists():
        log.warning("%s not found: caption_similarity will be null for every clip", path)
        return [None] * len(clip_ids), False
    ct = read_table(path)
    if "clip_id" not in ct.column_names or "caption" not in ct.column_names:
        return [None] * len(clip_ids), True
    pos = pc.index_in(clip_ids, value_set=ct.column("clip_id").combine_chunks())
    caps = ct.column("caption").combine_chunks().take(pos)
    return [c if c and c.strip() else None for c in caps.to_pylist()], True


def _text_embeddings(params: Params, captions: list[str | None], weights: str, precision: str, progress: bool) -> tuple[dict[str, np.ndarray], Any]:
    texts = sorted({c for c in captions if c})
    shas = [text_sha256(t) for t in texts]
    items = pa.table({"text_sha256": shas, "text": texts, CONTENT: shas})
    sp = params.score
    spec = ItemStageSpec(
        name="score-text", stages=[ClipTextStage(sp.clip, weights, precision, threads=sp.threads or _cpu_count())], key="text_sha256", outputs={"texts": CLIP_TEXT},
        params_hash=stable_hash({"clip": section_hash(sp.clip, exclude={"sample_fps", "max_frames"}), "weights": weights, "precision": precision}),
        version=TEXT_VERSION, task_columns=["text_sha256", "text"], batch_size=ClipTextStage.batch_size,
        error_rows=lambda task, err: [{"text_sha256": task["text_sha256"], "clip_text_embedding": None}],
    )  # fmt: skip
    # in this process on the local CPU engine (light_engine): a pool would import torch and build the
    # text tower in every worker, then tear down, for what is seconds of work
    run = run_items(spec, items, light_engine(params.engine, spec.stages), params.paths.store("score-text"), progress=progress)
    t = run.outputs["texts"]
    vecs = vectors(t.column("clip_text_embedding"))
    return {sha: vecs[i] for i, sha in enumerate(t.column("text_sha256").to_pylist()) if not np.isnan(vecs[i]).any()}, run


def _mean(t: pa.Table, name: str) -> float | None:
    col = pc.drop_null(t.column(name))
    vals = col.to_numpy(zero_copy_only=False).astype(np.float64) if len(col) else np.zeros(0)
    vals = vals[np.isfinite(vals)]
    return round(float(np.mean(vals)), 6) if len(vals) else None


def score_metrics(t: pa.Table, clip_weights: str, clip_model: str, precision: str, dedup_method: str, engine_errors: int, captions_found: bool) -> dict[str, Any]:
    ok = t.filter(pc.is_null(t.column("score_error")))
    comps = list(diff.COMPONENTS)
    return {
        "clips": t.num_rows,
        "scored": ok.num_rows,
        "failed": t.num_rows - ok.num_rows,
        "engine_errors": engine_errors,
        "duplicates": int(pc.sum(pc.cast(t.column("is_duplicate"), pa.int64())).as_py() or 0),
        "dedup_method": dedup_method,
        "clip_model": clip_model,
        "clip_weights": clip_weights,
        "clip_random_init": clip_weights == RANDOM_INIT,
        "clip_precision": precision,
        "captions_table_found": captions_found,
        "with_caption_similarity": int(pc.sum(pc.cast(pc.is_valid(ok.column("caption_similarity")), pa.int64())).as_py() or 0),
        "difficulty_formula": diff.FORMULA_VERSION,
        "mean": {k: _mean(ok, k) for k in comps + ["difficulty", "caption_similarity", "sharpness", "exposure"]},
        "mean_normalized": {f"n_{k}": _mean(ok, f"n_{k}") for k in comps},
        "camera_motion": _counts(ok.column("camera_motion")),
        "content_flags": _counts(pc.list_flatten(ok.column("content_flags"))),
        "overlay": {
            "found": int(pc.sum(pc.cast(pc.greater(ok.column("overlay_fraction"), 0.0), pa.int64())).as_py() or 0),
            "unknown": int(pc.sum(pc.cast(pc.is_null(ok.column("overlay_fraction")), pa.int64())).as_py() or 0),
        },
    }


def _counts(col: pa.ChunkedArray | pa.Array) -> dict[str, int]:
    """{value: count} of the non-null values, sorted by value (deterministic metrics)."""
    col = pc.drop_null(col)
    if not len(col):
        return {}
    return {str(v["values"]): int(v["counts"]) for v in sorted(pc.value_counts(col).to_pylist(), key=lambda v: str(v["values"]))}


def run_score(params: Params, progress: bool = True) -> ScoreSummary:
    """Score every clip of `paths.clips_table`; write scores table and metrics; return a summary."""
    sp, paths = params.score, params.paths
    weights, fingerprint = weights_label(sp.clip)  # missing weights stop the run here, before any work
    precision = resolve_precision(sp.clip.precision, sp.clip.device)
    clips = read_clips(paths.clips_table)
    captions, captions_found = read_captions(paths.captions_table, clips.column("clip_id"))

    text_emb, _ = _text_embeddings(params, captions, weights, precision, progress)

    mhash = measure_params_hash(params, fingerprint, precision)
    threads = sp.threads or max(1, _cpu_count() // max(1, params.engine.workers))
    measure = MeasureStage(sp, params.cuts, paths.clips_dir, mhash)
    embed = ClipEmbedStage(sp.clip, weights, precision, threads=threads)

    def error_rows(task: dict[str, Any], error: str) -> list[dict[str, Any]]:
        detail = error.strip().splitlines()[0][:300] if error.strip() else "error"
        return [measure.base_row(str(task["clip_id"])) | {"score_error": f"score stage error: {detail}", "clip_weights": weights, "clip_precision": precision}]

    content = pc.binary_join_element_wise(clips.column("clip_id"), clips.column("clip_sha256"), "|")
    items = clips.append_column(CONTENT, content)
    spec = ItemStageSpec(
        name="score", stages=[measure, embed], key="clip_id", outputs={"measures": SCORE_MEASURES}, params_hash=mhash, version=VERSION,
        task_columns=list(TASK_COLUMNS), error_rows=error_rows, batch_size=MeasureStage.batch_size,
    )  # fmt: skip
    run = run_items(spec, items, params.engine, paths.store("score"), progress=progress)
    measures = run.outputs["measures"]
    found = set(pc.unique(pc.drop_null(measures.column("clip_weights"))).to_pylist())
    if found - {weights}:
        raise RuntimeError(f"stored measurements have CLIP weights {sorted(found)}, this run expects {weights!r}")

    shas = [text_sha256(c) if c else None for c in captions]
    scores = combine(measures, clips.column("source_path"), clips.column("start_s"), pa.array(shas, pa.string()), text_emb, sp, weights, mhash, section_hash(sp))
    write_table(scores, paths.scores_table)
    method = scores.column("dedup_method")[0].as_py() if scores.num_rows else ("thumbnail" if weights == RANDOM_INIT else "clip-cosine")
    metrics = score_metrics(scores, weights, sp.clip.model, precision, method, run.failed, captions_found)
    metrics["params_hash"] = section_hash(sp)
    write_json(Path(paths.metrics_dir) / "score.json", metrics)
    summary = ScoreSummary(scores.num_rows, metrics["scored"], metrics["failed"], metrics["duplicates"], weights, method, metrics, run.counts(), run.nodes_note())
    print(summary.line(), flush=True)
    return summary


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 1
