"""`shards` command line: write the per-tier WebDataset shard sets, verify them against the manifest.

    shards write [--params params.yaml] [--tiers-table T] [--embeddings E] [--out DIR]
                 [--clips-dir DIR] [--max-bytes N] [--max-samples N] [--no-flow-curve]
    shards verify DIR [--no-hash] [--json]

`verify` exits 0 when every shard matches the manifest, 1 otherwise (one line per problem).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from curation.config import ParamsError, load_params


def _write(args: argparse.Namespace) -> int:
    from shards.stage import write_shard_set

    overrides: dict = {"shard": {}}
    if args.max_bytes is not None:
        overrides["shard"]["max_bytes"] = args.max_bytes
    if args.max_samples is not None:
        overrides["shard"]["max_samples"] = args.max_samples
    if args.no_flow_curve:
        overrides["shard"]["include_flow_curve"] = False
    params = load_params(args.params, overrides=overrides)
    p = params.paths
    out = Path(args.out or p.shards_dir)
    manifest = write_shard_set(
        args.tiers_table or p.tiers_table,
        out,
        params.shard,
        clips_root=args.clips_dir or p.clips_dir,
        text_embeddings=args.embeddings or p.text_embeddings,
        metrics_path=None if args.out else Path(p.metrics_dir) / "shards.json",
        text_dim_fallback=params.model.backbone.text_dim,
        progress=not args.quiet,
    )
    for t, v in manifest["tiers"].items():
        print(f"tier {t}: {v['shards']} shard(s), {v['samples']} sample(s), {v['hours']:.4f} h, {v['bytes']} bytes")
    print(f"wrote {out}/manifest.json; {manifest['excluded']} excluded (tier 0), {len(manifest['skipped'])} skipped")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from shards.verify import verify_manifest

    report = verify_manifest(args.dir, check_hashes=not args.no_hash)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.format())
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="shards", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write", help="write one shard set per tier (tier{k}/tier{k}-NNNNNN.tar + manifest.json)")
    w.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    w.add_argument("--tiers-table", help="tiers parquet (default: paths.tiers_table)")
    w.add_argument("--embeddings", help="text embeddings .npy (default: paths.text_embeddings)")
    w.add_argument("--clips-dir", help="clip files must lie inside this folder (default: paths.clips_dir)")
    w.add_argument("--out", help="output folder (default: paths.shards_dir; metrics are written only for the default)")
    w.add_argument("--max-bytes", type=int, help="override shard.max_bytes")
    w.add_argument("--max-samples", type=int, help="override shard.max_samples")
    w.add_argument("--no-flow-curve", action="store_true", help="leave <key>.flow.npy out")
    w.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    w.set_defaults(func=_write)
    v = sub.add_parser("verify", help="recompute sha256/sizes/sample counts of every shard and compare with manifest.json")
    v.add_argument("dir", help="shard-set folder (holds manifest.json)")
    v.add_argument("--no-hash", action="store_true", help="skip sha256 (sizes, counts and layout only)")
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.set_defaults(func=_verify)
    return ap


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ParamsError, FileNotFoundError, ValueError) as exc:
        print(f"shards {args.cmd}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
