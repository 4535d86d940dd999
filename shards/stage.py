"""The shard stage: tiers table + text embeddings -> one WebDataset shard set per tier.

`run_shard(params)` is the library entry point (pipelines/shard.py and `shards write`
call it); `write_shard_set(...)` is the same with explicit paths.

Output, under `paths.shards_dir`:

    tier{k}/tier{k}-000000.tar ...   shards of tier k (1..5); tier 0 (excluded) is not sharded
    manifest.json                     every shard with sha256/bytes/samples/hours (see shards.manifest)

and `<metrics_dir>/shards.json` (shards / samples / hours / bytes per tier, skipped rows by reason).

Samples inside a tier are ordered by (difficulty, clip_id), so the hardest clips of a
tier are its last ranks: the curriculum loader's replay reads only the last shards.
The whole set is built in a temp directory beside `shards_dir` and swapped in when
complete (manifest last), so readers never see a half-written set, stale shards of
an earlier run disappear, and a killed run leaves only a temp directory that the
next run removes.  The stage is sequential on purpose: it is a single ordered
stream of file copies (I/O bound), not per-clip compute, so it does not use an engine.

Rows that cannot be sharded never stop the run; they are listed in the manifest's
`skipped` with a reason: bad_key, bad_tier, duplicate_clip_id, missing_difficulty,
clip_path_outside_clips_dir, clip_missing, clip_sha256_mismatch, bad_embedding_row.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from curation.config import Params, ShardParams, section_hash
from curation.io.atomic import TEMP_MARK, atomic_dir, remove_stale_temps, write_json
from curation.io.hashing import sha256_file
from shards.manifest import MANIFEST_VERSION, TIERS, ManifestError, build_manifest, read_manifest, shard_path, tier_shards, write_manifest
from shards.samples import encode_sample
from shards.tarformat import KEY_RE
from shards.writer import ShardInfo, TierShardWriter

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("clip_id", "tier", "clip_path", "difficulty")
#: tiers-table columns the shard stage never reads (bulky score internals; named in each sample's
#: `omitted_columns`, as samples.JSON_EXCLUDED)
NOT_READ = frozenset({"clip_embedding", "thumb_signature"})
#: a valid sample key (tarformat.KEY_RE), for Arrow's regex match
KEY_PATTERN = KEY_RE.pattern


class Skip(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def clean_stale_temps(out_dir: Path) -> list[Path]:
    """Remove temp dirs/files a killed shard write left beside or inside `out_dir`."""
    removed: list[Path] = []
    if out_dir.parent.is_dir():
        for p in sorted(out_dir.parent.glob(f".{out_dir.name}{TEMP_MARK}*")):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            removed.append(p)
    if out_dir.is_dir():
        removed += remove_stale_temps(out_dir)
    return removed


def _load_embeddings(path: Path | None) -> np.ndarray | None:
    if path is None or not path.exists():
        return None
    emb = np.load(path, mmap_mode="r", allow_pickle=False)
    if emb.ndim != 2:
        raise ValueError(f"{path}: text embeddings must be a 2-D array [N, D], got shape {emb.shape}")
    return emb


def _resolve_clip(row: dict[str, Any], clips_root: Path, verify: bool = True) -> Path:
    raw = row.get("clip_path")
    if not isinstance(raw, str) or not raw:
        raise Skip("clip_missing", "no clip_path")
    path = Path(raw).resolve()
    if not path.is_relative_to(clips_root):
        raise Skip("clip_path_outside_clips_dir", f"{raw!r} is not inside {clips_root}")
    if not path.is_file():
        raise Skip("clip_missing", f"{raw!r} does not exist")
    if verify:
        _verify_clip(row, path)
    return path


def _verify_clip(row: dict[str, Any], path: Path) -> None:
    """The clip file's bytes are the ones the table recorded (reads the whole file)."""
    want = row.get("clip_sha256")
    if isinstance(want, str) and want:
        got = sha256_file(path)
        if got != want:
            raise Skip("clip_sha256_mismatch", f"{row.get('clip_path')!r} has sha256 {got[:16]}..., table says {want[:16]}...")


