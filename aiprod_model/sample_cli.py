"""aiprod-sample: generate a short video from a text prompt with the trained model.

    aiprod-sample "a red ball rolling on a grey floor" -o ball.mp4
    aiprod-sample "une forêt calme" "un coche rojo" --out-dir samples/ --seed 3 --guidance 4

Defaults come from params.yaml (paths.models_dir, sample.*, model.diffusion.*); flags override them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from curation.config import ParamsError, load_params


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="aiprod-sample",
        description="Text (any language the caption text encoder knows) -> H.264 mp4, with the VAE + diffusion model trained by `dvc repro`.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("prompts", nargs="+", help="one or more prompts")
    ap.add_argument("-o", "--output", type=Path, help="output mp4 (one prompt only)")
    ap.add_argument("--out-dir", type=Path, help="directory for one mp4 per prompt (+ index.json); default: reports/samples-cli")
    ap.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (for paths and sample defaults)")
    ap.add_argument("--model-dir", type=Path, help="diffusion run directory (default: <models_dir>/diffusion)")
    ap.add_argument("--vae-dir", type=Path, help="VAE run directory (default: <models_dir>/vae)")
    ap.add_argument("--frames", type=int, help="frames to generate (multiple of the VAE's temporal downsampling)")
    ap.add_argument("--seed", type=int, help="noise seed (same seed + prompt -> same video)")
    ap.add_argument("--steps", type=int, help="sampler steps")
    ap.add_argument("--guidance", type=float, help="classifier-free guidance scale (1 = no guidance)")
    ap.add_argument("--sampler", choices=["ddim", "euler"], help="sampler")
    ap.add_argument("--fps", type=float, help="mp4 frame rate")
    ap.add_argument("--display-size", type=int, help="upscale (nearest) so the short side is at least this")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        params = load_params(args.params) if args.params.exists() else None
    except ParamsError as exc:
        print(exc, file=sys.stderr)
        return 2
    from dataclasses import replace

    from aiprod_model.checkpoint import CheckpointError
    from aiprod_model.sampler import VideoGenerator, write_samples
    from aiprod_model.video_io import to_uint8_frames, write_mp4

    models = Path(params.paths.models_dir) if params else Path("models")
    try:
        gen = VideoGenerator(args.model_dir or models / "diffusion", args.vae_dir or models / "vae", device=args.device, threads=params.train.threads if params else 0)
    except (CheckpointError, FileNotFoundError) as exc:
        print(f"aiprod-sample: {exc}", file=sys.stderr)
        return 1
    s = gen.default_settings(params)
    over = {k: v for k, v in {"frames": args.frames, "seed": args.seed, "steps": args.steps, "guidance_scale": args.guidance, "sampler": args.sampler}.items() if v is not None}
    s = replace(s, **over)
    fps = args.fps or (params.sample.fps if params else 8.0)
    display = args.display_size or (params.sample.display_size if params else 128)
    crf = params.sample.crf if params else 18
    try:
        if args.output:
            if len(args.prompts) != 1:
                print("aiprod-sample: -o takes exactly one prompt; use --out-dir for several", file=sys.stderr)
                return 2
            video = gen.generate(gen.embed(args.prompts), s)[0]
            write_mp4(to_uint8_frames(video), args.output, fps=fps, display_size=display, crf=crf)
            print(args.output)
        else:
            out_dir = args.out_dir or Path(params.paths.reports_dir if params else "reports") / "samples-cli"
            for row in write_samples(gen, args.prompts, s, out_dir, fps=fps, display_size=display, crf=crf):
                print(out_dir / row["file"])
    except ValueError as exc:
        print(f"aiprod-sample: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
