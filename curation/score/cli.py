"""`curation score`: run the score stage from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from curation.engines import add_engine_arguments, engine_overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml", help="params file (default params.yaml; built-in defaults when it does not exist)")
    parser.add_argument("--clips-table", help="input clips table (overrides paths.clips_table)")
    parser.add_argument("--clips-dir", help="folder of clip files (overrides paths.clips_dir); clips outside it are not opened")
    parser.add_argument("--captions-table", help="input captions table (overrides paths.captions_table); missing: no caption similarity")
    parser.add_argument("--scores-table", help="output table (overrides paths.scores_table)")
    parser.add_argument("--metrics-dir", help="overrides paths.metrics_dir")
    parser.add_argument("--clip-model", help="open_clip model name (overrides score.clip.model)")
    parser.add_argument("--pretrained", help="open_clip tag in the local cache, or a local checkpoint file (overrides score.clip.pretrained)")
    parser.add_argument("--allow-random-init", action="store_true", help="run with seeded random CLIP weights when none load (rows record clip_weights=random-init)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_engine_arguments(parser)


def main(args: argparse.Namespace) -> int:
    from curation.config import load_params, parse_params
    from curation.score import run_score
    from curation.score.clip_model import ClipWeightsUnavailable

    names = {"clips_table": args.clips_table, "clips_dir": args.clips_dir, "captions_table": args.captions_table, "scores_table": args.scores_table, "metrics_dir": args.metrics_dir}
    paths = {k: v for k, v in names.items() if v}
    over: dict = {"paths": paths} if paths else {}
    clip: dict = {}
    if args.clip_model:
        clip["model"] = args.clip_model
    if args.pretrained:
        clip["pretrained"] = args.pretrained
    if args.allow_random_init:
        clip["allow_random_init"] = True
    if clip:
        over["score"] = {"clip": clip}
    over.update(engine_overrides(args))
    params = load_params(args.params, over) if Path(args.params).exists() else parse_params(over, "defaults")
    try:
        run_score(params, progress=not args.no_progress)
    except ClipWeightsUnavailable as exc:
        print(f"curation score: {exc}")
        return 2
    return 0
