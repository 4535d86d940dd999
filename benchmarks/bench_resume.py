"""What a kill, a new video and a weights change cost, through the `curation` CLI on real-like footage.

On the part-B inputs of bench_scale.py (../shared/media clips looped + 720p lavfi, made there
first), in a scratch project folder with params.yaml's settings:

1. `curation ingest`, SIGKILLed once about half of the sources are in the store, then run again;
2. `curation caption`;
3. `curation score`, SIGKILLed once about half of the clips are in the store, then run again;
4. one more video in the folder: ingest, caption, score again;
5. only score.weights changed: score again.

Each run prints its stage line ("... processed N, reused M") and its wall time.

    python benchmarks/bench_scale.py --part B     # makes the inputs
    python benchmarks/bench_resume.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CURATION = str(Path(sys.executable).parent / "curation")


def stored(store: Path) -> int:
    import pyarrow.dataset as pads

    files = [str(p) for p in store.glob("*.parquet")]
    if not files:
        return 0
    try:
        return len(set(pads.dataset(files, format="parquet").to_table(columns=["_reuse"]).column("_reuse").to_pylist()))
    except Exception:  # a part being renamed in: count it next time
        return 0


def run(cmd: list[str], cwd: Path, kill_at: tuple[Path, int] | None = None) -> tuple[str, float, bool]:
    """(the stage line, wall s, killed?)"""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    killed = False
    if kill_at is not None:
        store, n = kill_at
        while proc.poll() is None:
            if stored(store) >= n:
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
                break
            time.sleep(0.2)
    out = proc.communicate()[0]
    lines = [ln for ln in out.splitlines() if "processed" in ln]
    return (lines[-1] if lines else "(killed before its summary line)"), time.perf_counter() - t, killed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inputs", default="benchmarks/out/scale/b/inputs/raw", help="raw folder (bench_scale.py --part B makes it)")
    ap.add_argument("--workdir", default="benchmarks/out/resume")
    args = ap.parse_args()
    raw = Path(args.inputs).resolve()
    videos = sorted(p for p in raw.iterdir() if p.suffix == ".mp4")
    if len(videos) < 4:
        print(f"{raw}: run `python benchmarks/bench_scale.py --part B` first")
        return 2
    work = Path(args.workdir).resolve()
    shutil.rmtree(work, ignore_errors=True)
    (work / "raw").mkdir(parents=True)
    extra = videos[-1]
    for v in videos[:-1]:
        (work / "raw" / v.name).symlink_to(v)
        side = v.with_suffix(".txt")
        if side.exists():
            (work / "raw" / side.name).symlink_to(side)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["paths"]["raw"] = "raw"
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
    stores = work / "data" / "stores"
    n_src = len(videos) - 1
    print(f"{n_src} sources ({raw}); engine {params['engine']['name']} x{params['engine']['workers']}")

    def step(name: str, cmd: list[str], kill_at=None) -> None:
        line, wall, killed = run([CURATION, *cmd, "--params", "params.yaml", "--no-progress"], work, kill_at)
        print(f"  {name:<40} {wall:6.1f} s  {'KILLED  ' if killed else ''}{line}", flush=True)

    step("ingest, killed at half", ["ingest"], (stores / "ingest", n_src // 2))
    print(f"    (in the store after the kill: {stored(stores / 'ingest')} of {n_src} sources)")
    step("ingest again", ["ingest"])
    step("caption", ["caption"])
    import pyarrow.parquet as pq

    clips = pq.read_metadata(work / "data" / "clips.parquet").num_rows
    step("score, killed at half", ["score"], (stores / "score", clips // 2))
    print(f"    (in the store after the kill: {stored(stores / 'score')} of {clips} clips)")
    step("score again", ["score"])
    (work / "raw" / extra.name).symlink_to(extra)
    step("one more video: ingest", ["ingest"])
    step("one more video: caption", ["caption"])
    step("one more video: score", ["score"])
    params["score"]["weights"] = {**params["score"]["weights"], "object_motion": 0.3, "temporal_noise": 0.0}
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
    step("only score.weights changed: score", ["score"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
