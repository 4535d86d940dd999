import json

import pyarrow.parquet as pq
import pytest

from curation.cli import main as cli_main
from curation.config import CorpusParams
from curation.ingest import run_ingest
from curation.io.hashing import sha256_file
from curation.media import probe_media
from curation.sample_corpus import MANIFEST, generate_corpus, plan_corpus
from tests.curation.ingest.helpers import ingest_params

SMALL = dict(minutes=0.2, width=128, height=72, fps=8)


def digests(folder):
    return {p.name: sha256_file(p) for p in sorted(folder.iterdir())}


@pytest.mark.slow
def test_byte_deterministic_and_seeded(tmp_path):
    a = generate_corpus(tmp_path / "a", CorpusParams(**SMALL), progress=False)
    generate_corpus(tmp_path / "b", CorpusParams(**SMALL), progress=False, workers=1)
    assert digests(tmp_path / "a") == digests(tmp_path / "b")
    # rerun into the same folder (it was made by the generator): replaced, same bytes
    generate_corpus(tmp_path / "a", CorpusParams(**SMALL), progress=False)
    assert digests(tmp_path / "a") == digests(tmp_path / "b")
    generate_corpus(tmp_path / "c", CorpusParams(**{**SMALL, "seed": 1}), progress=False)
    assert digests(tmp_path / "c")["07_game_of_life.mp4"] != digests(tmp_path / "a")["07_game_of_life.mp4"]
    assert len(a["videos"]) == 10


def test_contents_and_sidecars(tmp_path):
    m = generate_corpus(tmp_path / "c", CorpusParams(**SMALL), progress=False)
    out = tmp_path / "c"
    names = {p.name for p in out.iterdir()}
    assert {"bad_audio_only.mp4", "bad_random_bytes.mp4", MANIFEST} <= names
    kinds = {v["kind"] for v in m["videos"]}
    assert kinds == {"static", "pan", "moderate", "chaotic", "cuts"}
    exts = {}
    for v in m["videos"]:
        info = probe_media(out / v["file"])
        assert info.has_video and info.codec == "h264" and abs(info.duration_s - v["seconds"]) < 0.2
        exts[v["sidecar"] and v["sidecar"].rsplit(".", 1)[1]] = v["sidecar_language"]
    assert exts.keys() == {"txt", "json", "srt", "vtt", None}  # one video without a sidecar
    assert sum(v["sidecar"] is None for v in m["videos"]) == 1
    langs = {v["sidecar_language"] for v in m["videos"] if v["sidecar"]}
    assert langs == {"en", "es", "fr", "de"}
    for v in m["videos"]:
        if v["sidecar"] and v["sidecar"].endswith(".json"):
            j = json.loads((out / v["sidecar"]).read_text(encoding="utf-8"))
            assert set(j) == {"caption", "language"} and j["language"] in ("es", "fr") and j["caption"]
    cuts = next(v for v in m["videos"] if v["kind"] == "cuts")
    assert len(cuts["hard_cuts_at_s"]) == 3 and cuts["sidecar"].endswith(".srt")
    srt = (out / cuts["sidecar"]).read_text(encoding="utf-8")
    assert srt.count(" --> ") == 4  # one cue per scene
    assert (out / "01_static_color.txt").read_text().startswith("A still blue screen")
    assert not probe_media(out / "bad_audio_only.mp4").has_video


def test_refuses_foreign_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "holiday.mp4").write_bytes(b"precious")
    with pytest.raises(FileExistsError):
        generate_corpus(tmp_path / "mine", CorpusParams(**SMALL), progress=False)
    assert (tmp_path / "mine" / "holiday.mp4").read_bytes() == b"precious"


def test_minutes_scale_the_corpus():
    small, big = plan_corpus(CorpusParams(minutes=1.5)), plan_corpus(CorpusParams(minutes=4.5))
    assert len(big) == 3 * len(small)
    assert abs(sum(i.seconds for i in small) - 90) < 3 and abs(sum(i.seconds for i in big) - 270) < 5
    assert len({i.stem for i in big}) == len(big)


@pytest.mark.slow
def test_cli_then_ingest_shows_the_two_rejects(tmp_path, capsys):
    out = tmp_path / "corpus"
    assert cli_main(["sample-corpus", str(out), "--minutes", "0.4", "--width", "160", "--height", "90", "--fps", "12", "--no-progress"]) == 0
    assert "10 videos" in capsys.readouterr().out
    s = run_ingest(ingest_params(tmp_path, out, workers=2, min_clip_seconds=0.5), progress=False)
    rejects = {r["source_path"]: r["reason"] for r in pq.read_table(tmp_path / "rejects.parquet").to_pylist()}
    assert rejects == {"bad_audio_only.mp4": "no_video_stream", "bad_random_bytes.mp4": "not_media"}
    assert s.accepted == 10
    rows = pq.read_table(tmp_path / "clips.parquet").to_pylist()
    cut_rows = [r for r in rows if r["source_path"].endswith("hard_cuts.mp4")]
    assert cut_rows[0]["source_cuts"] == 3 and len(cut_rows) == 4
    still = [r for r in rows if "still_pattern" in r["source_path"] or "static_color" in r["source_path"]]
    assert all(r["source_cuts"] == 0 for r in still)
