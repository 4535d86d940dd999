"""`run_score`: clips.parquet (+ captions.parquet) -> scores.parquet + metrics/score.json."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from curation.config import Params, section_hash
from curation.engines import run_stage
from curation.io.atomic import write_json
from curation.io.tables import read_table, write_rows
from curation.schemas import SCORES
from curation.score import difficulty as diff
from curation.score.clip_model import RANDOM_INIT, check_clip_weights, load_clip
from curation.score.dedup import CLIP_COSINE, THUMBNAIL, find_duplicates
from curation.score.stage import TASK_COLUMNS, ScoreStage, default_threads
from curation.stage import TaskResult

log = logging.getLogger(__name__)


@dataclass
class ScoreSummary:
    clips: int
    scored: int
    failed: int
    duplicates: int
    clip_weights: str
    dedup_method: str
    metrics: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        warn = "  [CLIP random-init: semantic scores meaningless]" if self.clip_weights == RANDOM_INIT else ""
        return (
            f"score: {self.clips} clips, {self.scored} scored, {self.failed} failed, {self.duplicates} near-duplicates "
            f"({self.dedup_method}); CLIP {self.metrics.get('clip_model')} weights {self.clip_weights}{warn}"
        )


def read_tasks(clips_table: str | Path, captions_table: str | Path) -> tuple[list[dict[str, Any]], bool]:
    """(tasks in clips.parquet order with their caption, whether captions.parquet was found)."""
    path = Path(clips_table)
    if not path.exists():
        raise FileNotFoundError(f"{path}: clips table not found; run the ingest stage first")
    cols = list(TASK_COLUMNS) + ["source_path", "start_s"]
    table = read_table(path)
    missing = [c for c in cols if c not in table.column_names]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; re-run the ingest stage")
    tasks = table.select(cols).to_pylist()
    captions: dict[str, str | None] = {}
    cap_path = Path(captions_table)
    found = cap_path.exists()
    if found:
        ct = read_table(cap_path)
        if "clip_id" in ct.column_names and "caption" in ct.column_names:
            for r in ct.select(["clip_id", "caption"]).to_pylist():
                captions[str(r["clip_id"])] = r["caption"]
    else:
        log.warning("%s not found: caption_similarity will be null for every clip", cap_path)
    for t in tasks:
        t["caption"] = captions.get(str(t["clip_id"]))
    return tasks, found


def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
    vals = [float(r[key]) for r in rows if r.get(key) is not None and np.isfinite(r[key])]
    return round(float(np.mean(vals)), 6) if vals else None


def score_metrics(rows: list[dict[str, Any]], clip_weights: str, clip_model: str, dedup_method: str, engine_errors: int, captions_found: bool) -> dict[str, Any]:
    ok = [r for r in rows if r["score_error"] is None]
    comps = list(diff.COMPONENTS)
    return {
        "clips": len(rows),
        "scored": len(ok),
        "failed": len(rows) - len(ok),
        "engine_errors": engine_errors,
        "duplicates": sum(1 for r in rows if r["is_duplicate"]),
        "dedup_method": dedup_method,
        "clip_model": clip_model,
        "clip_weights": clip_weights,
        "clip_random_init": clip_weights == RANDOM_INIT,
        "captions_table_found": captions_found,
        "with_caption_similarity": sum(1 for r in ok if r.get("caption_similarity") is not None),
        "difficulty_formula": diff.FORMULA_VERSION,
        "mean": {k: _mean(ok, k) for k in comps + ["difficulty", "caption_similarity", "sharpness", "exposure"]},
        "mean_normalized": {f"n_{k}": _mean(ok, f"n_{k}") for k in comps},
    }


def _error_row(stage: ScoreStage, task: dict[str, Any], weights: str, error: str) -> dict[str, Any]:
    return {
        "clip_id": str(task["clip_id"]),
        "score_error": error,
        "clip_model": stage.params.clip.model,
        "clip_weights": weights,
        "difficulty_components": [],
        "difficulty_formula": diff.FORMULA_VERSION,
        "params_hash": stage.params_hash,
    }


def _pool_results(stage: ScoreStage, tasks: list[dict[str, Any]], params: Params, progress: bool) -> tuple[str, list[TaskResult]]:
    """(weights label, results) of a worker-pool run.  The driver only checks which weights load
    (`check_clip_weights`: no random-init model of its own) and, with the local engine, does so
    while the workers start (they import torch/open_clip and load the model: seconds); a
    missing-weights error is still raised, and no table is written."""
    if params.engine.name != "local":
        weights = check_clip_weights(params.score.clip)
        return weights, list(run_stage(stage, tasks, params.engine, progress=progress))
    import curation.engines.local  # noqa: F401  (imported here, not concurrently with the check's imports)

    with ThreadPoolExecutor(1, thread_name_prefix="clip-weights") as pool:
        check = pool.submit(check_clip_weights, params.score.clip)
        try:
            results = list(run_stage(stage, tasks, params.engine, progress=progress))
        except Exception:
            if check.exception() is not None:  # the workers failed to set up for the same reason
                raise check.exception() from None
            raise
        return check.result(), results


def run_score(params: Params, progress: bool = True) -> ScoreSummary:
    """Score every clip of `paths.clips_table`; write scores table and metrics; return a summary."""
    sp, paths = params.score, params.paths
    try:
        tasks, captions_found = read_tasks(paths.clips_table, paths.captions_table)
    except Exception:
        check_clip_weights(sp.clip)  # a missing-weights error comes first
        raise
    in_process = params.engine.name == "local" and (params.engine.workers == 1 or len(tasks) <= 1)
    threads = sp.threads or default_threads(1 if in_process else params.engine.workers)
    stage = ScoreStage(sp, paths.clips_dir, threads=threads)
    if in_process:
        # load once, before any work (a missing-weights error stops the run), and score with it
        loaded = load_clip(sp.clip)
        weights = loaded.weights
        stage.attach(loaded)
        del loaded
        results = list(run_stage(stage, tasks, params.engine, progress=progress))
    else:
        weights, results = _pool_results(stage, tasks, params, progress)

    rows: list[dict[str, Any]] = []
    errors = 0
    for res in results:
        if res.error is not None or len(res.rows) != 1:
            errors += 1
            detail = (res.error or f"stage returned {len(res.rows)} rows").strip().splitlines()[0][:300]
            rows.append(_error_row(stage, res.task, weights, f"score stage error: {detail}"))
        else:
            rows.append(res.rows[0])
    found = {r["clip_weights"] for r in rows}
    if found - {weights}:
        raise RuntimeError(f"workers loaded CLIP weights {sorted(found)} but the driver loaded {weights!r}")

    method = THUMBNAIL if weights == RANDOM_INIT else CLIP_COSINE
    by_id = {str(t["clip_id"]): t for t in tasks}
    dedup_input = [r | {"source_path": by_id[r["clip_id"]]["source_path"], "start_s": by_id[r["clip_id"]]["start_s"]} for r in rows if r["score_error"] is None]
    dups = find_duplicates(dedup_input, method, sp.dedup_threshold)
    for r in rows:
        dup = dups.get(r["clip_id"])
        r["is_duplicate"] = dup is not None
        r["duplicate_of"], r["duplicate_similarity"] = dup if dup else (None, None)
        r["dedup_method"] = method

    write_rows(rows, SCORES, paths.scores_table)
    metrics = score_metrics(rows, weights, sp.clip.model, method, errors, captions_found)
    metrics["params_hash"] = section_hash(sp)
    write_json(Path(paths.metrics_dir) / "score.json", metrics)
    summary = ScoreSummary(len(rows), metrics["scored"], metrics["failed"], metrics["duplicates"], weights, method, metrics)
    print(summary.line(), flush=True)
    return summary
