"""`curation` console script: one subcommand per stage.

To add a stage's CLI, add ONE line to COMMANDS: name -> (module, one-line help).
The module defines `add_arguments(parser)` and `main(args) -> int`; it is
imported only when its subcommand runs (so `curation --help` stays fast and a
broken stage cannot break the others).
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "sample-corpus": ("curation.sample_corpus", "generate the deterministic sample video corpus (lavfi sources + caption sidecars)"),
    "ingest": ("curation.ingest.cli", "probe, reject, cut and normalize raw videos into clips (clips.parquet, rejects.parquet)"),
    "caption": ("curation.caption.cli", "caption clips (sidecars, else captioner), tag vocabulary, embed captions (captions.parquet, text_embeddings.npy)"),
    "score": ("curation.score.cli", "score clips: CLIP, optical flow, cheap signals -> difficulty 0..1, near-duplicates (scores.parquet)"),
    "tier": ("curation.tier.cli", "assign curriculum tiers 1-5 by difficulty and quality (tiers.parquet: one joined row per clip)"),
    "models": ("curation.models_fetch", "models fetch [clip] [captioner] [--to DIR]: download the weights named in params.yaml (the only command that downloads), verify, print params"),
}


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="curation",
        description="Video curation toolkit: turn raw videos into curriculum-ordered training data. "
        "Each stage reads params.yaml (see curation/config.py); `curation COMMAND --help` for its options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == selected:
            mod = importlib.import_module(module)
            mod.add_arguments(sp)
            sp.set_defaults(_main=mod.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(selected if selected in COMMANDS else None).parse_args(argv)
    return int(args._main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
