import json

from curation.caption.sidecars import SidecarReader, source_dir_and_stem

EXTS = [".txt", ".json", ".srt", ".vtt"]

SRT = "1\n00:00:00,000 --> 00:00:02,000\nfirst cue text\n\n2\n00:00:02,000 --> 00:00:04,000\nsecond <i>cue</i> text\n"
VTT = "WEBVTT\nLanguage: de\n\n00:00.000 --> 00:02.000\nerster Satz\n\n00:02.000 --> 00:04.000\nzweiter Satz\n"


def reader(corpus, exts=EXTS, max_bytes=1 << 20):
    return SidecarReader(corpus.raw, exts, max_bytes)


def test_txt_whole_text(corpus):
    corpus.sidecar("a.txt", "  a red car\n drives by  \n")
    side, issues = reader(corpus).lookup("a.mp4", 0.0, 1.0)
    assert (side.caption, side.kind, side.language, issues) == ("a red car drives by", "txt", None, [])


def test_json_caption_and_language(corpus):
    corpus.sidecar("sub/b.json", json.dumps({"caption": "un coche rojo", "lang": "ES"}, ensure_ascii=False))
    side, _ = reader(corpus).lookup("sub/b.mkv", 0.0, 1.0)
    assert (side.caption, side.kind, side.language) == ("un coche rojo", "json", "es")


def test_srt_is_timed_to_the_clip_span(corpus):
    corpus.sidecar("c.srt", SRT)
    r = reader(corpus)
    first, _ = r.lookup("c.mp4", 0.0, 1.5)
    second, _ = r.lookup("c.mp4", 2.5, 4.0)
    both, _ = r.lookup("c.mp4", 1.0, 3.0)
    assert first.caption == "first cue text" and second.caption == "second cue text"
    assert both.caption == "first cue text second cue text" and first.kind == "srt"


def test_vtt_language_header_and_span(corpus):
    corpus.sidecar("d.vtt", VTT)
    side, _ = reader(corpus).lookup("d.mp4", 2.0, 3.0)
    assert (side.caption, side.kind, side.language) == ("zweiter Satz", "vtt", "de")


def test_no_overlapping_cue_falls_through_to_next_source(corpus):
    corpus.sidecar("e.srt", SRT)
    corpus.sidecar("e.vtt", VTT.replace("00:04.000", "00:09.000"))
    side, issues = reader(corpus).lookup("e.mp4", 5.0, 6.0)
    assert side.kind == "vtt" and side.caption == "zweiter Satz" and issues == []
    none, _ = reader(corpus).lookup("e.mp4", 9.5, 10.0)
    assert none is None


def test_extension_order_follows_params(corpus):
    corpus.sidecar("f.txt", "from txt")
    corpus.sidecar("f.json", json.dumps({"caption": "from json"}))
    assert reader(corpus, [".json", ".txt"]).lookup("f.mp4", 0, 1)[0].caption == "from json"
    assert reader(corpus, [".txt", ".json"]).lookup("f.mp4", 0, 1)[0].caption == "from txt"


def test_invalid_json_is_skipped_with_reason(corpus):
    corpus.sidecar("g.json", '{"caption": "unterminated')
    corpus.sidecar("g.srt", SRT)
    side, issues = reader(corpus).lookup("g.mp4", 0.0, 1.0)
    assert side.kind == "srt"
    assert len(issues) == 1 and issues[0].startswith("g.json: invalid JSON")


def test_json_without_caption_field(corpus):
    corpus.sidecar("h.json", json.dumps(["not", "an", "object"]))
    side, issues = reader(corpus).lookup("h.mp4", 0.0, 1.0)
    assert side is None and "expected an object" in issues[0]


def test_wrong_encoding_is_skipped_with_reason(corpus):
    corpus.sidecar("i.txt", "café au lait, caméra fixe".encode("latin-1"))
    corpus.sidecar("i.json", json.dumps({"caption": "caméra fixe"}, ensure_ascii=False))
    side, issues = reader(corpus).lookup("i.mp4", 0.0, 1.0)
    assert side.kind == "json" and side.caption == "caméra fixe"
    assert issues[0].startswith("i.txt: not UTF-8 text (byte 0xe9")


def test_utf16_with_bom_and_utf8_bom_decode(corpus):
    corpus.sidecar("j.txt", "Zeitraffer über Berlin".encode("utf-16"))  # BOM added by the codec
    corpus.sidecar("k.txt", "\ufeff日本の夜景".encode("utf-8"))
    assert reader(corpus).lookup("j.mp4", 0, 1)[0].caption == "Zeitraffer über Berlin"
    assert reader(corpus).lookup("k.mp4", 0, 1)[0].caption == "日本の夜景"


def test_binary_empty_and_oversized_sidecars(corpus):
    corpus.sidecar("l.txt", b"\x00\x01\x02binary")
    corpus.sidecar("l.json", "{}" + " " * 5000)
    corpus.sidecar("l.vtt", "no header\n\n00:00.000 --> 00:01.000\nx\n")
    corpus.sidecar("l.srt", "   \n\n")
    side, issues = reader(corpus, max_bytes=1000).lookup("l.mp4", 0, 1)
    assert side is None
    assert [i.split(":")[0] for i in issues] == ["l.txt", "l.json", "l.srt", "l.vtt"]
    assert "NUL" in issues[0] and "over caption.max_sidecar_bytes" in issues[1] and "no subtitle cues" in issues[2] and "WEBVTT" in issues[3]


def test_language_suffixed_sidecar(corpus):
    corpus.sidecar("m.fr.srt", SRT.replace("first cue text", "un plan fixe"))
    corpus.sidecar("m.notalang!.srt", SRT)
    side, _ = reader(corpus).lookup("m.mp4", 0.0, 1.0)
    assert (side.caption, side.language, side.file_name) == ("un plan fixe", "fr", "m.fr.srt")


def test_unsafe_source_paths_are_not_followed(corpus, tmp_path):
    (tmp_path / "outside.txt").write_text("secret", encoding="utf-8")
    r = reader(corpus)
    for bad in ["../outside.mp4", "/etc/passwd", "a/../../outside.mp4", ""]:
        side, issues = r.lookup(bad, 0, 1)
        assert side is None and "not a relative path" in issues[0]
    assert source_dir_and_stem(corpus.raw, "x/y/clip one.MP4") == (corpus.raw / "x" / "y", "clip one")


def test_sidecar_reparsed_when_file_changes(corpus):
    p = corpus.sidecar("n.txt", "old text")
    r = reader(corpus)
    assert r.lookup("n.mp4", 0, 1)[0].caption == "old text"
    p.write_text("new text here", encoding="utf-8")
    assert r.lookup("n.mp4", 0, 1)[0].caption == "new text here"
