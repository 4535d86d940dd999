"""DVC stage `ingest`: params.yaml -> curation.ingest.run_ingest (clips, clips.parquet, rejects.parquet, metrics)."""

from __future__ import annotations

import argparse

from curation.config import load_params
from curation.ingest import run_ingest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Ingest paths.raw into normalized clips (see params.yaml: ingest, paths).")
    ap.add_argument("--params", default="params.yaml", help="params file (default params.yaml)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    run_ingest(load_params(args.params), progress=not args.no_progress)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
