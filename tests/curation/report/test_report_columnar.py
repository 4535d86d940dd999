"""The report on columnar tables: column projection (the clip vectors are never read), normalization,
figures checked against a plain row-by-row reference, Python memory that does not grow per clip,
the section hooks, and rejects at scale."""

from __future__ import annotations

import math
import statistics
import tracemalloc
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.config import ReportParams
from curation.report import html_page, summary
from curation.report.caption_quality import _source_groups
from curation.report.contact_sheet import pick_clips
from curation.report.load import (
    CLIP_COLUMNS,
    ReportInputError,
    ReportInputs,
    clip_table,
    load_inputs,
    load_rejects,
    load_tiers,
    reject_table,
)
from curation.report.outputs import summary_json
from curation.report.plots import flow_vs_clip
from curation.report.summary import bin_index, bin_indices, summarize

VECTORS = {"clip_embedding": 512, "thumb_signature": 768, "flow_curve": 6}
TAGS = ["sky", "car", "dog", "street", "water", "night"]
LANGS = ["en", "fr", "de", "", None]
SOURCES = ["sidecar:txt", "sidecar:srt", "captioner:m", "none", "", None]
WEIGHTS = ["pretrained:openai", "random-init", " Random-Init ", None]


def random_rows(n: int, seed: int = 0) -> list[dict]:
    """Rows with everything the loader must normalize: nulls, NaN, blank captions, repeated tags and ids."""
    rng = np.random.default_rng(seed)

    def pick(values):
        return values[int(rng.integers(0, len(values)))]

    rows = []
    for i in range(n):
        tier = int(rng.integers(0, 7))  # 6: not a curriculum tier, counted as excluded
        d = float(rng.choice([rng.random(), rng.random() * 1.4 - 0.2, np.nan, 0.0, 1.0, 0.05 * rng.integers(0, 21)]))
        rows.append({
            "clip_id": f"c{int(rng.integers(0, n * 2)):06d}",  # some ids repeat: the sort must be stable
            "tier": None if rng.random() < 0.03 else tier,
            "duration_s": float(rng.choice([rng.random() * 10, np.nan])) if rng.random() < 0.97 else None,
            "difficulty": None if rng.random() < 0.05 else d,
            "caption": pick([None, "", " \t", "\u2003", f"clip {i}", f"  a {i} "]),
            "caption_source": pick(SOURCES),
            "language": pick(LANGS),
            "tags": None if rng.random() < 0.1 else [pick([*TAGS, None]) for _ in range(int(rng.integers(0, 5)))],
            "excluded_reason": pick([None, "", "duplicate_of:x", "not_scored"]),
            "flow_mean": float(rng.choice([rng.random(), np.nan])),
            "semantic_change": float(rng.random()),
            "caption_similarity": None if rng.random() < 0.3 else float(rng.random() * 0.5),
            "clip_weights": pick(WEIGHTS),
            "captioner_weights": pick(WEIGHTS),
            "is_duplicate": pick([True, False, None]),
            "clip_path": f"clips/{i}.mp4",
            "source_path": f"src/{i // 3}.mp4",
        })  # fmt: skip
    return rows


def reference(rows: list[dict], bins: int, top_tags: int) -> dict:
    """The figures, computed row by row in plain Python (what the report computed before it went columnar)."""

    def clean(v):
        return None if isinstance(v, float) and math.isnan(v) else v

    rows = [{k: clean(v) for k, v in r.items()} for r in rows]
    for r in rows:
        r["tier"] = int(r["tier"]) if r["tier"] is not None else 0
        r["duration_s"] = float(r["duration_s"] or 0.0)
        r["tags"] = [str(t) for t in (r["tags"] or [])]
    rows.sort(key=lambda r: r["clip_id"])
    out = {"tiers": {}}

    def counted(values, limit=None):
        return sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0]))[:limit]

    for t in (1, 2, 3, 4, 5):
        rs = [r for r in rows if r["tier"] == t]
        vals = sorted(r["difficulty"] for r in rs if r["difficulty"] is not None)
        out["tiers"][t] = {
            "clips": len(rs),
            "seconds": sum(r["duration_s"] for r in rs),
            "difficulty": (vals[0], statistics.median(vals), sum(vals) / len(vals), vals[-1]) if vals else None,
            "top_tags": counted([g for r in rs for g in sorted(set(r["tags"]))], top_tags),
            "languages": counted([r["language"] or "und" for r in rs]),
            "captioned": sum(1 for r in rs if (r["caption"] or "").strip()),
            "duplicates": sum(1 for r in rs if r["is_duplicate"]),
        }
    excluded = [r for r in rows if r["tier"] not in (1, 2, 3, 4, 5)]
    out["excluded"] = (len(excluded), counted([r["excluded_reason"] or "unspecified" for r in excluded]))
    hist = {t: [0] * bins for t in (1, 2, 3, 4, 5)}
    for r in rows:
        if r["tier"] in hist and r["difficulty"] is not None:
            hist[r["tier"]][min(int(min(max(r["difficulty"], 0.0), 1.0) * bins), bins - 1)] += 1
    out["hist"] = hist
    out["weights"] = {c: dict(sorted(Counter(r[c] if r[c] is not None else "(none)" for r in rows).items())) for c in ("clip_weights", "captioner_weights")}
    out["total_seconds"] = sum(r["duration_s"] for r in rows)
    return out


