"""DVC stage `score`: data/clips.parquet (+ data/captions.parquet) -> data/scores.parquet, metrics/score.json.

Each clip is decoded once (decord): CLIP (open_clip, score.clip) embeds frames at
score.clip.sample_fps -> mean embedding, caption-video similarity, semantic change;
OpenCV DIS optical flow on adjacent-frame pairs (score.flow) -> flow mean / p95 / moving
fraction / per-second curve; cheap signals (spatial complexity, residual cuts, temporal
noise, sharpness, exposure); one difficulty in 0..1 (curation/score/difficulty.py);
near-duplicates flagged.  Without CLIP weights the run stops with a clear message unless
score.clip.allow_random_init is true (then every row records clip_weights=random-init).
"""

from __future__ import annotations

import argparse

from curation.config import load_params
from curation.engines import add_engine_arguments, engine_overrides
from curation.score import run_score


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipelines.score", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_engine_arguments(ap)
    args = ap.parse_args(argv)
    run_score(load_params(args.params, overrides=engine_overrides(args)), progress=not args.no_progress)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
