"""Near-duplicate clips: greedy clustering in a deterministic order.

Order: clips sorted by (source_path, start_s, clip_id) - the clip that comes
first in the corpus is the one kept.  Each clip is compared with every clip
kept so far; if its best similarity is above `score.dedup_threshold` it is
flagged `is_duplicate` with `duplicate_of` = that kept clip (the most similar
one; ties go to the earlier clip), otherwise it is kept.  Comparing only with
kept clips means a chain a~b~c never makes c a duplicate of a dropped b.

Similarity (`dedup_method`):
* "clip-cosine": cosine of the L2-normalized mean CLIP image embeddings.  Used
  when the CLIP weights are real.
* "thumbnail": 1 - RMS(a - b) / 255 over the clips' `thumb_signature` (four
  RGB 8x8 thumbnails at fixed relative times, see `curation.score.signals`).
  Used when the CLIP weights are random-init: random CLIP features are a
  fixed random projection of pixels that squashes many unrelated clips
  together (cosines of 0.99 between different scenes are common), so they
  cannot tell duplicates apart; the thumbnails are a real content signal.
  An exact re-encode differs by ~1-3 grey levels RMS (similarity ~0.99), a
  different shot by tens of levels; 0.97 means within ~7.6 levels RMS.  It
  catches re-encodes, resizes and small crops of the same footage aligned in
  time, not re-timed or heavily re-cropped copies.

Cost: O(N x kept) similarities, computed block-wise against the kept set
(matrix products; float32 cosines, exact float64 thumbnail distances), a minute or
less for 60,000 clips on two cores; memory: the vectors plus one slice of products.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

CLIP_COSINE = "clip-cosine"
THUMBNAIL = "thumbnail"

#: kept vectors are compared in slices of this many rows (bounds the float64 temporaries)
KEPT_SLICE = 8192


def dedup_order(source_path: Sequence[str], start_s: Sequence[float], clip_id: Sequence[str]) -> np.ndarray:
    """Positions in keep-first order: by (source_path, start_s, clip_id)."""
    return np.asarray(sorted(range(len(clip_id)), key=lambda i: (str(source_path[i] or ""), float(start_s[i] or 0.0), str(clip_id[i]))), dtype=np.int64)


def _sims(method: str, block: np.ndarray, kept: np.ndarray, block_sq: np.ndarray, kept_sq: np.ndarray) -> np.ndarray:
    if method == CLIP_COSINE:
        return (block @ kept.T).astype(np.float64)
    # 1 - RMS difference / 255 via |a-b|^2 = |a|^2 + |b|^2 - 2ab, exact in float64 for 0..255 integers
    d2 = np.maximum(0.0, block_sq[:, None] + kept_sq[None, :] - 2.0 * (block.astype(np.float64) @ kept.astype(np.float64).T)) / block.shape[1]
    return 1.0 - np.sqrt(d2) / 255.0


def _best(method: str, rows: np.ndarray, rows_sq: np.ndarray, kept: np.ndarray, kept_sq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(best similarity, position in `kept` of the first best) for each row; -inf / -1 when nothing is kept."""
    best = np.full(len(rows), -np.inf)
    arg = np.full(len(rows), -1, dtype=np.int64)
    for s in range(0, len(kept), KEPT_SLICE):
        sims = _sims(method, rows, kept[s : s + KEPT_SLICE], rows_sq, kept_sq[s : s + KEPT_SLICE])
        a = np.argmax(sims, axis=1)
        v = sims[np.arange(len(rows)), a]
        better = v > best  # strictly: ties keep the earlier slice (earlier kept clip)
        best[better], arg[better] = v[better], a[better] + s
    return best, arg


def duplicates(vectors: np.ndarray, order: np.ndarray, method: str, threshold: float, block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(duplicate_of position or -1, similarity or NaN) per row of `vectors` ([n, d]).

    Rows are visited in `order`; each is compared with every row kept so far (matrix
    products against the kept set, `block` rows at a time, then the few rows kept earlier
    in the same block).  Rows whose vector has a NaN are never duplicates nor kept."""
    n = len(vectors)
    dup_of = np.full(n, -1, dtype=np.int64)
    sim = np.full(n, np.nan)
    # rows without a vector (width 0: every clip failed) are like NaN rows: never compared
    valid = ~np.isnan(vectors).any(axis=1) if n and np.shape(vectors)[1] else np.zeros(n, bool)
    order = np.asarray([i for i in order if valid[i]], dtype=np.int64)
    if not len(order):
        return dup_of, sim
    vecs = np.asarray(vectors, dtype=np.float32)  # no copy when already float32 (the caller's array is not modified)
    if method == CLIP_COSINE:
        norms = np.maximum(1e-12, np.linalg.norm(vecs, axis=1, keepdims=True))
        vecs = vecs / norms
        sq = np.ones(n)
    else:
        sq = np.zeros(n)
        for s in range(0, n, KEPT_SLICE):  # |v|^2 exactly (float64), a slice at a time
            v = vecs[s : s + KEPT_SLICE].astype(np.float64)
            sq[s : s + KEPT_SLICE] = np.einsum("ij,ij->i", v, v)
    kept_buf = np.zeros((len(order), vecs.shape[1]), np.float32)  # the kept set grows in place (no re-concatenation)
    kept_sq = np.zeros(len(order))
    n_kept = 0
    kept_pos: list[int] = []  # row positions of the kept set, in keep order
    for s in range(0, len(order), block):
        idx = order[s : s + block]
        pre_best, pre_arg = _best(method, vecs[idx], sq[idx], kept_buf[:n_kept], kept_sq[:n_kept])
        inner = _sims(method, vecs[idx], vecs[idx], sq[idx], sq[idx])  # block x block
        in_block: list[int] = []  # positions in idx kept so far
        for j in range(len(idx)):
            best, who = pre_best[j], (kept_pos[pre_arg[j]] if pre_arg[j] >= 0 else -1)
            if in_block:
                row = inner[j, in_block]
                k = int(np.argmax(row))
                if row[k] > best:  # strictly: ties go to the earlier kept clip
                    best, who = row[k], int(idx[in_block[k]])
            if who >= 0 and best > threshold:
                dup_of[idx[j]] = who
                sim[idx[j]] = round(float(best), 6)  # rounded: BLAS last bits vary with shapes
            else:
                in_block.append(j)
        new = idx[in_block]
        kept_buf[n_kept : n_kept + len(new)] = vecs[new]
        kept_sq[n_kept : n_kept + len(new)] = sq[new]
        n_kept += len(new)
        kept_pos.extend(int(i) for i in new)
    return dup_of, sim


def find_duplicates(rows: Sequence[dict[str, Any]], method: str, threshold: float, block: int = 256) -> dict[str, tuple[str, float]]:
    """{clip_id: (duplicate_of, similarity)} for rows (dicts with clip_id, source_path, start_s and
    `clip_embedding` / `thumb_signature`); rows without the vector are skipped."""
    key = "clip_embedding" if method == CLIP_COSINE else "thumb_signature"
    have = [r for r in rows if r.get(key)]
    if not have:
        return {}
    vecs = np.asarray([r[key] for r in have], dtype=np.float64)
    order = dedup_order([r.get("source_path") for r in have], [r.get("start_s") for r in have], [r["clip_id"] for r in have])
    dup_of, sim = duplicates(vecs, order, method, threshold, block)
    return {str(have[i]["clip_id"]): (str(have[int(d)]["clip_id"]), float(sim[i])) for i, d in enumerate(dup_of) if d >= 0}