def _embedding(row: dict[str, Any], emb: np.ndarray | None) -> np.ndarray | None:
    r = row.get("embedding_row")
    if r is None or int(r) < 0:
        return None
    r = int(r)
    if emb is None or r >= emb.shape[0]:
        raise Skip("bad_embedding_row", f"embedding_row {r} not in the embeddings file ({0 if emb is None else emb.shape[0]} rows)")
    return np.asarray(emb[r], dtype=np.float32)


def _invalid_rows(table: pa.Table) -> tuple[pa.Array, list[dict[str, Any]], int]:
    """(mask of shardable rows, skipped rows with reasons, count of tier-0 rows) - columnar checks."""
    n = table.num_rows
    cid = pc.cast(table.column("clip_id"), pa.string())
    tier = pc.cast(table.column("tier"), pa.float64())
    diff = pc.cast(table.column("difficulty"), pa.float64())
    bad_key = pc.invert(pc.fill_null(pc.match_substring_regex(cid, KEY_PATTERN), False))
    # the first row of a clip_id in clip_id order is kept (sort is stable)
    order = pc.sort_indices(pa.table({"c": cid, "i": pa.array(range(n), pa.int64())}), sort_keys=[("c", "ascending"), ("i", "ascending")])
    sorted_ids = cid.take(order).to_pylist()
    dup = np.zeros(n, bool)
    for a in range(1, n):
        if sorted_ids[a] is not None and sorted_ids[a] == sorted_ids[a - 1]:
            dup[order[a].as_py()] = True
    tier_np = pc.fill_null(tier, np.nan).to_numpy(zero_copy_only=False)
    bad_tier = ~(np.isfinite(tier_np) & np.isin(tier_np, (0, *TIERS)))
    diff_np = pc.fill_null(diff, np.nan).to_numpy(zero_copy_only=False)
    bad_key_np = bad_key.to_numpy(zero_copy_only=False)
    excluded = ~bad_key_np & ~dup & ~bad_tier & (tier_np == 0)
    no_diff = ~bad_key_np & ~dup & ~bad_tier & (tier_np != 0) & ~np.isfinite(diff_np)
    skipped: list[dict[str, Any]] = []
    for i in np.flatnonzero(bad_key_np | dup | bad_tier | no_diff):
        c = cid[int(i)].as_py()
        if bad_key_np[i]:
            skipped.append({"clip_id": str(c), "reason": "bad_key", "detail": "clip_id must match [A-Za-z0-9][A-Za-z0-9_-]{0,63}"})
        elif dup[i]:
            skipped.append({"clip_id": c, "reason": "duplicate_clip_id", "detail": "clip_id appears more than once; first row kept"})
        elif bad_tier[i]:
            skipped.append({"clip_id": c, "reason": "bad_tier", "detail": f"tier {table.column('tier')[int(i)].as_py()!r} is not 0..5"})
        else:
            skipped.append({"clip_id": c, "reason": "missing_difficulty", "detail": f"difficulty {diff[int(i)].as_py()!r}"})
    ok = ~(bad_key_np | dup | bad_tier | no_diff | excluded)
    return pa.array(ok), skipped, int(excluded.sum())


def _tier_rows(table: pa.Table, ok: pa.Array, tier: int) -> pa.Table:
    """The shardable rows of one tier in sample order: (difficulty, clip_id)."""
    t = table.filter(pc.and_(ok, pc.equal(pc.cast(table.column("tier"), pa.int64()), tier)))
    return t.take(pc.sort_indices(t, sort_keys=[("difficulty", "ascending"), ("clip_id", "ascending")]))


def _iter_rows(t: pa.Table, chunk: int = 512):
    for batch in t.to_batches(max_chunksize=chunk):
        yield from batch.to_pylist()


