"""DVC stage `caption`: data/clips.parquet -> data/captions.parquet, data/text_embeddings.npy, metrics/caption.json.

Each clip gets its source video's sidecar caption (.txt/.json/.srt/.vtt next to the video in
paths.raw; subtitles only for cues inside the clip's time span), else a caption from the
transformers captioner (caption.captioner), else no caption with a reason. Captions get a language
(sidecar tag, langdetect, or caption.default_language), video-vocabulary tags, and a text embedding
(caption.text_encoder). Every row is written, in clips.parquet order.
"""

from __future__ import annotations

import argparse

from curation.caption import run_caption
from curation.config import load_params
from curation.engines import add_engine_arguments, engine_overrides


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipelines.caption", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_engine_arguments(ap)
    args = ap.parse_args(argv)
    run_caption(load_params(args.params, overrides=engine_overrides(args)), progress=not args.no_progress)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
