"""`run_caption`: clips.parquet -> captions.parquet + text_embeddings.npy + metrics/caption.json.

A per-item stage on the stage driver (`curation.driver`): one item per clip, reused
while the clip (id, file sha256, span, source path), its source's sidecar files, the
caption params, the captioner weights that would load and the vocabulary file are
unchanged (`curation.caption.fingerprint`).  Each stored row carries its caption's
text embedding, so a re-run embeds only new captions; `text_embeddings.npy` is
assembled from the stored rows in clips.parquet order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.caption.fingerprint import captioner_fingerprint, file_fingerprint, sidecar_fingerprints
from curation.caption.stage import CAPTION_ROWS, TASK_COLUMNS, VERSION, CaptionStage, caption_section_hash, default_threads, uncaptioned_row
from curation.caption.vocabulary import Vocabulary
from curation.config import Params
from curation.driver import CONTENT, ItemStageSpec, run_items
from curation.io.atomic import atomic_path, write_json
from curation.io.tables import read_table, write_table
from curation.params_base import stable_hash
from curation.schemas import CAPTIONS


@dataclass
class CaptionSummary:
    clips: int
    captioned: int
    uncaptioned: int
    embedding_dim: int
    text_encoder: str
    metrics: dict[str, Any] = field(default_factory=dict)
    counts: str = ""  # "processed N, reused M"

    def line(self) -> str:
        by_src = ", ".join(f"{k} {v}" for k, v in sorted(self.metrics.get("by_source", {}).items()))
        return (
            f"caption: {self.clips} clips, {self.captioned} captioned, {self.uncaptioned} uncaptioned"
            f" ({by_src or 'none'}); text embeddings {self.captioned}x{self.embedding_dim} ({self.text_encoder}); {self.counts}"
        )


def read_clip_items(clips_table: str | Path) -> pa.Table:
    """The clips table's task columns (+ clip_sha256), columnar."""
    path = Path(clips_table)
    if not path.exists():
        raise FileNotFoundError(f"{path}: clips table not found; run the ingest stage first")
    table = read_table(path)
    cols = [*TASK_COLUMNS, "clip_sha256"]
    missing = [c for c in cols if c not in table.column_names]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; re-run the ingest stage")
    return table.select(cols)


def caption_params_hash(params: Params) -> str:
    """Everything a caption row depends on besides the clip itself."""
    cp = params.caption
    return stable_hash(
        {"caption": caption_section_hash(cp), "captioner_weights": captioner_fingerprint(cp.captioner), "vocabulary": file_fingerprint(cp.vocabulary), "raw": str(params.paths.raw)}
    )


def _content(items: pa.Table, sidecars: dict[str, str]) -> pa.Array:
    cols = [items.column(c).to_pylist() for c in ("clip_id", "clip_sha256", "source_path", "start_s", "end_s")]
    return pa.array([f"{cid}|{sha}|{sp}|{s!r}|{e!r}|{sidecars[sp]}" for cid, sha, sp, s, e in zip(*cols, strict=True)], pa.string())


def _counts(col: pa.ChunkedArray | pa.Array) -> dict[str, int]:
    return {str(v["values"]): int(v["counts"]) for v in pc.value_counts(col).to_pylist() if v["values"] is not None}


def caption_metrics(t: pa.Table, encoder_name: str, dim: int, engine_errors: int) -> dict[str, Any]:
    captioned = t.filter(pc.is_valid(t.column("caption")))
    reasons = pc.drop_null(t.column("uncaptioned_reason"))
    short_reasons = pc.utf8_slice_codeunits(reasons, 0, 200)
    by_cat: dict[str, int] = {}
    for cats in captioned.column("tag_categories").to_pylist():  # one small list per clip, streamed
        for c in set(cats or []):
            by_cat[c] = by_cat.get(c, 0) + 1
    return {
        "clips": t.num_rows,
        "captioned": captioned.num_rows,
        "uncaptioned": t.num_rows - captioned.num_rows,
        "by_source": dict(sorted(_counts(t.column("caption_source")).items())),
        "by_language": dict(sorted(_counts(captioned.column("language")).items())),
        "by_language_source": dict(sorted(_counts(captioned.column("language_source")).items())),
        "captioner_weights": dict(sorted(_counts(captioned.column("captioner_weights")).items())),
        "uncaptioned_reasons": dict(sorted(_counts(pa.array([r.split(" (")[0] for r in short_reasons.to_pylist()], pa.string())).items())),
        "tagged_clips": int(pc.sum(pc.greater(pc.list_value_length(captioned.column("tags")), 0)).as_py() or 0),
        "by_tag_category": dict(sorted(by_cat.items())),
        "clips_with_sidecar_issues": int(pc.sum(pc.greater(pc.list_value_length(t.column("sidecar_issues")), 0)).as_py() or 0),
        "engine_errors": engine_errors,
        "text_encoder": encoder_name,
        "embedding_dim": dim,
    }


