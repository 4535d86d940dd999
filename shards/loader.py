"""Streaming curriculum loader over the per-tier WebDataset shards (the trainer's data source).

API
---
    loader, state = make_phase_loader(params, phase_index, shards_dir, state=None,
                                      batch_size=None, num_workers=None)
    for batch in loader:            # infinite: the trainer counts steps and breaks
        ...
        ckpt["data"] = loader.state_dict()  # == state.to_dict(), JSON-serializable
    # later: make_phase_loader(params, phase_index, shards_dir, state=ckpt["data"]) continues

`phase_index` is 0-based into `params.curriculum.phases`; the phase's sources and exact
sample counts come from `shards.curriculum.schedule` in `params.curriculum.order`.  `batch_size`
defaults to the phase's `batch_size`, `num_workers` to `params.loader.num_workers`;
`loader_overrides` (a dict) replaces fields of `params.loader` (frames, size, ...).
`make_tiers_loader` is the same for an explicit tier mix without curriculum (e.g. VAE training
on all tiers).  Both return `(PhaseLoader, LoaderState)`; `loader.plan.describe()` prints the
phase's mix.  Both leave out the held-out clips (`shards.curriculum.heldout_split` with
`train.vae_holdout` / `train.holdout_min_per_tier`, or the `heldout` argument): a training
loader never yields one.

Sample (one dict per clip; the default DataLoader collate batches it, all shapes fixed):

    video       float32 (T, 3, S, S) in [-1, 1]   T = loader.frames, S = loader.size, RGB
    frames_valid int     real frames in `video`; the rest repeat the last frame (short clips)
    text_emb    float32 (D,)                      caption embedding; zeros when has_text is False
    has_text    bool                              the clip has a text embedding
    caption     str                               "" when uncaptioned
    tier        int                               1..5
    difficulty  float                             0..1
    clip_id     str
    replay      bool                              drawn from the previous phase's hardest clips
    flow_curve  float32 (L,)                      L = loader.flow_curve_length; zero-padded or
                                                  truncated (absent when L = 0)

How samples are drawn
---------------------
Each source of the phase plan (new tiers + replay pools) is its own WebDataset pipeline
(shards listed by the manifest -> per-epoch seeded shard shuffle -> `wds.split_by_node` /
`wds.split_by_worker` -> tar -> samples -> filter on `tier_rank` (replay pools, held-out
clips) -> seeded shuffle buffer).  Its seeds depend on the pool (`SourceSpec.pool`), not on
the phase, and a phase starts each pool where the run's earlier phases left it (the plan's
`offsets`), so a pool is one continuous stream over the whole run and the clips a run sees
depend only on how many samples it takes from each pool.  Every source repeats epoch after
epoch, so the stream is infinite.

Mixing: the plan's exact counts (a curriculum phase: its budget of steps x batch) form one
period, shuffled with a seed per (phase, period); worker stream g of G reads positions
g, g+G, g+2G, ... of the periodic sequence.  In one process with num_workers 0 a phase that
takes exactly its budget gets exactly its counts; with G streams each reads its share of
the same sequence (exact when the budget splits evenly).  Plans without counts (the tiers
loader) use periods of 1024 samples apportioned by the shares.  Only then is the chosen
sample decoded (decord, `shards.decode`) with a random temporal window seeded by the
sample's position.

Workers: shards are split across (node, worker) when a source has at least as many
shards as there are workers in total; otherwise every worker reads the whole source
and keeps every G-th sample (or, if the source has fewer samples than workers, all of
them, in a worker-specific order), so `num_workers` may exceed the shard count.

Determinism and resume
----------------------
Everything random is seeded from (loader.seed, phase, pool, epoch, node, worker,
position), so each worker's stream is a pure function of the params, the shard set and
num_workers.  `LoaderState` records phase, seed, num_workers and, per worker, the stream
position just after the last sample the trainer received (each sample carries its worker
and position to the main process; `PhaseLoader` strips these two bookkeeping keys from
the batch).  Restoring fast-forwards each worker to its position: the source choices are
recomputed from the seeded periods, each source is placed at its epoch and offset (whole
epochs are skipped arithmetically from the manifest counts, the offset inside the epoch
by reading but not decoding samples), and the crop of every sample is seeded by position.
* num_workers = 0: exact: the continued stream equals the tail of the uninterrupted one.
* num_workers > 0: each worker's stream continues exactly (prefetched, unconsumed batches
  are re-made); batch_size may change.  The interleaving of workers into batches is the
  DataLoader's (round-robin), so batches equal the uninterrupted run's when no batch was
  cut short by a skipped clip.  With a different num_workers the resume is approximate:
  every new worker starts at the mean old position (a warning says so).
Skipped clips (short_clips=skip, undecodable bytes) consume a position but yield nothing.

Integrity: with `loader.verify_shards` every shard the phase reads is hashed and compared
with the manifest before streaming; a modified shard raises `ShardIntegrityError`.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch
import webdataset as wds
from torch.utils.data import DataLoader, IterableDataset

from curation.config import LoaderParams, Params
from curation.io.hashing import sha256_file
from shards.curriculum import CurriculumError, HeldOut, PhasePlan, SourceSpec, apportion, heldout_split, phase_budgets, plan_sources, schedule
from shards.decode import ShortClip, decode_window, to_model_range
from shards.manifest import read_manifest, shard_path

log = logging.getLogger(__name__)

STATE_VERSION = 2  # 2: exact-count periodic mixing, pool streams continuing across phases
WORKER_KEY, POS_KEY = "_stream_worker", "_stream_pos"  # bookkeeping keys, removed by PhaseLoader
_CHOICE_BLOCK = 1024  # mixing period of plans without exact counts (the tiers loader)


class ShardIntegrityError(RuntimeError):
    """A shard does not match its manifest entry (modified, truncated or missing)."""


# ----------------------------------------------------------------------------- seeding
def derive_seed(*parts: Any) -> int:
    """A 63-bit seed from any printable parts (stable across processes and Python runs)."""
    blob = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "little") >> 1


# ----------------------------------------------------------------------------- integrity
_verified: dict[tuple[str, int, int, str], bool] = {}


def verify_shards(root: str | Path, entries: list[dict[str, Any]]) -> None:
    """Hash each shard and compare with its manifest entry; raise ShardIntegrityError on mismatch.

    Results are cached per process by (path, size, mtime, expected sha256)."""
    for e in entries:
        path = shard_path(root, e)
        if not path.is_file():
            raise ShardIntegrityError(f"{path}: shard listed in the manifest is missing; re-run the shard stage")
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns, str(e["sha256"]))
        if _verified.get(key):
            continue
        if st.st_size != int(e["bytes"]):
            raise ShardIntegrityError(f"{path}: {st.st_size} bytes, manifest says {e['bytes']}; refusing to stream a modified shard (check with `shards verify {root}`)")
        sha = sha256_file(path)
        if sha != e["sha256"]:
            raise ShardIntegrityError(f"{path}: sha256 {sha[:16]}... does not match the manifest ({str(e['sha256'])[:16]}...); refusing to stream a modified shard (check with `shards verify {root}`)")
        _verified[key] = True


# ----------------------------------------------------------------------------- state
@dataclass
class LoaderState:
    """Where a phase loader stands; `to_dict()` is JSON-serializable, `from_dict()` restores it.

    `positions[w]` is worker w's stream position after the last sample handed to the trainer
    (one entry per DataLoader worker; one entry for num_workers = 0)."""

    phase: int  # 0-based phase index; -1 for make_tiers_loader
    seed: int
    num_workers: int
    positions: list[int] = field(default_factory=list)
    batches_seen: int = 0  # batches handed to the trainer (informational)
    samples_seen: int = 0  # samples handed to the trainer (informational)
    batch_size: int = 0  # of the last loader (informational)
    sources: list[str] = field(default_factory=list)  # names of the plan's sources (informational)
    version: int = STATE_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LoaderState":
        if not isinstance(d, dict) or d.get("version") != STATE_VERSION:
            raise ValueError(f"not a version-{STATE_VERSION} loader state: {d!r}")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    def start_of(self, worker: int) -> int:
        """Stream position worker `worker` resumes from (0 = fresh)."""
        return int(self.positions[worker]) if worker < len(self.positions) else 0


# ----------------------------------------------------------------------------- per-source stream
@dataclass(frozen=True)
class _WorkerCtx:
    rank: int
    world: int
    worker: int
    workers: int

    @property
    def g(self) -> int:
        return self.rank * self.workers + self.worker

    @property
    def total(self) -> int:
        return self.world * self.workers


class _SourceStream:
    """Infinite stream of raw (undecoded) samples of one source, for one worker, from a start count."""

    def __init__(self, root: Path, spec: SourceSpec, ctx: _WorkerCtx, seed: int, shuffle_buffer: int):
        self.root, self.spec, self.ctx, self.seed = root, spec, ctx, seed
        self.pool = spec.pool  # seeds follow the pool, so its stream continues across phases
        self.excluded = frozenset(spec.excluded)
        self.shuffle_buffer = shuffle_buffer
        self.entries = sorted(spec.shards, key=lambda e: int(e["index"]))
        n_shards, n_samples = len(self.entries), spec.samples
        if n_shards >= ctx.total:
            self.mode = "shards"  # wds.split_by_node + wds.split_by_worker
        elif n_samples >= ctx.total:
            self.mode = "samples"  # every worker reads all, keeps every G-th sample
        else:
            self.mode = "all"  # tiny source: every worker reads all of it
        if ctx.total == 1:
            self.mode = "all"

    def _epoch_entries(self, epoch: int) -> list[dict[str, Any]]:
        order = list(self.entries)
        random.Random(derive_seed(self.seed, self.pool, "shards", epoch)).shuffle(order)
        return order

    def epoch_length(self, epoch: int) -> int:
        order = self._epoch_entries(epoch)
        c = self.ctx
        if self.mode == "shards":
            mine = order[c.rank :: c.world][c.worker :: c.workers]
            return sum(self.spec.eligible_in(e) for e in mine)
        n = sum(self.spec.eligible_in(e) for e in order)
        if self.mode == "samples":
            return len(range(c.g, n, c.total))
        return n

    def locate(self, count: int) -> tuple[int, int]:
        """(epoch, offset within the epoch) of the `count`-th sample of this worker's stream."""
        epoch = 0
        while True:
            n = self.epoch_length(epoch)
            if n <= 0:
                raise RuntimeError(f"source {self.spec.name}: epoch {epoch} is empty for worker {self.ctx.g}")
            if count < n:
                return epoch, count
            count -= n
            epoch += 1

    def _select(self, src: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for s in src:
            meta = json.loads(s["json"])
            rank = int(meta.get("tier_rank", -1))
            if rank >= self.spec.min_rank and rank not in self.excluded:
                s["_meta"] = meta
                yield s

    def _split_samples(self, src: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        yield from islice(src, self.ctx.g, None, self.ctx.total)

    def epoch_pipeline(self, epoch: int) -> wds.WebDataset:
        urls = [str(shard_path(self.root, e)) for e in self._epoch_entries(epoch)]
        split = self.mode == "shards"
        ds = wds.WebDataset(
            urls,
            shardshuffle=False,  # shards are shuffled above, per epoch, with an explicit seed
            nodesplitter=wds.split_by_node if split else None,
            workersplitter=wds.split_by_worker if split else None,
            empty_check=False,
        )
        ds = ds.compose(self._select)
        if self.mode == "samples":
            ds = ds.compose(self._split_samples)
        if self.shuffle_buffer > 1:
            sseed = derive_seed(self.seed, self.pool, "buffer", epoch, self.ctx.rank, self.ctx.worker, self.ctx.workers)
            ds = ds.shuffle(self.shuffle_buffer, initial=self.shuffle_buffer, seed=sseed)
        return ds

    def iterate(self, start: int) -> Iterator[dict[str, Any]]:
        epoch, offset = self.locate(start)
        while True:
            expected = self.epoch_length(epoch)
            got = 0
            for s in self.epoch_pipeline(epoch):
                got += 1
                if got > offset:
                    yield s
            if got != expected:
                raise ShardIntegrityError(f"source {self.spec.name} epoch {epoch}: read {got} samples, the manifest promises {expected}")
            epoch, offset = epoch + 1, 0


# ----------------------------------------------------------------------------- mixing
class _Mixer:
    """Source index of every position of worker stream g (of G): position i reads entry g + i*G of
    the periodic sequence whose period holds each source exactly counts[s] times, shuffled with a
    seed per (phase, period) shared by all streams."""

    def __init__(self, plan: PhasePlan, seed: int, g: int, total: int):
        counts = list(plan.counts) if plan.counts and sum(plan.counts) > 0 else apportion(_CHOICE_BLOCK, [s.weight for s in plan.sources])
        self.base = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        self.period = len(self.base)
        self.nsrc = len(counts)
        self.seed, self.phase, self.g, self.total = seed, plan.phase_index, g, total
        self._cache: tuple[int, np.ndarray] | None = None

    def _perm(self, p: int) -> np.ndarray:
        if self._cache is None or self._cache[0] != p:
            rng = np.random.default_rng(derive_seed(self.seed, self.phase, "mix", p))
            self._cache = (p, rng.permutation(self.base))
        return self._cache[1]

    def source_at(self, i: int) -> int:
        p, o = divmod(self.g + i * self.total, self.period)
        return int(self._perm(p)[o])

    def counts_before(self, start: int) -> np.ndarray:
        """Samples each source gave at positions 0 .. start-1 of this stream."""
        out = np.zeros(self.nsrc, dtype=np.int64)
        if start <= 0:
            return out
        last = self.g + (start - 1) * self.total
        for p in range(last // self.period + 1):
            lo = p * self.period
            first = lo + (self.g - lo) % self.total
            q = np.arange(first, min(lo + self.period, last + 1), self.total)
            if len(q):
                out += np.bincount(self._perm(p)[q - lo], minlength=self.nsrc)
        return out


# ----------------------------------------------------------------------------- dataset
class CurriculumStream(IterableDataset):
    """Infinite, seeded mix of the plan's sources, decoded to the documented sample dict."""

    def __init__(self, root: str | Path, plan: PhasePlan, loader: LoaderParams, *, seed: int, text_dim: int):
        super().__init__()
        self.root = Path(root)
        self.plan = plan
        self.lp = loader
        self.seed = int(seed)
        self.text_dim = int(text_dim)
        self.state: LoaderState | None = None
        self.skipped = 0  # per process: samples dropped (short clips with short_clips=skip, undecodable)

    def resume_from(self, state: LoaderState | None) -> None:
        self.state = state

    def __iter__(self) -> Iterator[dict[str, Any]]:
        rank, world, worker, workers = wds.utils.pytorch_worker_info()
        ctx = _WorkerCtx(rank, world, worker, workers)
        phase = self.plan.phase_index
        start = self.state.start_of(worker) if self.state is not None else 0
        mixer = _Mixer(self.plan, self.seed, ctx.g, ctx.total)
        # fast-forward: how many samples each source already gave, plus what earlier phases took
        per_source = mixer.counts_before(start)
        offsets = self.plan.offsets or (0,) * len(self.plan.sources)
        streams = [
            _SourceStream(self.root, spec, ctx, self.seed, self.lp.shuffle_buffer).iterate(len(range(ctx.g, int(offsets[i]), ctx.total)) + int(per_source[i]))
            for i, spec in enumerate(self.plan.sources)
        ]
        i = start
        while True:
            src = mixer.source_at(i)
            raw = next(streams[src])
            sample = self._decode(raw, self.plan.sources[src], derive_seed(self.seed, phase, "window", rank, worker, workers, i))
            i += 1
            if sample is not None:
                sample[WORKER_KEY] = worker
                sample[POS_KEY] = i
                yield sample

    def _decode(self, raw: dict[str, Any], spec: SourceSpec, window_seed: int) -> dict[str, Any] | None:
        meta = raw["_meta"]
        lp = self.lp
        try:
            arr, valid = decode_window(
                raw["mp4"], frames=lp.frames, stride=lp.frame_stride, size=lp.size, rng=np.random.default_rng(window_seed),
                short_clips=lp.short_clips, threads=lp.decode_threads,
            )
        except ShortClip as exc:
            self.skipped += 1
            log.debug("skip %s: %s", raw["__key__"], exc)
            return None
        except Exception as exc:  # an undecodable clip never stops training
            self.skipped += 1
            log.warning("skip %s (%s): cannot decode: %s", raw["__key__"], raw.get("__url__"), exc)
            return None
        emb = np.load(io.BytesIO(raw["npy"]), allow_pickle=False).astype(np.float32).reshape(-1)
        if emb.shape != (self.text_dim,):
            raise ShardIntegrityError(f"{raw['__key__']}: text embedding has shape {emb.shape}, manifest text_dim is {self.text_dim}")
        out: dict[str, Any] = {
            "video": torch.from_numpy(to_model_range(arr)),
            "frames_valid": int(valid),
            "text_emb": torch.from_numpy(emb),
            "has_text": bool(meta.get("has_text_embedding", False)),
            "caption": raw.get("txt", b"").decode("utf-8"),
            "tier": int(meta["tier"]),
            "difficulty": float(meta["difficulty"]),
            "clip_id": str(meta.get("clip_id", raw["__key__"])),
            "replay": spec.replay,
        }
        L = lp.flow_curve_length
        if L > 0:
            curve = np.zeros(L, dtype=np.float32)
            if "flow.npy" in raw:
                c = np.load(io.BytesIO(raw["flow.npy"]), allow_pickle=False).astype(np.float32).reshape(-1)[:L]
                curve[: len(c)] = c
            out["flow_curve"] = torch.from_numpy(curve)
        return out


# ----------------------------------------------------------------------------- loaders
class PhaseLoader:
    """Iterable of collated batches; every batch handed out advances `state` (in place)."""

    def __init__(self, dataset: CurriculumStream, dataloader: DataLoader, state: LoaderState):
        self.dataset, self.dataloader, self.state = dataset, dataloader, state

    @property
    def plan(self) -> PhasePlan:
        return self.dataset.plan

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.dataset.resume_from(LoaderState.from_dict(self.state.to_dict()))
        st = self.state
        if len(st.positions) < max(st.num_workers, 1):
            st.positions = list(st.positions) + [0] * (max(st.num_workers, 1) - len(st.positions))
        for batch in self.dataloader:
            workers, positions = batch.pop(WORKER_KEY), batch.pop(POS_KEY)
            for w, p in zip(workers.tolist(), positions.tolist()):
                st.positions[w] = max(st.positions[w], int(p))
            st.batches_seen += 1
            st.samples_seen += len(positions)
            yield batch

    def state_dict(self) -> dict[str, Any]:
        return self.state.to_dict()


def _restore_state(state: LoaderState | dict[str, Any] | None, fresh: LoaderState) -> LoaderState:
    if state is None:
        return fresh
    st = state if isinstance(state, LoaderState) else LoaderState.from_dict(state)
    if st.phase != fresh.phase:
        raise ValueError(f"loader state belongs to phase index {st.phase}, not {fresh.phase}; start the new phase with state=None")
    if st.sources and st.sources != fresh.sources:
        log.warning("loader state was saved with sources %s, the plan now has %s: the stream will differ", st.sources, fresh.sources)
    out = LoaderState.from_dict(st.to_dict())
    out.batch_size = fresh.batch_size
    if max(st.num_workers, 1) != max(fresh.num_workers, 1):
        mean = sum(st.positions) // max(len(st.positions), 1)
        log.warning("resuming with num_workers=%d instead of %d: approximate resume (every worker starts at position %d)",
                    fresh.num_workers, st.num_workers, mean)
        out.positions = [mean] * max(fresh.num_workers, 1)
    out.num_workers = fresh.num_workers
    return out


def _loader_params(params: Params, overrides: dict[str, Any] | None) -> LoaderParams:
    if not overrides:
        return params.loader
    return LoaderParams.model_validate({**params.loader.model_dump(), **overrides})


def training_heldout(params: Params, manifest: dict[str, Any], shards_dir: str | Path) -> HeldOut:
    """The held-out split the training loaders leave out (train.vae_holdout, train.holdout_min_per_tier)."""
    return heldout_split(manifest, shards_dir, params.train.vae_holdout, params.train.holdout_min_per_tier)


def _build(params: Params, plan: PhasePlan, manifest: dict[str, Any], shards_dir: str | Path, state: Any, batch_size: int,
           num_workers: int | None, verify: bool | None, overrides: dict[str, Any] | None) -> tuple[PhaseLoader, LoaderState]:
    lp = _loader_params(params, overrides)
    workers = lp.num_workers if num_workers is None else int(num_workers)
    if (lp.verify_shards if verify is None else verify):
        verify_shards(shards_dir, [e for s in plan.sources for e in s.shards])
    fresh = LoaderState(phase=plan.phase_index, seed=lp.seed, num_workers=workers, positions=[0] * max(workers, 1),
                        batch_size=int(batch_size), sources=[s.name for s in plan.sources])
    st = _restore_state(state, fresh)
    ds = CurriculumStream(shards_dir, plan, lp, seed=st.seed, text_dim=int(manifest["text_dim"]))
    dl = DataLoader(ds, batch_size=st.batch_size, num_workers=workers, persistent_workers=False)
    return PhaseLoader(ds, dl, st), st


def make_phase_loader(
    params: Params,
    phase_index: int,
    shards_dir: str | Path | None = None,
    state: LoaderState | dict[str, Any] | None = None,
    *,
    batch_size: int | None = None,
    num_workers: int | None = None,
    verify: bool | None = None,
    loader_overrides: dict[str, Any] | None = None,
    heldout: HeldOut | None = None,
) -> tuple[PhaseLoader, LoaderState]:
    """Loader of curriculum phase `phase_index` (0-based) in `params.curriculum.order`; see the module docstring.

    `loader_overrides` replaces fields of `params.loader` (e.g. {"frames": 16, "size": 128}).
    `heldout`: the clips left out (default: the params' split of this shard set).
    Raises CurriculumError when the shard set cannot serve the phase."""
    shards_dir = Path(shards_dir or params.paths.shards_dir)
    manifest = read_manifest(shards_dir)
    if not 0 <= phase_index < len(params.curriculum.phases):
        raise CurriculumError(f"phase index {phase_index} out of range: the curriculum has {len(params.curriculum.phases)} phase(s) (0-based)")
    held = heldout if heldout is not None else training_heldout(params, manifest, shards_dir)
    plan = schedule(params.curriculum, manifest, phase_budgets(params.curriculum, params.train.batch_scale), held)[phase_index]
    if isinstance(plan, CurriculumError):
        raise plan
    bs = batch_size if batch_size is not None else params.curriculum.phases[phase_index].batch_size
    return _build(params, plan, manifest, shards_dir, state, bs, num_workers, verify, loader_overrides)


def make_tiers_loader(
    params: Params,
    shards_dir: str | Path | None = None,
    tiers: dict[int, float] | None = None,
    state: LoaderState | dict[str, Any] | None = None,
    *,
    batch_size: int = 4,
    num_workers: int | None = None,
    verify: bool | None = None,
    loader_overrides: dict[str, Any] | None = None,
    heldout: HeldOut | None = None,
) -> tuple[PhaseLoader, LoaderState]:
    """Loader over an explicit tier mix (default: all tiers, equal weight); no curriculum, no replay.
    `heldout`: the clips left out (default: the params' split of this shard set)."""
    shards_dir = Path(shards_dir or params.paths.shards_dir)
    manifest = read_manifest(shards_dir)
    held = heldout if heldout is not None else training_heldout(params, manifest, shards_dir)
    plan = plan_sources(tiers or {t: 1.0 for t in (1, 2, 3, 4, 5)}, manifest, heldout=held)
    return _build(params, plan, manifest, shards_dir, state, batch_size, num_workers, verify, loader_overrides)
