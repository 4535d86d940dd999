"""Does the curriculum help?  The order ablation: curriculum vs shuffled vs reversed x seeds, held-out loss per tier.

    dvc repro shard                                   # the shard set of params.yaml (sample corpus by default)
    python benchmarks/bench_curriculum.py             # tiny model on the CPU, orders x seeds 0,1,2
    python benchmarks/bench_curriculum.py --size S --device cuda --set train.batch_scale=1 ...   # on a GPU

What is held fixed: the shard set, the held-out split (train.vae_holdout: never trained on), one
VAE (trained once with params.yaml's seed, in <out>/vae), and per seed the diffusion model's
initial weights and noise draws (train.seed = loader.seed = the seed, the same for every order).
Every order trains the same clips the same number of times with the same steps, batch sizes and
learning rates (shards.curriculum.schedule); only the order of the tiers changes.

Each (order, seed) run is the library's train_diffusion in <out>/runs/<order>-s<seed> (an
unchanged, completed run is reused), evaluated like the evaluate stage (aiprod_model.evaluate:
fixed held-out windows, fixed timesteps, fixed noise) at the end of every phase.  Prints, per
tier and over all held-out clips, the final held-out loss per order as mean, sample standard
deviation and range over seeds, and each order's per-seed difference from the curriculum
(paired: same seed, same initial weights).  Writes <out>/ablation.json and <out>/loss_vs_step.png
(held-out loss vs step per order); the difficulty report shows both when <out> is
reports/ablation (the default).  Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from curation.config import Params, deep_merge, load_params  # noqa: E402

ORDERS = ("curriculum", "shuffled", "reversed")
TIERS = ("1", "2", "3", "4", "5")


def dotted(pairs: list[str]) -> dict[str, Any]:
    """["train.seed=3", ...] -> {"train": {"seed": 3}} (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: expected key.path=value")
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = yaml.safe_load(value)
    return out


def run_params(base: dict[str, Any], params_path: Path, **over: Any) -> Params:
    return load_params(params_path, deep_merge(base, over))


def phase_end_steps(p: Params) -> list[tuple[int, int]]:
    """(phase number, global step at its end) for phases with steps."""
    out, step = [], 0
    for i, ph in enumerate(p.curriculum.phases):
        step += ph.steps
        if ph.steps:
            out.append((i + 1, step))
    return out


def fmt(s: dict[str, Any]) -> str:
    if not s["n"]:
        return "-"
    sd = f" ± {s['sd']:.4f}" if s["sd"] is not None else ""
    return f"{s['mean']:.4f}{sd} [{s['min']:.4f}, {s['max']:.4f}]"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    ap.add_argument("--orders", default=",".join(ORDERS), help="comma list of curriculum orders")
    ap.add_argument("--seeds", default="0,1,2", help="comma list of seeds (train.seed = loader.seed of the diffusion runs)")
    ap.add_argument("--size", default=None, help="model.size override (tiny | S | M | L)")
    ap.add_argument("--device", default=None, help="train.device override (cpu | cuda)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any params override, e.g. --set train.batch_scale=1 (repeatable)")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: <paths.reports_dir>/ablation, where the difficulty report looks)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    import torch

    from aiprod_model.checkpoint import checkpoint_dir
    from aiprod_model.evaluate import Evaluator, load_backbone, read_heldout, summarize
    from aiprod_model.runtime import resolve_device, setup_torch
    from aiprod_model.stages import heldout_split, run_train_diffusion, run_train_vae
    from aiprod_model.vae_trainer import load_vae
    from curation.io.atomic import write_bytes, write_json
    from curation.report.evaluation import ablation_plot, stats

    over = dotted(args.set)
    if args.size:
        over = deep_merge(over, {"model": {"size": args.size}})
    if args.device:
        over = deep_merge(over, {"train": {"device": args.device}})
    base = load_params(args.params, over)
    out = (args.out or Path(base.paths.reports_dir) / "ablation").resolve()
    shards = Path(base.paths.shards_dir).resolve()
    if not (shards / "manifest.json").is_file():
        raise SystemExit(f"{shards}: no shard set; run `dvc repro shard` first")
    orders = [o.strip() for o in args.orders.split(",") if o.strip()]
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    bad = sorted(set(orders) - set(ORDERS))
    if bad:
        raise SystemExit(f"--orders: unknown {bad} (one of {', '.join(ORDERS)})")
    setup_torch(base.train.seed, base.train.threads)
    held = heldout_split(base, shards)
    print(f"bench_curriculum: shards {shards}, model {base.model.size} on {base.train.device}, orders {orders}, seeds {seeds}", flush=True)
    print(f"  {held.describe()}", flush=True)

    # one VAE for every run (trained with params.yaml's seed; reused when unchanged)
    t0 = time.perf_counter()
    common = deep_merge(over, {"paths": {"shards_dir": str(shards)}})
    vae_params = run_params(common, args.params, paths={"models_dir": str(out), "metrics_dir": str(out / "metrics")})
    sv = run_train_vae(vae_params, progress=not args.quiet)
    print(f"  VAE: {sv['steps']} steps, held-out SSIM {sv['eval'].get('ssim', float('nan')):.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    dev = resolve_device(base.train.device)
    vae, vae_man = load_vae(out / "vae", dev)
    items = read_heldout(base, held, shards, max_per_tier=base.eval.max_clips_per_tier, windows=base.eval.windows_per_clip)
    ev = Evaluator(vae, vae_man, items, base.eval, dev)
    recon = ev.reconstruction()
    ts = list(base.eval.timesteps)

    runs = []
    for order in orders:
        for seed in seeds:
            name = f"{order}-s{seed}"
            rdir = out / "runs" / name
            rdir.mkdir(parents=True, exist_ok=True)
            link = rdir / "vae"
            if not link.exists():
                os.symlink(os.path.relpath(out / "vae", rdir), link)
            p = run_params(common, args.params, curriculum={"order": order}, train={"seed": seed, "keep_checkpoints": 1000},
                           loader={"seed": seed}, paths={"models_dir": str(rdir), "metrics_dir": str(rdir / "metrics")})
            t1 = time.perf_counter()
            s = run_train_diffusion(p, progress=not args.quiet)
            train_s = time.perf_counter() - t1
            curve = []
            with torch.inference_mode():
                for phase, step in phase_end_steps(p):
                    ck = checkpoint_dir(rdir / "diffusion", step)
                    if not (ck / "manifest.json").is_file() or any(c["step"] == step for c in curve):
                        continue
                    model, man = load_backbone(ck, base.eval.weights, dev)
                    summ = summarize(items, ev.diffusion_losses(model, man), None, ts, held)
                    curve.append({"step": step, "phase": phase, "loss": summ["overall"].get("loss"),
                                  "tiers": {t: summ["tiers"][t].get("loss") for t in TIERS}})
                model, man = load_backbone(rdir / "diffusion", base.eval.weights, dev)
                final = summarize(items, ev.diffusion_losses(model, man), recon, ts, held)
            runs.append({"order": order, "seed": seed, "steps": s["steps"], "completed": s["completed"], "skipped_phases": s["skipped_phases"],
                         "train_seconds": round(train_s, 1), "final": final, "curve": curve,
                         "train_loss_last_window": (s["loss_windows"].get("loss") or {}).get("last_window_mean")})
            print(f"  {name}: {s['steps']} steps in {train_s:.0f} s, held-out loss {final['overall'].get('loss', float('nan')):.4f}"
                  + (f", skipped phases {s['skipped_phases']}" if s["skipped_phases"] else ""), flush=True)

    # ---------------------------------------------------------------- summary
    def final_losses(order: str, key: str) -> dict[int, float]:
        out_: dict[int, float] = {}
        for r in runs:
            if r["order"] != order:
                continue
            v = r["final"]["overall"].get("loss") if key == "all" else r["final"]["tiers"][key].get("loss")
            if v is not None:
                out_[r["seed"]] = float(v)
        return out_

    rows = [*TIERS, "all"]
    table = {k: {o: stats(list(final_losses(o, k).values())) for o in orders} for k in rows}
    paired = {}
    if "curriculum" in orders:
        for o in orders:
            if o == "curriculum":
                continue
            paired[o] = {}
            for k in rows:
                a, b = final_losses("curriculum", k), final_losses(o, k)
                paired[o][k] = stats([b[s] - a[s] for s in seeds if s in a and s in b])
    held_n = {t: len(held.clips.get(int(t), ())) for t in TIERS}
    width = 36
    print()
    print(f"held-out diffusion loss at step {runs[0]['steps'] if runs else '-'} ({base.eval.weights} weights; t = {ts}; "
          f"{base.eval.windows_per_clip} windows/clip): mean ± sample sd [min, max] over seeds {seeds}")
    print(f"{'':<18}" + "".join(f"{o:>{width}}" for o in orders))
    for k in rows:
        label = f"tier {k} ({held_n[k]} clip{'s' if held_n[k] != 1 else ''})" if k != "all" else f"all ({sum(held_n.values())} clips)"
        print(f"{label:<18}" + "".join(f"{fmt(table[k][o]):>{width}}" for o in orders))
    for o, d in paired.items():
        print()
        print(f"{o} minus curriculum, per seed (paired; > 0: the curriculum's held-out loss is lower)")
        for k in rows:
            label = f"tier {k}" if k != "all" else "all"
            print(f"  {label:<8} {fmt(d[k])}")
    print()
    print("per run (final held-out loss; tiers 1..5; all):")
    for r in runs:
        tl = " ".join(f"{r['final']['tiers'][t].get('loss', float('nan')):.4f}" if r["final"]["tiers"][t].get("loss") is not None else "   -  " for t in TIERS)
        print(f"  {r['order']:<10} seed {r['seed']}: {tl} ; {r['final']['overall'].get('loss', float('nan')):.4f}  (train loss last window {r['train_loss_last_window'] or float('nan'):.4f})")

    doc = {
        "schema": 1,
        "command": "python benchmarks/bench_curriculum.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "model_size": base.model.size,
        "device": base.train.device,
        "orders": orders,
        "seeds": seeds,
        "shards": str(shards),
        "heldout": held.to_json() | {"split": held.digest()},
        "eval": base.eval.model_dump(mode="json"),
        "vae": {"steps": sv["steps"], "eval": sv["eval"]},
        "runs": runs,
        "table": table,
        "paired_vs_curriculum": paired,
        "note": f"{sum(held_n.values())} held-out clips ({', '.join(f'tier {t}: {n}' for t, n in held_n.items())}); "
                "spread = sample standard deviation over seeds (same seed = same initial weights in every order).",
    }
    write_json(out / "ablation.json", doc)
    write_bytes(out / "loss_vs_step.png", ablation_plot(doc))
    print(f"\nwrote {out / 'ablation.json'} and {out / 'loss_vs_step.png'} ({time.perf_counter() - t0:.0f} s in all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
