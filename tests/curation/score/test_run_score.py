import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curation.schemas import SCORES
from curation.score import difficulty as diff

pytestmark = pytest.mark.slow


def _rows(corpus):
    return {r["clip_id"]: r for r in pq.read_table(corpus.params.paths.scores_table).to_pylist()}


def test_one_row_per_clip_with_the_schema(scored_corpus):
    corpus, summary = scored_corpus
    t = pq.read_table(corpus.params.paths.scores_table)
    assert t.schema.equals(SCORES, check_metadata=False)
    assert t.column("clip_id").to_pylist() == corpus.ids  # clips.parquet order
    assert summary.clips == len(corpus.ids)


def test_random_init_is_recorded_in_every_row_and_metrics(scored_corpus):
    corpus, summary = scored_corpus
    rows = _rows(corpus)
    assert {r["clip_weights"] for r in rows.values()} == {"random-init"}
    assert {r["dedup_method"] for r in rows.values()} == {"thumbnail"}
    ok = [r for r in rows.values() if r["score_error"] is None]
    assert all("semantic_change" not in r["difficulty_components"] for r in ok)
    m = json.loads((Path(corpus.params.paths.metrics_dir) / "score.json").read_text())
    assert m["clip_weights"] == "random-init" and m["clip_random_init"] is True
    assert m["clips"] == len(corpus.ids) and m["failed"] == 2 and m["duplicates"] == 1


def test_static_scores_lower_than_moving_and_noisy(scored_corpus):
    rows = _rows(scored_corpus[0])
    static = rows["static"]
    for other in ("mandelbrot", "noise", "pan", "testsrc"):
        assert static["flow_mean"] < rows[other]["flow_mean"], other
        assert static["difficulty"] < rows[other]["difficulty"], other
    assert rows["noise"]["temporal_noise"] > 5 * max(rows["pan"]["temporal_noise"], 1e-4)
    assert static["spatial_complexity"] < rows["mandelbrot"]["spatial_complexity"]
    for r in rows.values():
        if r["score_error"] is None:
            assert 0.0 <= r["difficulty"] <= 1.0
            for name in diff.COMPONENTS:
                n = r[f"n_{name}"]
                assert n is None or 0.0 <= n <= 1.0


def test_residual_cut_is_counted(scored_corpus):
    rows = _rows(scored_corpus[0])
    assert rows["cut"]["cuts"] == 1 and rows["cut"]["cut_density"] == pytest.approx(0.5)
    assert all(rows[k]["cuts"] == 0 for k in ("static", "pan", "testsrc"))


def test_caption_similarity_only_for_captioned_clips(scored_corpus):
    rows = _rows(scored_corpus[0])
    assert rows["static"]["caption_similarity"] is not None and rows["mandelbrot"]["caption_similarity"] is not None
    assert rows["noise"]["caption_similarity"] is None
    emb = rows["static"]["clip_embedding"]
    assert len(emb) == 384 and abs(sum(x * x for x in emb) - 1) < 1e-4  # ViT-S-32 embed dim, unit norm


def test_exact_reencode_is_a_duplicate_of_the_original(scored_corpus):
    rows = _rows(scored_corpus[0])
    copy = rows["testsrc_copy"]
    assert copy["is_duplicate"] and copy["duplicate_of"] == "testsrc" and copy["duplicate_similarity"] > 0.97
    assert [k for k, r in rows.items() if r["is_duplicate"]] == ["testsrc_copy"]


def test_bad_clips_get_an_error_row_not_a_crash(scored_corpus):
    rows = _rows(scored_corpus[0])
    assert rows["broken"]["score_error"].startswith("decode failed")
    assert "not an existing file inside paths.clips_dir" in rows["outside"]["score_error"]
    for k in ("broken", "outside"):
        assert rows[k]["difficulty"] is None and rows[k]["clip_weights"] == "random-init" and not rows[k]["is_duplicate"]


def test_two_runs_write_identical_bytes(scored_corpus, tmp_path):
    from curation.config import parse_params
    from curation.score import run_score

    corpus, _ = scored_corpus
    data = corpus.params.model_dump()
    data["paths"]["scores_table"] = str(tmp_path / "scores.parquet")
    data["paths"]["metrics_dir"] = str(tmp_path / "metrics")
    run_score(parse_params(data), progress=False)
    assert Path(corpus.params.paths.scores_table).read_bytes() == (tmp_path / "scores.parquet").read_bytes()
    assert (Path(corpus.params.paths.metrics_dir) / "score.json").read_text() == (tmp_path / "metrics" / "score.json").read_text()


def test_missing_weights_stop_the_run_before_any_work(scored_corpus, tmp_path):
    from curation.config import parse_params
    from curation.score import run_score
    from curation.score.clip_model import ClipWeightsUnavailable

    corpus, _ = scored_corpus
    data = corpus.params.model_dump()
    data["score"]["clip"]["allow_random_init"] = False
    data["paths"]["scores_table"] = str(tmp_path / "scores.parquet")
    with pytest.raises(ClipWeightsUnavailable):
        run_score(parse_params(data), progress=False)
    assert not (tmp_path / "scores.parquet").exists()


