import warnings

import numpy as np

from curation.score.dedup import CLIP_COSINE, THUMBNAIL, duplicates, find_duplicates


def _row(cid, vec, src="a.mp4", start=0.0, key="clip_embedding"):
    return {"clip_id": cid, "source_path": src, "start_s": start, key: list(map(float, vec))}


def test_cosine_dedup_keeps_the_earliest_and_never_chains():
    e1 = np.array([1.0, 0.0, 0.0])
    near = np.array([1.0, 0.05, 0.0])
    chain = np.array([1.0, 0.3, 0.0])  # close to `near` but not to e1
    rows = [_row("z", near, start=5.0), _row("y", e1, start=1.0), _row("x", chain, start=9.0)]
    dups = find_duplicates(rows, CLIP_COSINE, 0.99)
    assert set(dups) == {"z"} and dups["z"][0] == "y"  # y comes first in (source, start) order


def test_thumbnail_similarity_is_one_minus_rms_over_255():
    a = np.full(768, 100.0)
    rows = [_row("a", a, key="thumb_signature"), _row("b", a + 5.0, start=1, key="thumb_signature"), _row("c", a + 20.0, start=2, key="thumb_signature")]
    dups = find_duplicates(rows, THUMBNAIL, 0.97)
    assert set(dups) == {"b"}
    assert abs(dups["b"][1] - (1 - 5 / 255)) < 1e-6


def test_block_boundaries_do_not_change_the_result():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(20, 16))
    vecs = np.concatenate([base, base[:7] + rng.normal(scale=0.01, size=(7, 16))])
    rows = [_row(f"c{i:02d}", v, start=float(i)) for i, v in enumerate(vecs)]
    full = find_duplicates(rows, CLIP_COSINE, 0.98, block=256)
    small = find_duplicates(rows, CLIP_COSINE, 0.98, block=3)
    assert {k: v[0] for k, v in full.items()} == {k: v[0] for k, v in small.items()}
    assert all(abs(full[k][1] - small[k][1]) < 1e-6 for k in full)
    assert set(full) == {f"c{i:02d}" for i in range(20, 27)}


def test_rows_without_vectors_are_never_duplicates():
    # every clip failed: the signature column gives vectors of width 0 (no divide-by-zero, no pairs)
    for method in (THUMBNAIL, CLIP_COSINE):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            dup, sim = duplicates(np.zeros((3, 0), np.float32), np.arange(3), method, 0.9)
        assert dup.tolist() == [-1, -1, -1]
        assert np.isnan(sim).all()