def _r(x, nd=6):
    return None if x is None or not math.isfinite(x) else round(x, nd)


@pytest.mark.parametrize("seed", [0, 1])
def test_figures_match_a_row_by_row_reference(seed):
    rows = random_rows(400, seed)
    params = ReportParams(histogram_bins=13, top_tags=3)
    s = summarize(ReportInputs(clips=rows, rejects=[]), params)
    ref = reference(rows, 13, 3)
    assert s["totals"]["clips"] == 400 and s["totals"]["hours"] == _r(ref["total_seconds"] / 3600)
    for t in s["tiers"]:
        want = ref["tiers"][t["tier"]]
        assert t["clips"] == want["clips"] and t["seconds"] == _r(want["seconds"], 3) and t["hours"] == _r(want["seconds"] / 3600)
        d = want["difficulty"]
        assert [t["difficulty"][k] for k in ("min", "median", "mean", "max")] == ([_r(v) for v in d] if d else [None] * 4)
        assert [(x["tag"], x["clips"]) for x in t["top_tags"]] == want["top_tags"]
        assert [(x["language"], x["clips"]) for x in t["languages"]] == want["languages"]
        assert (t["captioned"], t["duplicates"]) == (want["captioned"], want["duplicates"])
    assert (s["excluded"]["clips"], [(x["reason"], x["clips"]) for x in s["excluded"]["reasons"]]) == ref["excluded"]
    assert s["difficulty_histogram"]["by_tier"] == {str(t): v for t, v in ref["hist"].items()}
    assert {c: s["weights"][c] for c in ("clip_weights", "captioner_weights")} == ref["weights"]
    n_random = {c: sum(1 for r in rows if r[c] is not None and r[c].strip().lower() == "random-init") for c in ("clip_weights", "captioner_weights")}
    assert all(n_random.values())
    assert [(m["column"], m["clips"], m["of"]) for m in s["weights"]["random_init_models"]] == [(c, n, 400) for c, n in n_random.items()]


def test_rows_table_dataframe_and_file_give_the_same_summary(tmp_path):
    rows = random_rows(150, 3)
    table = clip_table(rows)
    pq.write_table(pa.Table.from_pylist(rows[::-1]), tmp_path / "t.parquet")  # other row order, inferred types
    params = ReportParams()
    by_rows = summary_json(summarize(ReportInputs(clips=rows, rejects=[]), params))
    assert summary_json(summarize(ReportInputs(clips=table, rejects=[]), params)) == by_rows
    assert summary_json(summarize(ReportInputs(clips=table.to_pandas(), rejects=[]), params)) == by_rows
    assert summary_json(summarize(load_inputs(tmp_path / "t.parquet"), params)) == by_rows


def test_clip_table_normalizes_and_sorts_stably():
    rows = [
        {"clip_id": "b", "tier": 2.0, "duration_s": float("nan"), "difficulty": float("nan"), "tags": ["x", None, "x"]},
        {"clip_id": "a", "tier": None, "duration_s": None, "difficulty": 0.5, "tags": None, "flow_mean": float("nan")},
        {"clip_id": "b", "tier": 3, "duration_s": 2.5, "difficulty": None, "tags": [], "is_duplicate": None},
    ]
    t = clip_table(rows)
    assert t.column_names == list(CLIP_COLUMNS)
    assert t.column("clip_id").to_pylist() == ["a", "b", "b"] and t.column("tier").to_pylist() == [0, 2, 3]  # the two "b" keep their order
    assert t.column("duration_s").to_pylist() == [0.0, 0.0, 2.5]
    assert t.column("difficulty").to_pylist() == [0.5, None, None] and t.column("flow_mean").null_count == 3
    assert t.column("tags").to_pylist() == [[], ["x", "None", "x"], []]
    assert t.column("is_duplicate").to_pylist() == [False, False, False] and t.column("caption").null_count == 3
    assert clip_table(t) is t  # already normalized: not converted again


