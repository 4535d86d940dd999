"""Size- and count-bounded rolling shard writer for one tier.

`TierShardWriter(root, tier, max_bytes, max_samples)` takes encoded samples in
their final order and writes `root/tier{k}/tier{k}-000000.tar`, `-000001.tar`, ...
Each shard is written to a temp file beside it and renamed when complete
(`curation.io.atomic`), and holds at most `max_samples` samples and at most
`max_bytes` bytes (exact tar size, computed before writing).  A single sample
larger than `max_bytes` gets a shard of its own, flagged `oversize` in the manifest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from curation.io.atomic import atomic_path
from shards.samples import EncodedSample
from shards.tarformat import DeterministicTar, tar_size


def tier_dirname(tier: int) -> str:
    return f"tier{int(tier)}"


def shard_relpath(tier: int, index: int) -> str:
    return f"{tier_dirname(tier)}/{tier_dirname(tier)}-{index:06d}.tar"


@dataclass(frozen=True)
class ShardInfo:
    path: str  # relative to the shard-set root, POSIX separators
    tier: int
    index: int
    sha256: str
    bytes: int
    samples: int
    hours: float
    first_index: int  # tier_rank of the shard's first sample; ranks are contiguous within a tier
    first_key: str
    last_key: str
    difficulty_min: float
    difficulty_max: float
    oversize: bool  # a single sample larger than shard.max_bytes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TierShardWriter:
    def __init__(self, root: str | Path, tier: int, max_bytes: int, max_samples: int):
        self.root = Path(root)
        self.tier = int(tier)
        self.max_bytes = int(max_bytes)
        self.max_samples = int(max_samples)
        self.shards: list[ShardInfo] = []
        self._pending: list[EncodedSample] = []
        self._pending_bytes = 0

    def add(self, sample: EncodedSample) -> None:
        if sample.tier != self.tier:
            raise ValueError(f"sample {sample.key} is tier {sample.tier}, writer is tier {self.tier}")
        if self._pending and (
            len(self._pending) + 1 > self.max_samples or tar_size(self._pending_bytes + sample.tar_bytes) > self.max_bytes
        ):
            self._flush()
        self._pending.append(sample)
        self._pending_bytes += sample.tar_bytes

    def close(self) -> list[ShardInfo]:
        if self._pending:
            self._flush()
        return self.shards

    def _flush(self) -> None:
        samples, self._pending, members_bytes, self._pending_bytes = self._pending, [], self._pending_bytes, 0
        index = len(self.shards)
        rel = shard_relpath(self.tier, index)
        dest = self.root / rel
        with atomic_path(dest) as tmp, open(tmp, "wb") as fh:
            tar = DeterministicTar(fh)
            for s in samples:
                for m in s.members:
                    if m.data is not None:
                        tar.add_bytes(m.name, m.data)
                    else:
                        assert m.path is not None
                        tar.add_file(m.name, m.path, m.size)
            sha, nbytes = tar.close()
        expected = tar_size(members_bytes)
        if nbytes != expected:  # a clip file changed size while being copied
            dest.unlink()
            raise RuntimeError(f"{rel}: wrote {nbytes} bytes, expected {expected}; a clip file changed during sharding")
        diffs = [s.difficulty for s in samples]
        self.shards.append(
            ShardInfo(
                path=rel,
                tier=self.tier,
                index=index,
                sha256=sha,
                bytes=nbytes,
                samples=len(samples),
                hours=round(sum(s.duration_s for s in samples) / 3600.0, 9),
                first_index=samples[0].tier_rank,
                first_key=samples[0].key,
                last_key=samples[-1].key,
                difficulty_min=min(diffs),
                difficulty_max=max(diffs),
                oversize=nbytes > self.max_bytes,
            )
        )
