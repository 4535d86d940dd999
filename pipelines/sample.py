"""DVC entry point of sample: one mp4 per params.sample.prompts into reports/samples (see aiprod_model.stages)."""

from __future__ import annotations

import argparse
import logging

from curation.config import load_params


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate reports/samples/*.mp4 for params.sample.prompts with the trained VAE + diffusion model.")
    ap.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from aiprod_model.stages import run_sample

    rows = run_sample(load_params(args.params))
    for r in rows:
        print(f"sample: {r['file']}  <- {r['prompt']!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