def test_worker_pool_run_writes_the_same_bytes(scored_corpus, tmp_path):
    """engine.workers=2: the driver checks the weights while the spawned workers load the model."""
    from curation.config import parse_params
    from curation.score import run_score

    corpus, _ = scored_corpus
    data = corpus.params.model_dump()
    data["engine"]["workers"] = 2
    data["paths"]["scores_table"] = str(tmp_path / "scores.parquet")
    data["paths"]["metrics_dir"] = str(tmp_path / "metrics")
    summary = run_score(parse_params(data), progress=False)
    assert summary.clip_weights == "random-init"
    assert Path(corpus.params.paths.scores_table).read_bytes() == (tmp_path / "scores.parquet").read_bytes()


def test_missing_weights_stop_a_worker_pool_run(scored_corpus, tmp_path):
    from curation.config import parse_params
    from curation.score import run_score
    from curation.score.clip_model import ClipWeightsUnavailable

    corpus, _ = scored_corpus
    data = corpus.params.model_dump()
    data["engine"]["workers"] = 2
    data["score"]["clip"]["allow_random_init"] = False
    data["paths"]["scores_table"] = str(tmp_path / "scores.parquet")
    with pytest.raises(ClipWeightsUnavailable):
        run_score(parse_params(data), progress=False)
    assert not (tmp_path / "scores.parquet").exists()


def test_cuda_without_cuda_stops_before_any_work(scored_corpus, tmp_path):
    """score.clip.device: cuda on a machine without CUDA: a clear error, nothing decoded, no store part."""
    import torch

    from curation.config import parse_params
    from curation.score import run_score
    from curation.score.clip_stage import ClipEmbedStage
    from curation.stage import StageConfigError

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    corpus, _ = scored_corpus
    data = corpus.params.model_dump()
    data["score"]["clip"]["device"] = "cuda"
    data["paths"]["scores_table"] = str(tmp_path / "scores.parquet")
    data["paths"]["stores_dir"] = str(tmp_path / "stores")
    params = parse_params(data)
    stage = ClipEmbedStage(params.score.clip, "random-init", "bf16")
    assert stage.resources.gpus == 1  # the CLIP step declares a GPU: the engines give it GPU workers
    with pytest.raises(StageConfigError, match=r"score\.clip\.device: device 'cuda' but CUDA is not available"):
        run_score(params, progress=False)
    assert not (tmp_path / "scores.parquet").exists()
    assert not list((tmp_path / "stores").rglob("part-*.parquet"))


def test_signals_reach_the_scores_table_and_metrics(scored_corpus):
    corpus, _ = scored_corpus
    rows = _rows(corpus)
    pan, static = rows["pan"], rows["static"]
    # pan.mp4: a 320-px window moving right at 64 px/s over a still picture = 0.2 width/s
    assert pan["camera_motion"] == "pan_right" and pan["camera_motion_confidence"] > 0.8
    assert pan["camera_speed"] == pytest.approx(0.2, rel=0.08) and pan["object_motion"] < 0.1 * pan["camera_speed"]
    assert pan["content_flags"] == [] and pan["overlay_fraction"] == 0.0
    assert static["camera_motion"] == "static" and static["camera_speed"] == 0.0 and static["content_flags"] == ["still"]
    assert static["overlay_fraction"] is None  # a still picture: an overlay cannot be told from it
    for k in ("broken", "outside"):  # error rows: no signals, flags [] (never null)
        assert rows[k]["camera_motion"] is None and rows[k]["content_flags"] == [] and rows[k]["overlay_fraction"] is None
    ok = [r for r in rows.values() if r["score_error"] is None]
    assert all(r["difficulty_formula"] == "difficulty-v2" for r in rows.values())
    for r in ok:
        assert {"camera_speed", "object_motion"} <= set(r["difficulty_components"]) and "flow_mean" not in r["difficulty_components"]
        assert 0.0 <= r["n_camera_speed"] <= 1.0 and 0.0 <= r["n_object_motion"] <= 1.0
    m = json.loads((Path(corpus.params.paths.metrics_dir) / "score.json").read_text())
    labels: dict[str, int] = {}
    for r in ok:
        labels[r["camera_motion"]] = labels.get(r["camera_motion"], 0) + 1
    assert m["camera_motion"] == dict(sorted(labels.items())) and m["camera_motion"]["pan_right"] == 1
    assert m["content_flags"]["still"] == 1
    assert m["overlay"]["unknown"] == sum(r["overlay_fraction"] is None for r in ok)


def test_new_weights_reuse_the_stored_measurements(scored_corpus, tmp_path):
    """Only score.weights change: nothing is decoded again, the signal columns are the stored ones, difficulty moves."""
    from curation.config import parse_params
    from curation.score import run_score

    corpus, _ = scored_corpus
    data = corpus.params.model_dump()
    data["score"]["weights"] = {**data["score"]["weights"], "camera_speed": 0.0, "object_motion": 1.0}
    data["paths"]["scores_table"] = str(tmp_path / "scores.parquet")
    data["paths"]["metrics_dir"] = str(tmp_path / "metrics")
    summary = run_score(parse_params(data), progress=False)
    assert summary.counts == f"processed 0, reused {len(corpus.ids)}"
    before, after = _rows(corpus), {r["clip_id"]: r for r in pq.read_table(tmp_path / "scores.parquet").to_pylist()}
    for k, r in before.items():
        for col in ("camera_motion", "camera_speed", "object_motion", "overlay_box", "content_flags", "flow_mean"):
            assert after[k][col] == r[col], (k, col)
    assert after["pan"]["difficulty"] < before["pan"]["difficulty"]  # its camera motion no longer counts
    assert "camera_speed" not in after["pan"]["difficulty_components"]