def _shard_metrics(manifest: dict[str, Any]) -> dict[str, Any]:
    tiers = {t: {k: v[k] for k in ("shards", "samples", "hours", "bytes")} for t, v in manifest["tiers"].items()}
    reasons = Counter(r["reason"] for r in manifest["skipped"])
    return {
        "tiers": tiers,
        "totals": manifest["totals"],
        "excluded": manifest["excluded"],
        "skipped": len(manifest["skipped"]),
        "skipped_by_reason": dict(sorted(reasons.items())),
        "oversize_shards": sum(1 for s in manifest["shards"] if s["oversize"]),
    }


def _previous(out_dir: Path) -> dict[str, Any] | None:
    try:
        return read_manifest(out_dir)
    except ManifestError:
        return None


def _reusable(prev: dict[str, Any] | None, out_dir: Path, tier: int, digest: str) -> list[dict[str, Any]] | None:
    """The previous set's shard entries of `tier` when its digest matches and its files are intact (size)."""
    if prev is None or str(prev.get("tiers", {}).get(str(tier), {}).get("digest")) != digest:
        return None
    entries = tier_shards(prev, tier)
    for e in entries:
        try:
            if shard_path(out_dir, e).stat().st_size != int(e["bytes"]):
                return None
        except (OSError, ManifestError, KeyError, ValueError):
            return None
    return entries


def _link(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)  # same filesystem (the set is built beside the old one): free
    except OSError:
        shutil.copy2(src, dest)


