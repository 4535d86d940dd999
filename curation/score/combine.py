"""The combine step of score: measured columns -> difficulty, caption similarity, near-duplicates.

Runs in the driver on the stored measurements (columnar, numpy; no decode, no flow, no
CLIP), so changing `score.weights` or `score.dedup_threshold` only re-runs this:

* normalized components and difficulty: `curation.score.difficulty.difficulty_arrays`
  (rows with `score_error` get none);
* caption_similarity: cosine of the caption's CLIP text embedding (`ClipTextStage`) and
  the clip's mean image embedding, null for uncaptioned clips;
* near-duplicates: `curation.score.dedup.duplicates` on CLIP embeddings (real weights) or
  thumbnail signatures (random-init), keeping the first clip in (source_path, start_s,
  clip_id) order.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.config import ScoreParams
from curation.labels import RANDOM_INIT
from curation.schemas import SCORES
from curation.score import difficulty as diff
from curation.score.dedup import CLIP_COSINE, THUMBNAIL, dedup_order, duplicates


def _floats(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return pc.fill_null(pc.cast(col, pa.float64()), np.nan).to_numpy(zero_copy_only=False).astype(np.float64)


def vectors(col: pa.ChunkedArray | pa.Array, dim: int | None = None) -> np.ndarray:
    """[n, d] float32 from a list<float32> column; NaN rows where null or of another length.

    Chunk by chunk straight into the output (no combined copy of the column)."""
    chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
    if dim is None:
        lengths = [pc.max(pc.list_value_length(c)).as_py() for c in chunks if len(c)]
        dim = int(max((x for x in lengths if x is not None), default=0))
    out = np.full((len(col), dim), np.nan, np.float32)
    row = 0
    for c in chunks:
        n = len(c)
        if n and dim:
            ok = pc.fill_null(pc.equal(pc.list_value_length(c), dim), False).to_numpy(zero_copy_only=False)
            if ok.any():
                sel = c if ok.all() else c.filter(pa.array(ok))
                flat = pc.list_flatten(sel).to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
                out[row : row + n][ok] = flat.reshape(-1, dim)
        row += n
    return out


def caption_similarity(image: np.ndarray, text: np.ndarray) -> np.ndarray:
    """Row-wise cosine of unit vectors (float64; NaN where either is missing)."""
    if image.shape[1] == 0 or text.shape != image.shape:
        return np.full(len(image), np.nan)
    return np.einsum("ij,ij->i", image, text).astype(np.float64)


def combine(
    measures: pa.Table,
    source_path: pa.ChunkedArray | pa.Array,
    start_s: pa.ChunkedArray | pa.Array,
    caption_text_sha: pa.ChunkedArray | pa.Array,
    text_embeddings: Mapping[str, np.ndarray],
    params: ScoreParams,
    weights: str,
    measure_hash: str,
    params_hash: str,
) -> pa.Table:
    """The SCORES table, row for row with `measures` (clips.parquet order)."""
    n = measures.num_rows
    failed = pc.is_valid(measures.column("score_error")).to_numpy(zero_copy_only=False)
    real = weights != RANDOM_INIT
    raw = {name: np.where(failed, np.nan, _floats(measures.column(name))) for name in diff.COMPONENTS}
    d, normalized, used = diff.difficulty_arrays(raw, params.weights, real)
    comps = [[name for name in diff.COMPONENTS if used[name][i]] for i in range(n)]

    image = vectors(measures.column("clip_embedding"))
    shas = caption_text_sha.to_pylist() if not isinstance(caption_text_sha, list) else caption_text_sha
    text = np.full_like(image, np.nan)
    for i, sha in enumerate(shas):
        vec = text_embeddings.get(sha) if sha else None
        if vec is not None and len(vec) == image.shape[1]:
            text[i] = vec
    sim = caption_similarity(image, text)

    method = CLIP_COSINE if real else THUMBNAIL
    vec = image.copy() if real else vectors(measures.column("thumb_signature"))
    vec[failed] = np.nan
    ids = measures.column("clip_id").to_pylist()
    order = dedup_order(source_path.to_pylist(), start_s.to_pylist(), ids)
    dup_of, dup_sim = duplicates(vec, order, method, params.dedup_threshold) if n else (np.zeros(0, np.int64), np.zeros(0))
    del vec, text, image

    cols: dict[str, pa.Array | pa.ChunkedArray] = {name: measures.column(name) for name in measures.column_names if name in SCORES.names and name != "params_hash"}
    cols["caption_similarity"] = pa.array(sim, pa.float64(), from_pandas=True)
    for name in diff.COMPONENTS:
        cols[f"n_{name}"] = pa.array(normalized[f"n_{name}"], pa.float64(), from_pandas=True)
    cols["difficulty"] = pa.array(d, pa.float64(), from_pandas=True)
    cols["difficulty_components"] = pa.array(comps, pa.list_(pa.string()))
    cols["difficulty_formula"] = pa.array([diff.FORMULA_VERSION] * n, pa.string())
    cols["is_duplicate"] = pa.array(dup_of >= 0, pa.bool_())
    cols["duplicate_of"] = pa.array([ids[j] if j >= 0 else None for j in dup_of], pa.string())
    cols["duplicate_similarity"] = pa.array(dup_sim, pa.float64(), from_pandas=True)
    cols["dedup_method"] = pa.array([method] * n, pa.string())
    cols["measure_params_hash"] = pa.array([measure_hash] * n, pa.string())
    cols["params_hash"] = pa.array([params_hash] * n, pa.string())
    cols["clip_weights"] = pc.fill_null(measures.column("clip_weights"), weights)
    return pa.table({name: cols[name] for name in SCORES.names}).cast(SCORES)
