from curation.caption.subtitles import parse_srt, parse_timing, parse_vtt, strip_markup, text_in_span

SRT = """1
00:00:00,000 --> 00:00:01,500
<i>A red ball</i> rolls

2
00:00:01,500 --> 00:00:03,000
{\\an8}across the <b>table</b>

garbage block without timing

3
00:00:03,000 --> 00:00:02,000
backwards cue is dropped
"""

VTT = """WEBVTT
Kind: captions
Language: fr

NOTE this is a comment
00:00:00.000 --> 00:00:09.000

STYLE
::cue { color: red }

intro
00:00.000 --> 00:01.000 align:start position:10%
<v Narrateur>Un chat &amp; un chien</v>

00:00:01.000 --> 00:00:02.000
<c.yellow>courent</c> <00:00:01.500>vite
"""


def test_timing_formats():
    assert parse_timing("00:00:01,250 --> 00:01:02,5") == (1.25, 62.5)
    assert parse_timing("01:02.003 --> 1:00:00.000 line:0") == (62.003, 3600.0)
    assert parse_timing("not a timing") is None


def test_strip_markup():
    assert strip_markup("<v Bob>Hi</v> {\\i1}there{\\i0} &lt;3  ok") == "Hi there <3 ok"


def test_parse_srt_skips_bad_blocks():
    cues = parse_srt(SRT.replace("\n", "\r\n"))
    assert [(c.start, c.end, c.text) for c in cues] == [(0.0, 1.5, "A red ball rolls"), (1.5, 3.0, "across the table")]


def test_parse_vtt_header_and_blocks():
    cues, header = parse_vtt(VTT)
    assert header["language"] == "fr" and header["kind"] == "captions"
    assert [c.text for c in cues] == ["Un chat & un chien", "courent vite"]


def test_text_in_span_uses_half_open_overlap():
    cues = parse_srt(SRT)
    assert text_in_span(cues, 0.0, 1.0) == "A red ball rolls"
    assert text_in_span(cues, 1.5, 2.0) == "across the table"  # cue 1 ends exactly at 1.5: no overlap
    assert text_in_span(cues, 1.0, 2.0) == "A red ball rolls across the table"
    assert text_in_span(cues, 3.0, 5.0) is None
