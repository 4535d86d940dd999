"""Score stage: per-clip CLIP embeddings, optical flow, cheap signals, difficulty, near-duplicates.

Public entry point: `run_score(params, progress=True)` reads `paths.clips_table` (and the
captions of `paths.captions_table`), writes `paths.scores_table` (schema
`curation.schemas.SCORES`) and `<metrics_dir>/score.json`.

Modules: `frames` (the one decord pass per clip), `clip_model` (open_clip loading, offline
honest; embeddings), `flow` (OpenCV DIS), `signals` (spatial complexity, cut density,
temporal noise, sharpness/exposure, thumbnails), `difficulty` (the formula: `FORMULA`),
`dedup` (near-duplicates), `stage` (the per-clip Stage), `run` (drives it).
"""

from curation.score.run import ScoreSummary, run_score

__all__ = ["ScoreSummary", "run_score"]
