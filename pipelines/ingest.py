"""DVC stage `ingest`: params.yaml -> curation.ingest.run_ingest (clips, clips.parquet, rejects.parquet, metrics)."""

from __future__ import annotations

import argparse

from curation.config import load_params
from curation.engines import add_engine_arguments, engine_overrides
from curation.ingest import run_ingest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Ingest paths.raw into normalized clips (see params.yaml: ingest, paths).")
    ap.add_argument("--params", default="params.yaml", help="params file (default params.yaml)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_engine_arguments(ap)
    args = ap.parse_args(argv)
    run_ingest(load_params(args.params, overrides=engine_overrides(args)), progress=not args.no_progress)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
