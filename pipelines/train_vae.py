"""DVC entry point of train_vae: load params.yaml, train the video VAE on every tier's shards (see aiprod_model.stages)."""

from __future__ import annotations

import argparse
import logging

from curation.config import load_params


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train the video VAE (params: model, train, loader) -> models/vae, metrics/train_vae. Resumes an interrupted run with the same params. Data-parallel under torchrun: torchrun --nproc_per_node=N -m pipelines.train_vae.")
    ap.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    ap.add_argument("--max-steps", type=int, default=None, help="stop after this many steps without a final checkpoint (interrupted-run drill)")
    ap.add_argument("--clip-log", default=None, metavar="DIR", help="append each step's clip ids to DIR/<model>-rank<r>.jsonl (audit the data split across ranks)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from aiprod_model.distributed import is_main_process
    from aiprod_model.stages import run_train_vae

    s = run_train_vae(load_params(args.params), max_steps=args.max_steps, clip_log=args.clip_log)
    if not is_main_process():  # under torchrun rank 0 reports
        return 0
    w, ev = s["loss_window"], s["eval"]
    print(f"train_vae: {s['steps']} steps, loss {w.get('first_window_mean', float('nan')):.4f} -> {w.get('last_window_mean', float('nan')):.4f}, "
          f"held-out {ev.get('clips', 0)} clip(s) SSIM {ev.get('ssim', float('nan')):.3f} PSNR {ev.get('psnr', float('nan')):.2f} dB, scale {s['scale_factor']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
