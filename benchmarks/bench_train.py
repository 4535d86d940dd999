"""Training throughput of the model: steps/s, peak memory and achieved TFLOP/s, VAE and diffusion.

    python benchmarks/bench_train.py --size tiny --device cpu
    python benchmarks/bench_train.py --size S --device cuda --frames 16 --res 128 --batch 4

Each measured step is the trainers' real `train_step` (VAETrainer / DiffusionTrainer: forward,
backward, grad clipping, AdamW, EMA; the diffusion step includes the frozen VAE encode), on
synthetic batches in the loader's format (aiprod_model.synthetic), so data loading is excluded.
FLOPs of one step are counted with torch.utils.flop_counter.FlopCounterMode (matmuls, convs,
attention; forward + backward); achieved TFLOP/s = FLOPs per step x steps/s.  Peak memory is
torch.cuda.max_memory_allocated on GPU, the process's peak RSS growth on CPU.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from aiprod_model.diffusion_trainer import DiffusionTrainer  # noqa: E402
from aiprod_model.runtime import count_params  # noqa: E402
from aiprod_model.synthetic import SyntheticVideos  # noqa: E402
from aiprod_model.vae_trainer import VAETrainer  # noqa: E402
from curation.config import parse_params  # noqa: E402

DEFAULTS = {"tiny": (8, 32, 4), "S": (16, 128, 2), "M": (16, 256, 2), "L": (16, 256, 1)}  # frames, res, batch


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def measure(name: str, step_fn, batches, dev: torch.device, warmup: int, steps: int) -> dict:
    it = iter(batches)
    for _ in range(warmup):
        step_fn(next(it))
    with FlopCounterMode(display=False) as fc:
        step_fn(next(it))
    flops = fc.get_total_flops()
    sync(dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    rss0 = rss_mb()
    t0 = time.perf_counter()
    for _ in range(steps):
        step_fn(next(it))
    sync(dev)
    dt = time.perf_counter() - t0
    sps = steps / dt
    peak = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else rss_mb()
    return {"part": name, "steps_per_s": sps, "ms_per_step": 1000 * dt / steps, "gflop_per_step": flops / 1e9, "tflops": flops * sps / 1e12, "peak_mem_mb": peak, "peak_rss_growth_mb": rss_mb() - rss0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--size", default="tiny", choices=["tiny", "S", "M", "L"])
    ap.add_argument("--device", default="cpu", help="cpu | cuda")
    ap.add_argument("--frames", type=int, help="frames per clip (default per size: %s)" % {k: v[0] for k, v in DEFAULTS.items()})
    ap.add_argument("--res", type=int, help="square resolution (default per size: %s)" % {k: v[1] for k, v in DEFAULTS.items()})
    ap.add_argument("--batch", type=int, help="batch size (default per size: %s)" % {k: v[2] for k, v in DEFAULTS.items()})
    ap.add_argument("--steps", type=int, default=10, help="timed steps per part")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--parts", default="vae,diffusion", help="comma list: vae, diffusion")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    frames, res, batch = (args.frames or DEFAULTS[args.size][0], args.res or DEFAULTS[args.size][1], args.batch or DEFAULTS[args.size][2])
    p = parse_params({"model": {"size": args.size}, "train": {"device": args.device, "threads": args.threads, "vae_batch_size": batch, "warmup_steps": 1},
                      "loader": {"frames": frames, "size": res}})
    dev = torch.device(args.device)
    print(f"bench_train: size={args.size} device={args.device} ({torch.cuda.get_device_name(dev) if dev.type == 'cuda' else f'{args.threads} threads'}) "
          f"clip {frames}x{res}x{res} batch {batch}, {args.steps} timed steps", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        vt = VAETrainer(p, Path(tmp) / "vae", None, progress=False)
        data = SyntheticVideos(batch, frames, res, text_dim=p.model.backbone.text_dim if "text_dim" in p.model.backbone.model_fields_set else 384)
        if "vae" in args.parts:
            r = measure("vae", vt.train_step, data, dev, args.warmup, args.steps)
            r["params_m"] = count_params(vt.model) / 1e6
            rows.append(r)
        if "diffusion" in args.parts:
            fake_manifest = {"step": 0, "files": {"model": {"sha256": "bench"}}, "meta": {"scale_factor": 1.0}}
            dt = DiffusionTrainer(p, vt.model, fake_manifest, Path(tmp) / "diff", None, progress=False)
            r = measure("diffusion", lambda b: dt.train_step(b, 1e-4), data, dev, args.warmup, args.steps)
            r["params_m"] = count_params(dt.model) / 1e6
            rows.append(r)
    print(f"{'part':<10} {'params':>8} {'steps/s':>9} {'ms/step':>9} {'GFLOP/step':>11} {'TFLOP/s':>8} {'peak MB':>9}")
    for r in rows:
        print(f"{r['part']:<10} {r['params_m']:>7.2f}M {r['steps_per_s']:>9.2f} {r['ms_per_step']:>9.1f} {r['gflop_per_step']:>11.2f} {r['tflops']:>8.4f} {r['peak_mem_mb']:>9.0f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"size": args.size, "device": args.device, "frames": frames, "res": res, "batch": batch, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