def test_unconvertible_column_is_an_input_error(tmp_path):
    bad = pa.table({"clip_id": ["a"], "tier": [1], "duration_s": ["two seconds"], "difficulty": [0.1]})
    pq.write_table(bad, tmp_path / "t.parquet")
    with pytest.raises(ReportInputError, match="'duration_s' has type string, expected double"):
        load_tiers(tmp_path / "t.parquet")


def _poison(path, column: str) -> None:
    """Overwrite every column chunk of `column` in a parquet file with garbage (page headers included)."""
    meta = pq.ParquetFile(path).metadata
    data = bytearray(path.read_bytes())
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        for i in range(rg.num_columns):
            c = rg.column(i)
            if c.path_in_schema.split(".")[0] == column:
                start = c.dictionary_page_offset if c.has_dictionary_page else c.data_page_offset
                data[start : start + c.total_compressed_size] = b"\xff" * c.total_compressed_size
    path.write_bytes(bytes(data))


def test_loader_never_reads_the_vector_columns(tmp_path, monkeypatch):
    """A tiers table whose clip vectors cannot even be decoded still loads: they are never read."""
    n = 600
    rng = np.random.default_rng(5)
    rows = random_rows(n, 5)
    table = clip_table(rows)
    for name, dim in VECTORS.items():
        values = pa.array(rng.random(n * dim, dtype=np.float32))
        table = table.append_column(name, pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32) * dim), values))
    table = table.append_column("caption_raw", pa.array(["raw"] * n))
    path = tmp_path / "tiers.parquet"
    pq.write_table(table, path, row_group_size=250, use_dictionary=False)
    for name in VECTORS:
        _poison(path, name)
    with pytest.raises(Exception):  # noqa: B017 - whatever pyarrow raises: the poisoned bytes do not decode
        pq.read_table(path)
    calls = []
    real = pq.read_table
    monkeypatch.setattr(pq, "read_table", lambda p, columns=None, **kw: calls.append(columns) or real(p, columns=columns, **kw))
    loaded = load_tiers(path)
    assert calls == [list(CLIP_COLUMNS)]  # the projection: exactly the report's columns, in their order
    assert loaded.column_names == list(CLIP_COLUMNS) and loaded.num_rows == n
    assert loaded.equals(clip_table(rows))  # and the values survive the round trip


def test_bin_indices_match_bin_index():
    d = np.array([0.0, 1e-12, 0.049999999, 0.05, 0.1, 0.15, 0.3, 0.7, 0.95, 1 - 1e-16, 1.0, 1.3, -0.2, np.inf, -np.inf])
    for bins in (2, 7, 20, 200):
        assert bin_indices(d, bins).tolist() == [bin_index(x, bins) for x in d]


def test_source_groups():
    got = _source_groups(pa.array(["sidecar:txt", None, "", "captioner:x", "none", "sidecarx", "sidecar:"])).to_pylist()
    assert got == ["sidecar", "unknown", "unknown", "captioner:x", "none", "sidecarx", "sidecar"]


def test_pick_clips_same_for_table_and_rows():
    rows = [{"clip_id": f"k{i:02d}", "tier": 1 + i % 3, "difficulty": [0.5, None, 0.2, 0.5][i % 4], "duration_s": 1.0} for i in range(40)]
    from_rows = pick_clips(rows, 3)
    from_table = pick_clips(clip_table(rows), 3)
    assert {t: [r["clip_id"] for r in v] for t, v in from_rows.items()} == {t: [r["clip_id"] for r in v] for t, v in from_table.items()}
    # tier 1: k00, k03, ..., k39 (14 clips); the 3 picks: first, round(13 / 2) = 6th, last of (difficulty, clip_id), unscored last
    tier1 = sorted((r for r in rows if r["tier"] == 1), key=lambda r: (r["difficulty"] is None, r["difficulty"] or 0, r["clip_id"]))
    assert [r["clip_id"] for r in from_rows[1]] == [tier1[0]["clip_id"], tier1[round(6.5)]["clip_id"], tier1[-1]["clip_id"]]
    assert from_rows[1][0] is tier1[0]  # a list gets its own dicts back
    assert set(from_table[1][0]) == set(CLIP_COLUMNS)  # a table gives the picked rows only, with the report's columns
    assert from_rows[4] == from_table[4] == []


