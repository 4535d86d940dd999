"""DVC stage `sample_corpus`: params.corpus -> the sample videos in paths.sample_corpus."""

from __future__ import annotations

import argparse

from curation.config import load_params
from curation.sample_corpus import generate_corpus


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate the deterministic sample corpus (params.yaml: corpus) into paths.sample_corpus.")
    ap.add_argument("--params", default="params.yaml", help="params file (default params.yaml)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    params = load_params(args.params)
    m = generate_corpus(params.paths.sample_corpus, params.corpus, progress=not args.no_progress)
    print(f"sample corpus: {len(m['videos'])} videos ({sum(v['seconds'] for v in m['videos']):.1f} s) + {len(m['bad_inputs'])} bad inputs in {params.paths.sample_corpus}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
