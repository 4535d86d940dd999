"""Score stage: per-clip CLIP embeddings, optical flow, cheap signals, difficulty, near-duplicates.

Public entry point: `run_score(params, progress=True)` reads `paths.clips_table` (and the
captions of `paths.captions_table`), writes `paths.scores_table` (schema
`curation.schemas.SCORES`) and `<metrics_dir>/score.json`.

Modules: `frames` (the one decord pass per clip), `measure` (the CPU stage: flow, cuts,
cheap signals, CLIP frames), `clip_stage` (the CLIP stages: batched frame and caption
embeddings), `clip_model` (open_clip loading, offline honest; precision), `flow` (OpenCV
DIS), `signals` (spatial complexity, temporal noise, sharpness/exposure, thumbnails),
`difficulty` (the formula: `FORMULA`), `dedup` (near-duplicates), `combine` (difficulty,
similarity, dedup from stored measurements), `run` (drives it on the stage driver).
"""

from curation.score.run import ScoreSummary, run_score

__all__ = ["ScoreSummary", "run_score"]
