"""Helpers shared by the benchmarks: cached lavfi inputs, the ffmpeg null-decode floor,
a per-process RSS sampler over the process tree, and the machine load line."""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psutil

FFMPEG = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]


def encode_lavfi(path: Path, graph: str, seconds: float, preset: str = "veryfast", crf: int = 23) -> Path:
    """H.264 yuv420p mp4 of the lavfi `graph` (first `seconds`), made once: an existing file is reused.

    `graph` may be a filter graph with several sources; its output pad must then be labelled [out0]."""
    path = Path(path)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.mp4")
    subprocess.run(
        [*FFMPEG, "-f", "lavfi", "-i", graph, "-t", str(seconds), "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
         "-pix_fmt", "yuv420p", "-an", str(tmp)],
        check=True,
    )  # fmt: skip
    tmp.rename(path)
    return path


def null_decode_seconds(files: list[Path], parallel: int = 1, threads: int | None = None) -> float:
    """Wall seconds of `ffmpeg -i f -f null -` over `files`, `parallel` processes at a time (the decode floor)."""

    def one(f: Path) -> None:
        cmd = [*FFMPEG]
        if threads is not None:
            cmd += ["-threads", str(threads)]
        subprocess.run([*cmd, "-i", str(f), "-f", "null", "-"], check=True)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max(1, parallel)) as pool:
        list(pool.map(one, files))
    return time.perf_counter() - t0


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and of its finished, waited-for descendants."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


@dataclass
class TreePeaks:
    """Peak RSS (bytes) seen per role; `worker_tree` = a worker plus its descendants (its ffmpeg processes), summed per sample."""

    parent: int = 0
    worker: int = 0
    worker_tree: int = 0
    ffmpeg: int = 0
    other: int = 0
    total: int = 0
    workers_seen: set[int] = field(default_factory=set)
    samples: int = 0
    history: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, largest worker tree in that sample)

    def window_peak(self, start: float, end: float) -> int:
        """Largest worker tree seen between `start` and `end` seconds after the sampling began."""
        return max((b for t, b in self.history if start <= t < end), default=0)

    def line(self) -> str:
        mib = lambda b: f"{b / 2**20:.0f} MiB"  # noqa: E731
        return (
            f"parent {mib(self.parent)}, worker process {mib(self.worker)}, worker + its ffmpeg children {mib(self.worker_tree)}, "
            f"one ffmpeg {mib(self.ffmpeg)}, whole tree {mib(self.total)} ({len(self.workers_seen)} workers, {self.samples} samples)"
        )


class TreeRSS:
    """Samples the RSS of this process and each descendant every `interval` s, per process.

    Roles: the parent (this process), workers (Python children of this process:
    the local engine's spawned pool; multiprocessing's resource tracker is
    'other'), ffmpeg processes, and other.  With an in-process run (one task or
    one worker) the stage's ffmpeg children hang off the parent, and their sum
    with the parent counts as a worker tree."""

    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self.peaks = TreePeaks()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._roles: dict[int, str] = {}

    def _role(self, p: psutil.Process, me: int) -> str:
        role = self._roles.get(p.pid)
        if role is None:
            try:
                name, cmd, ppid = p.name(), " ".join(p.cmdline()), p.ppid()
            except psutil.Error:
                return "other"
            if "ffmpeg" in name:
                role = "ffmpeg"
            elif ppid == me and "python" in name.lower() and "resource_tracker" not in cmd:
                role = "worker"
            else:
                role = "other"
            self._roles[p.pid] = role
        return role

    def _sample(self, me: psutil.Process) -> None:
        pk = self.peaks
        try:
            kids = me.children(recursive=True)
        except psutil.Error:
            return
        rss: dict[int, int] = {}
        parent_of: dict[int, int] = {}
        role: dict[int, str] = {}
        for p in kids:
            try:
                rss[p.pid] = p.memory_info().rss
                parent_of[p.pid] = p.ppid()
            except psutil.Error:
                continue
            role[p.pid] = self._role(p, me.pid)
        mine = me.memory_info().rss
        pk.parent = max(pk.parent, mine)
        trees: dict[int, int] = {me.pid: mine}
        for pid, r in rss.items():
            if role[pid] == "worker":
                pk.worker = max(pk.worker, r)
                pk.workers_seen.add(pid)
                trees[pid] = trees.get(pid, 0) + r
            elif role[pid] == "ffmpeg":
                pk.ffmpeg = max(pk.ffmpeg, r)
                owner = parent_of.get(pid)
                while owner is not None and owner not in trees and owner in parent_of and role.get(owner) != "worker":
                    owner = parent_of.get(owner)
                if owner is not None and (owner == me.pid or role.get(owner) == "worker"):
                    trees[owner] = trees.get(owner, 0) + r
            else:
                pk.other = max(pk.other, r)
        if len(trees) > 1:
            trees.pop(me.pid, None)  # a pool run: the parent only waits
        biggest = max(trees.values())
        pk.worker_tree = max(pk.worker_tree, biggest)
        pk.history.append((time.perf_counter() - self._t0, biggest))
        pk.total = max(pk.total, mine + sum(rss.values()))
        pk.samples += 1

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            self._sample(me)
            self._stop.wait(self.interval)

    def __enter__(self) -> "TreeRSS":
        self._t0 = time.perf_counter()
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()