def test_scatter_png_is_the_same_from_rows_and_table():
    rows = random_rows(200, 7)
    assert flow_vs_clip(rows, False) == flow_vs_clip(clip_table(rows), False)


def test_many_rejects_are_counted_and_the_page_lists_the_first(tmp_path):
    n = 2500
    rejects = pa.table({
        "source_path": [f"in/{i:05d}.mp4" if i % 50 else None for i in range(n)][::-1],
        "source_sha256": [None] * n,
        "stage": ["ingest"] * n,
        "reason": ["unreadable" if i % 3 else "zero_length" for i in range(n)],
        "detail": [None if i % 7 == 0 else f"detail {i}" for i in range(n)],
        "params_hash": ["h"] * n,
    })  # fmt: skip
    pq.write_table(rejects, tmp_path / "rejects.parquet")
    loaded = load_rejects(tmp_path / "rejects.parquet")
    assert loaded.column_names == ["source_path", "source_sha256", "stage", "reason", "detail"]
    paths = loaded.column("source_path").to_pylist()
    assert paths == sorted(paths) and paths[:50] == [""] * 50 and loaded.column("detail").null_count == 0
    s = summarize(ReportInputs(clips=[], rejects=loaded), ReportParams())
    unreadable = sum(1 for i in range(n) if i % 3)
    assert s["rejects"]["files"] == n and s["totals"]["rejected_files"] == n
    assert s["rejects"]["reasons"] == [
        {"stage": "ingest", "reason": "unreadable", "files": unreadable},
        {"stage": "ingest", "reason": "zero_length", "files": n - unreadable},
    ]
    assert len(s["rejects"]["list"]) == n and s["rejects"]["list"][50]["source_path"] == paths[50]
    page = html_page.render_html(s, {}, {}, 1, max_listed_rejects=40)
    files = page.split("<h3>Files</h3>", 1)[1].split("</table>", 1)[0]
    assert files.count("<tr><td>") == 40 and f"and {n - 40} more" in page


def test_a_section_added_through_the_hooks(tmp_path, monkeypatch):
    """A new section: its builder gets the clip table, its key follows the registered ones, its HTML the signals section."""
    rows = random_rows(120, 9)

    def longest(clips: pa.Table, params: ReportParams) -> dict:
        i = int(np.argmax(clips.column("duration_s").to_numpy()))
        return {"clip_id": clips.column("clip_id")[i].as_py(), "seconds": round(clips.column("duration_s")[i].as_py(), 3)}

    monkeypatch.setattr(summary, "SECTIONS", (*summary.SECTIONS, ("longest", longest)))
    monkeypatch.setattr(html_page, "SUMMARY_SECTIONS", summary.SECTIONS)
    monkeypatch.setitem(html_page.SECTIONS, "longest", ("longest", "Longest clip", lambda s: f"<p>{html_page.esc(s['longest']['clip_id'])}</p>"))
    s = summarize(ReportInputs(clips=rows, rejects=[]), ReportParams())
    best = max((r for r in rows if r["duration_s"] is not None and not math.isnan(r["duration_s"])), key=lambda r: r["duration_s"])
    assert list(s)[-3:] == ["caption_quality", "signals", "longest"] and s["longest"]["clip_id"] == best["clip_id"]
    page = html_page.render_html(s, {}, {}, 1, 10)
    assert page.index('<section id="caption-quality">') < page.index('<section id="signals">') < page.index(f'<section id="longest"><h2>Longest clip</h2><p>{best["clip_id"]}</p>') < page.index('<section id="rejects">')


def _python_peak(rows_n: int, rejects: pa.Table) -> int:
    """Peak of Python-allocated memory (objects, numpy arrays) while loading, summarizing and picking clips."""
    table = clip_table(random_rows(rows_n, 11))
    tracemalloc.start()
    try:
        inputs = ReportInputs(clips=table, rejects=rejects)
        s = summarize(inputs, ReportParams())
        pick_clips(inputs.clips, 4)
        assert s["totals"]["clips"] == rows_n
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_python_memory_does_not_grow_per_clip():
    """Row dicts cost well over 1 kB per clip; the columnar summary's Python-side memory grows by far less."""
    rejects = reject_table([])
    _python_peak(200, rejects)  # first calls: imports, caches
    small, large = _python_peak(1_000, rejects), _python_peak(6_000, rejects)
    per_clip = (large - small) / 5_000
    assert per_clip < 120, f"{per_clip:.0f} bytes of Python memory per clip"
