"""DVC entry point of the shard stage: load params.yaml and write the shard sets (see shards.stage)."""

from __future__ import annotations

import argparse

from curation.config import load_params
from shards import run_shard


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write one WebDataset shard set per tier from paths.tiers_table (params: shard).")
    ap.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    args = ap.parse_args(argv)
    manifest = run_shard(load_params(args.params))
    t = manifest["totals"]
    r = manifest["reuse"]
    print(f"shard: {t['shards']} shard(s), {t['samples']} sample(s), {t['hours']:.3f} h, {t['bytes']} bytes; {len(manifest['skipped'])} skipped; "
          f"processed {len(r['written_tiers'])} tier(s), reused {len(r['reused_tiers'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
