"""DVC entry point of train_diffusion: load params.yaml, run the five-phase curriculum on the shards (see aiprod_model.stages)."""

from __future__ import annotations

import argparse
import logging

from curation.config import load_params


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train the hybrid diffusion backbone phase by phase (params: model, train, loader, curriculum) -> models/diffusion, metrics/train_diffusion. Resumes an interrupted run with the same params.")
    ap.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from aiprod_model.stages import run_train_diffusion

    s = run_train_diffusion(load_params(args.params))
    w = s["loss_windows"].get("loss") or {}
    print(f"train_diffusion: {s['steps']} steps, loss {w.get('first_window_mean', float('nan')):.4f} -> {w.get('last_window_mean', float('nan')):.4f}"
          + (f", skipped phases {s['skipped_phases']}" if s["skipped_phases"] else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
