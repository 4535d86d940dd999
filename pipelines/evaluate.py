"""DVC entry point of evaluate: held-out diffusion loss and VAE SSIM/PSNR per tier -> metrics/eval.json (see aiprod_model.evaluate)."""

from __future__ import annotations

import argparse
import logging

from curation.config import load_params


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Score the trained models on the held-out clips (train.vae_holdout split, never trained on): diffusion validation loss at fixed timesteps with fixed noise, and VAE SSIM/PSNR, per tier -> metrics/eval.json (params: eval, loader).")
    ap.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from aiprod_model.stages import run_evaluate

    doc = run_evaluate(load_params(args.params))
    o = doc["overall"]
    print(f"evaluate: {o['clips']} held-out clip(s), {o['windows']} window(s); loss {o.get('loss', float('nan')):.4f}, "
          f"SSIM {o.get('ssim', float('nan')):.3f}, PSNR {o.get('psnr', float('nan')):.2f} dB (step {doc['diffusion']['step']}, {doc['diffusion']['curriculum_order']} order)")
    for t, e in doc["tiers"].items():
        if e["clips"]:
            print(f"  tier {t}: {e['clips']} clip(s)  loss {e['loss']:.4f}  SSIM {e['ssim']:.3f}  PSNR {e['psnr']:.2f} dB")
        else:
            print(f"  tier {t}: {e['note']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