def write_shard_set(
    tiers_table: str | Path,
    out_dir: str | Path,
    shard: ShardParams,
    *,
    clips_root: str | Path,
    text_embeddings: str | Path | None = None,
    metrics_path: str | Path | None = None,
    text_dim_fallback: int = 384,
    progress: bool = True,
    captions: dict[str, tuple[str, np.ndarray]] | None = None,
) -> dict[str, Any]:
    """Write the shard set for `tiers_table` into `out_dir`; returns the manifest (also written).

    `captions` (clip_id -> (training caption, its text embedding)) replaces a sample's caption
    and embedding: the enriched captions of `caption.append_signals` (see `enriched_captions`);
    the sample json keeps the plain one as `caption_plain`.

    Columnar: the table is read without its bulky vector columns, checked with Arrow
    compute, and each tier is streamed in sample order one record batch at a time.  A tier
    whose samples are exactly those of the previous set (same digest over every sample's
    metadata, caption, embedding, flow curve, and its clip's recorded sha256 and file size;
    a reused tier's clip files are not re-hashed) keeps its shard files
    (hard links into the new set): a re-run after adding a few clips rewrites only the
    tiers they changed.  `manifest["reuse"]` says which tiers were written and reused."""
    tiers_table, out_dir, clips_root = Path(tiers_table), Path(out_dir), Path(clips_root).resolve()
    emb_path = Path(text_embeddings) if text_embeddings else None
    removed = clean_stale_temps(out_dir)
    if removed:
        log.info("removed %d stale temp file(s) of an interrupted shard write", len(removed))

    schema = pq.read_schema(tiers_table)
    missing = [c for c in REQUIRED_COLUMNS if c not in schema.names]
    if missing:
        raise ValueError(f"{tiers_table}: missing columns {missing}; re-run the tier stage")
    not_read = sorted(c for c in schema.names if c in NOT_READ)
    table = pq.read_table(tiers_table, columns=[c for c in schema.names if c not in NOT_READ])
    emb = _load_embeddings(emb_path)
    if emb is None and "embedding_row" in table.column_names and pc.any(pc.greater_equal(pc.fill_null(table.column("embedding_row"), -1), 0)).as_py():
        raise FileNotFoundError(f"{emb_path}: text embeddings file not found, but the tiers table references it; re-run the caption stage")
    text_dim = int(emb.shape[1]) if emb is not None else int(text_dim_fallback)

    ok, skipped, excluded = _invalid_rows(table)
    params_hash = section_hash(shard)
    prev = _previous(out_dir)
    prev_skipped = {str(r.get("clip_id")): r for r in (prev or {}).get("skipped", [])}
    shards: list[ShardInfo] = []
    digests: dict[int, str] = {}
    written: list[int] = []
    reused: list[int] = []
    total = int(pc.sum(pc.cast(ok, pa.int64())).as_py() or 0)

    def encoded(rows: pa.Table, tier_skipped: list[dict[str, Any]]):
        """(sample, clip path) for every shardable row of a tier, in order (no clip bytes read)."""
        rank = 0
        for row in _iter_rows(rows):
            try:
                clip = _resolve_clip(row, clips_root, verify=False)
                vec = _embedding(row, emb)
                if captions is not None and row["clip_id"] in captions:
                    text, vec = captions[row["clip_id"]]
                    row = {**row, "caption": text, "caption_plain": row.get("caption")}
                if vec is not None and vec.shape != (text_dim,):
                    raise Skip("bad_embedding_row", f"embedding has shape {vec.shape}, expected ({text_dim},)")
            except Skip as sk:
                tier_skipped.append({"clip_id": row["clip_id"], "reason": sk.reason, "detail": sk.detail})
                continue
            sample = encode_sample(row, clip_file=clip, clip_size=clip.stat().st_size, tier_rank=rank, embedding=vec, text_dim=text_dim,
                                   include_flow_curve=shard.include_flow_curve, shard_params_hash=params_hash, not_read=not_read)  # fmt: skip
            yield row, sample, clip
            rank += 1

    with atomic_dir(out_dir) as tmp, tqdm(total=total, desc="shard", unit="clip", disable=not progress) as bar:
        for tier in TIERS:
            rows = _tier_rows(table, ok, tier)
            h = hashlib.sha256(f"{params_hash}|{text_dim}|{MANIFEST_VERSION}".encode())
            first_pass: list[dict[str, Any]] = []
            for row, sample, clip in encoded(rows, first_pass):
                # the clip by its recorded sha256 and its size (no mtime: two clean runs give the same manifest)
                h.update(f"{sample.key}|{row.get('clip_sha256')}|{clip.stat().st_size}".encode())
                for m in sample.members:
                    if m.data is not None:
                        h.update(m.name.encode())
                        h.update(m.data)
            digests[tier] = h.hexdigest()
            entries = _reusable(prev, out_dir, tier, digests[tier])
            if entries is not None:
                for e in entries:
                    _link(shard_path(out_dir, e), tmp / e["path"])
                    shards.append(ShardInfo(**{f: e[f] for f in ShardInfo.__dataclass_fields__}))
                tier_ids = set(rows.column("clip_id").to_pylist())
                skipped += first_pass + [r for cid, r in prev_skipped.items() if cid in tier_ids and r.get("reason") == "clip_sha256_mismatch"]
                reused.append(tier)
                bar.update(rows.num_rows)
                continue
            writer = TierShardWriter(tmp, tier, shard.max_bytes, shard.max_samples)
            tier_skipped: list[dict[str, Any]] = []
            rank = 0
            for row, sample, clip in encoded(rows, tier_skipped):
                bar.update(1)
                try:
                    _verify_clip(row, clip)
                except Skip as sk:
                    tier_skipped.append({"clip_id": row["clip_id"], "reason": sk.reason, "detail": sk.detail})
                    continue
                if sample.tier_rank != rank:  # a skipped clip before it: ranks stay contiguous
                    vec = captions[row["clip_id"]][1] if captions is not None and row["clip_id"] in captions else _embedding(row, emb)
                    sample = encode_sample(row, clip_file=clip, clip_size=clip.stat().st_size, tier_rank=rank, embedding=vec, text_dim=text_dim,
                                           include_flow_curve=shard.include_flow_curve, shard_params_hash=params_hash, not_read=not_read)  # fmt: skip
                writer.add(sample)
                rank += 1
            shards += writer.close()
            skipped += tier_skipped
            written.append(tier)
        inputs = {
            "tiers_table": str(tiers_table),
            "tiers_table_sha256": sha256_file(tiers_table),
            "text_embeddings": str(emb_path) if emb_path else None,
            "text_embeddings_sha256": sha256_file(emb_path) if emb is not None and emb_path else None,
            "rows": table.num_rows,
        }
        manifest = build_manifest(
            shards,
            shard_params=shard.model_dump(mode="json"),
            shard_params_hash=params_hash,
            text_dim=text_dim,
            inputs=inputs,
            excluded=excluded,
            skipped=skipped,
            tier_digests={str(t): d for t, d in digests.items()},
        )
        write_manifest(tmp, manifest)
    if metrics_path is not None:
        write_json(metrics_path, _shard_metrics(manifest))
    manifest["reuse"] = {"written_tiers": written, "reused_tiers": reused}  # per run: not in the manifest file
    return manifest


