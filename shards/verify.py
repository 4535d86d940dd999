"""Verify a shard set against its manifest: `verify_manifest(dir) -> VerifyReport`.

For every listed shard: the file exists, its size and sha256 match, it is a
readable tar whose members are all regular files named `<key>.<ext>` (known
extensions, safe keys), grouped by key, and its sample count and first/last key
match the manifest.  Across the set: tier ranks are contiguous, the per-tier and
overall totals add up, and no unlisted `*.tar` lies under the directory.  Temp
files left by a killed write are reported as warnings (the next write removes them).
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curation.io.atomic import TEMP_MARK
from curation.io.hashing import sha256_file
from shards.manifest import MANIFEST_NAME, MEMBERS, TIERS, ManifestError, read_manifest, shard_path
from shards.tarformat import valid_key


@dataclass
class VerifyReport:
    root: str
    ok: bool = True
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    shards_checked: int = 0
    samples: int = 0
    bytes: int = 0

    def error(self, msg: str) -> None:
        self.ok = False
        self.errors.append(msg)

    def format(self) -> str:
        head = "OK" if self.ok else "FAILED"
        lines = [f"{head}: {self.root}: {self.shards_checked} shard(s), {self.samples} sample(s), {self.bytes} bytes checked"]
        lines += [f"  error: {e}" for e in self.errors]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("root", "ok", "errors", "warnings", "shards_checked", "samples", "bytes")}


def split_member(name: str) -> tuple[str, str] | None:
    """`key.ext` -> (key, ext) for a valid member name of this format, else None."""
    if "/" in name or "\\" in name or "." not in name:
        return None
    key, ext = name.split(".", 1)
    if not valid_key(key) or ext not in MEMBERS:
        return None
    return key, ext


def scan_tar(path: Path) -> tuple[list[str], list[str]]:
    """(sample keys in order, problems) from the tar's member headers."""
    keys: list[str] = []
    problems: list[str] = []
    seen: set[str] = set()
    try:
        with tarfile.open(path, mode="r:") as tar:
            for ti in tar:
                if not ti.isreg():
                    problems.append(f"member {ti.name!r} is not a regular file")
                    continue
                parts = split_member(ti.name)
                if parts is None:
                    problems.append(f"member {ti.name!r} is not <key>.<{'|'.join(MEMBERS)}>")
                    continue
                key = parts[0]
                if not keys or keys[-1] != key:
                    if key in seen:
                        problems.append(f"sample {key!r} is split across the tar")
                    seen.add(key)
                    keys.append(key)
    except (tarfile.TarError, OSError, EOFError) as exc:
        problems.append(f"not a readable tar: {exc}")
    return keys, problems


def verify_manifest(root: str | Path, check_hashes: bool = True) -> VerifyReport:
    root = Path(root)
    report = VerifyReport(root=str(root))
    try:
        manifest = read_manifest(root)
    except ManifestError as exc:
        report.error(str(exc))
        return report

    listed: set[Path] = set()
    per_tier: dict[int, list[dict[str, Any]]] = {t: [] for t in TIERS}
    for entry in manifest["shards"]:
        try:
            path = shard_path(root, entry)
        except ManifestError as exc:
            report.error(str(exc))
            continue
        rel = entry["path"]
        listed.add(path.resolve())
        tier = int(entry.get("tier", -1))
        if tier not in per_tier or not rel.startswith(f"tier{tier}/"):
            report.error(f"{rel}: tier {entry.get('tier')!r} does not match its path")
            continue
        per_tier[tier].append(entry)
        if not path.is_file():
            report.error(f"{rel}: shard listed in the manifest is missing")
            continue
        report.shards_checked += 1
        size = path.stat().st_size
        report.bytes += size
        if size != entry["bytes"]:
            report.error(f"{rel}: size {size} bytes, manifest says {entry['bytes']}")
        if check_hashes:
            sha = sha256_file(path)
            if sha != entry["sha256"]:
                report.error(f"{rel}: sha256 mismatch (file {sha[:16]}..., manifest {str(entry['sha256'])[:16]}...): the shard was modified or corrupted")
        keys, problems = scan_tar(path)
        for p in problems:
            report.error(f"{rel}: {p}")
        report.samples += len(keys)
        if len(keys) != entry["samples"]:
            report.error(f"{rel}: {len(keys)} samples, manifest says {entry['samples']}")
        elif keys and (keys[0] != entry["first_key"] or keys[-1] != entry["last_key"]):
            report.error(f"{rel}: first/last key {keys[0]}/{keys[-1]} differ from the manifest's {entry['first_key']}/{entry['last_key']}")

    for tier, entries in per_tier.items():
        entries.sort(key=lambda e: int(e["index"]))
        rank = 0
        for i, e in enumerate(entries):
            if int(e["index"]) != i or int(e["first_index"]) != rank:
                report.error(f"{e['path']}: shard index/rank range is not contiguous within tier {tier}")
            rank += int(e["samples"])
        summary = manifest.get("tiers", {}).get(str(tier), {})
        if summary.get("samples") != rank or summary.get("shards") != len(entries):
            report.error(f"tier {tier}: manifest totals ({summary.get('shards')} shards, {summary.get('samples')} samples) do not match its shard list ({len(entries)}, {rank})")
    totals = manifest.get("totals", {})
    if totals.get("samples") != sum(int(e["samples"]) for e in manifest["shards"]) or totals.get("shards") != len(manifest["shards"]):
        report.error("manifest totals do not match its shard list")

    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if TEMP_MARK in p.name:
            report.warnings.append(f"{rel}: temp file left by an interrupted write (removed by the next `shards write`)")
        elif any(TEMP_MARK in part for part in rel.parts):
            continue  # inside a leftover temp directory, reported above
        elif p.is_file() and p.suffix == ".tar" and p.resolve() not in listed:
            report.error(f"{rel}: extra shard not listed in {MANIFEST_NAME}")
    return report
