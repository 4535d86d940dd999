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
(matrix products), fine for tens of thousands of clips on a laptop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

CLIP_COSINE = "clip-cosine"
THUMBNAIL = "thumbnail"


def dedup_order(rows: Sequence[dict[str, Any]]) -> list[int]:
    """Indices of rows in keep-first order."""
    return sorted(range(len(rows)), key=lambda i: (str(rows[i].get("source_path") or ""), float(rows[i].get("start_s") or 0.0), str(rows[i]["clip_id"])))


def _similarity(method: str, block: np.ndarray, kept: np.ndarray, block_sq: np.ndarray, kept_sq: np.ndarray) -> np.ndarray:
    if method == CLIP_COSINE:
        return block @ kept.T
    # 1 - RMS difference / 255 via |a-b|^2 = |a|^2 + |b|^2 - 2ab
    d2 = np.maximum(0.0, block_sq[:, None] + kept_sq[None, :] - 2.0 * (block @ kept.T)) / block.shape[1]
    return 1.0 - np.sqrt(d2) / 255.0


def find_duplicates(rows: Sequence[dict[str, Any]], method: str, threshold: float, block: int = 256) -> dict[str, tuple[str, float]]:
    """{clip_id: (duplicate_of, similarity)} for the rows that are near-duplicates.

    `rows` need clip_id, source_path, start_s and `clip_embedding` (method clip-cosine)
    or `thumb_signature` (method thumbnail); rows without the vector are skipped.
    """
    key = "clip_embedding" if method == CLIP_COSINE else "thumb_signature"
    order = [i for i in dedup_order(rows) if rows[i].get(key)]
    if not order:
        return {}
    vecs = np.asarray([rows[i][key] for i in order], dtype=np.float64)
    if method == CLIP_COSINE:
        vecs /= np.maximum(1e-12, np.linalg.norm(vecs, axis=1, keepdims=True))
    sq = np.einsum("ij,ij->i", vecs, vecs)
    ids = [str(rows[i]["clip_id"]) for i in order]
    kept: list[int] = []  # positions in `order`
    dups: dict[str, tuple[str, float]] = {}
    for s in range(0, len(order), block):
        e = min(len(order), s + block)
        pre_kept = np.asarray(kept, dtype=int)
        sims_pre = _similarity(method, vecs[s:e], vecs[pre_kept], sq[s:e], sq[pre_kept]) if len(kept) else np.zeros((e - s, 0))
        in_block: list[int] = []
        for j in range(s, e):
            cand_idx = list(pre_kept) + in_block
            sims = list(sims_pre[j - s])
            if in_block:
                ib = np.asarray(in_block)
                sims += list(_similarity(method, vecs[j : j + 1], vecs[ib], sq[j : j + 1], sq[ib])[0])
            if sims:
                best = int(np.argmax(sims))  # first maximum = earliest kept clip on ties
                if sims[best] > threshold:
                    dups[ids[j]] = (ids[cand_idx[best]], round(float(sims[best]), 6))  # rounded: BLAS last bits vary with shapes
                    continue
            in_block.append(j)
        kept.extend(in_block)
    return dups