def enriched_captions(params: Params, progress: bool = True) -> dict[str, tuple[str, np.ndarray]]:
    """clip_id -> (caption + "; camera: ...; motion: ...", its embedding) for every captioned, tiered
    clip (`caption.append_signals`).  The embeddings come from a per-item stage keyed by the text,
    so a re-run embeds only new texts (store `shard-text`)."""
    from curation.caption.embed_stage import TEXT_EMBEDDINGS, VERSION, TextEmbedStage, text_sha256
    from curation.caption.enrich import append_signals, motion_level
    from curation.driver import CONTENT, ItemStageSpec, run_items
    from curation.engines import light_engine
    from curation.score.combine import vectors

    cp = params.caption
    cols = ["clip_id", "tier", "caption", "camera_motion", "camera_motion_confidence", "flow_mean"]
    have = set(pq.read_schema(params.paths.tiers_table).names)
    t = pq.read_table(params.paths.tiers_table, columns=[c for c in cols if c in have])
    n = t.num_rows
    get = lambda c: t.column(c).to_pylist() if c in t.column_names else [None] * n  # noqa: E731
    texts: dict[str, str] = {}
    for cid, tier, cap, cam, conf, flow in zip(get("clip_id"), get("tier"), get("caption"), get("camera_motion"), get("camera_motion_confidence"), get("flow_mean"), strict=True):
        if tier and cap and cap.strip():
            texts[cid] = append_signals(cap, cam, motion_level(flow, cp.enrich), camera_confidence=conf, params=cp.enrich)
    distinct = sorted(set(texts.values()))
    shas = [text_sha256(x) for x in distinct]
    spec = ItemStageSpec(
        name="shard-text", stages=[TextEmbedStage(cp.text_encoder)], key="text_sha256", outputs={"texts": TEXT_EMBEDDINGS},
        params_hash=section_hash(cp.text_encoder), version=VERSION, task_columns=["text_sha256", "text"], batch_size=TextEmbedStage.batch_size,
        error_rows=lambda task, err: [{"text_sha256": task["text_sha256"], "text_embedding": None, "text_encoder": None}],
    )  # fmt: skip
    run = run_items(spec, pa.table({"text_sha256": shas, "text": distinct, CONTENT: shas}), light_engine(params.engine, spec.stages), params.paths.store("shard-text"), progress=progress)
    out_t = run.outputs["texts"]
    vecs = vectors(out_t.column("text_embedding"))
    by_sha = {sha: vecs[i] for i, sha in enumerate(out_t.column("text_sha256").to_pylist()) if not np.isnan(vecs[i]).any()}
    print(f"shard-text: {len(texts)} enriched training captions, {len(distinct)} distinct; {run.counts()}", flush=True)
    return {cid: (text, by_sha[text_sha256(text)]) for cid, text in texts.items() if text_sha256(text) in by_sha}


def run_shard(params: Params, progress: bool = True) -> dict[str, Any]:
    """The shard stage with paths from params; returns the manifest."""
    p = params.paths
    # `shard-text` is a declared (persist) output of the DVC stage: it exists, empty, when
    # caption.append_signals is off, so `dvc repro` finds every output it was promised.
    p.store("shard-text").mkdir(parents=True, exist_ok=True)
    return write_shard_set(
        p.tiers_table,
        p.shards_dir,
        params.shard,
        clips_root=p.clips_dir,
        text_embeddings=p.text_embeddings,
        metrics_path=Path(p.metrics_dir) / "shards.json",
        text_dim_fallback=params.model.backbone.text_dim,
        progress=progress,
        captions=enriched_captions(params, progress) if params.caption.append_signals else None,
    )