def write_embeddings(dest: str | Path, vectors: pa.ChunkedArray | pa.Array, dim: int) -> Path:
    """The non-null list<float32> vectors, in order, as a float32 [n, dim] .npy (written atomically)."""
    vectors = pc.drop_null(vectors)
    n = len(vectors)
    with atomic_path(dest) as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, dim))
        row = 0
        chunks = vectors.chunks if isinstance(vectors, pa.ChunkedArray) else [vectors]
        for chunk in chunks:
            if len(chunk) == 0:
                continue
            flat = chunk.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
            arr[row : row + len(chunk)] = flat.reshape(len(chunk), dim)
            row += len(chunk)
        arr.flush()
        del arr
    return Path(dest)


def run_caption(params: Params, progress: bool = True) -> CaptionSummary:
    """Caption every clip of `paths.clips_table`, embed the captions, write table, embeddings and metrics."""
    cp, paths = params.caption, params.paths
    Vocabulary.load(cp.vocabulary)  # a malformed vocabulary stops the run before any work
    items = read_clip_items(paths.clips_table)
    sidecars = sidecar_fingerprints(paths.raw, items.column("source_path").to_pylist(), cp.sidecar_extensions)
    items = items.append_column(CONTENT, _content(items, sidecars))
    del sidecars

    stage = CaptionStage(cp, paths.raw, paths.clips_dir, threads=default_threads(params.engine.workers))

    def error_rows(task: dict[str, Any], error: str) -> list[dict[str, Any]]:
        detail = error.strip().splitlines()[0][:200] if error.strip() else "error"
        return [uncaptioned_row(str(task["clip_id"]), f"caption stage error: {detail}", cp.default_language) | {"text_encoder": "none", "params_hash": stage.params_hash}]

    spec = ItemStageSpec(
        name="caption", stages=[stage], key="clip_id", outputs={"captions": CAPTION_ROWS}, params_hash=caption_params_hash(params),
        version=VERSION, task_columns=list(TASK_COLUMNS), error_rows=error_rows, batch_size=CaptionStage.batch_size,
    )  # fmt: skip
    run = run_items(spec, items, params.engine, paths.store("caption"), progress=progress)
    rows = run.outputs["captions"]

    captioned = pc.is_valid(rows.column("text_embedding"))
    emb_row = pc.subtract(pc.cumulative_sum(pc.cast(captioned, pa.int32())), pa.scalar(1, pa.int32()))
    emb_row = pc.if_else(captioned, emb_row, pa.scalar(-1, pa.int32()))
    lengths = pc.unique(pc.drop_null(pc.list_value_length(rows.column("text_embedding"))))
    if len(lengths) > 1:
        raise RuntimeError(f"caption store holds text embeddings of several sizes {lengths.to_pylist()}; delete {paths.store('caption')} and re-run")
    encoders = pc.unique(pc.filter(rows.column("text_encoder"), captioned)).to_pylist()
    if len(lengths):
        dim, encoder_name = int(lengths[0].as_py()), ",".join(sorted(encoders))
    else:  # nothing captioned: the .npy still has the encoder's width, [0, D]
        from curation.caption.text_encoder import load_text_encoder

        enc = load_text_encoder(cp.text_encoder)
        dim, encoder_name = int(enc.dim), enc.name
    write_embeddings(paths.text_embeddings, rows.column("text_embedding"), dim)
    captions = rows.append_column("embedding_row", emb_row).select(CAPTIONS.names).cast(CAPTIONS)
    write_table(captions, paths.captions_table)
    metrics = caption_metrics(captions, encoder_name, dim, run.failed)
    write_json(Path(paths.metrics_dir) / "caption.json", metrics)
    summary = CaptionSummary(captions.num_rows, metrics["captioned"], metrics["uncaptioned"], dim, encoder_name, metrics, run.counts())
    print(summary.line() + run.nodes_note(), flush=True)
    return summary
