"""SubRip (.srt) and WebVTT (.vtt) cue parsing, and picking the cues that fall in a clip.

Parsers are forgiving: a malformed block is skipped, never fatal.  Cue text has
its markup removed (`<i>`, `<c.red>`, `<v Speaker>`, `<00:00:01.000>`, SSA
`{\\an8}` overrides) and HTML entities unescaped.  WebVTT `NOTE`, `STYLE` and
`REGION` blocks are ignored; header lines such as `Language: fr` are returned
so the caller can use them as the sidecar's language.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})[,.](\d{1,3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")
_TAG = re.compile(r"<[^<>]*>")
_SSA = re.compile(r"\{\\[^{}]*\}")
_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    end: float  # seconds
    text: str  # markup stripped, whitespace collapsed


def _seconds(h: str | None, m: str, s: str, ms: str) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000.0


def parse_timing(line: str) -> tuple[float, float] | None:
    """`00:00:01,000 --> 00:00:02,500` (SRT) or `00:01.000 --> 00:02.000 align:start` (VTT)."""
    m = _TIMING.match(line)
    if not m:
        return None
    g = m.groups()
    return _seconds(*g[0:4]), _seconds(*g[4:8])


def strip_markup(text: str) -> str:
    text = _SSA.sub("", text)
    text = _TAG.sub("", text)
    text = html.unescape(text)
    return _WS.sub(" ", text).strip()


def _blocks(text: str) -> list[list[str]]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out: list[list[str]] = []
    cur: list[str] = []
    for line in text.split("\n"):
        if line.strip():
            cur.append(line)
        elif cur:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


def _cue_from_block(block: list[str]) -> Cue | None:
    for i, line in enumerate(block[:2]):  # optional numeric/identifier line, then timing
        timing = parse_timing(line)
        if timing is not None:
            start, end = timing
            body = strip_markup(" ".join(block[i + 1 :]))
            if body and end > start:
                return Cue(start, end, body)
            return None
    return None


def parse_srt(text: str) -> list[Cue]:
    return [c for b in _blocks(text) if (c := _cue_from_block(b)) is not None]


def parse_vtt(text: str) -> tuple[list[Cue], dict[str, str]]:
    """Return (cues, header) where header maps lower-cased header keys (e.g. "language") to values."""
    blocks = _blocks(text.lstrip("\ufeff"))
    header: dict[str, str] = {}
    cues: list[Cue] = []
    if blocks and blocks[0][0].startswith("WEBVTT"):
        for line in blocks[0][1:]:
            if "-->" in line:  # a cue right under WEBVTT without a blank line: malformed, but keep it
                break
            key, sep, value = line.partition(":")
            if sep:
                header[key.strip().lower()] = value.strip()
        head_cue = _cue_from_block(blocks[0][1:]) if any("-->" in ln for ln in blocks[0][1:]) else None
        if head_cue:
            cues.append(head_cue)
        blocks = blocks[1:]
    for b in blocks:
        first = b[0].strip()
        if first.startswith(("NOTE", "STYLE", "REGION")) and "-->" not in first:
            continue
        c = _cue_from_block(b)
        if c is not None:
            cues.append(c)
    return cues, header


def text_in_span(cues: list[Cue], start_s: float, end_s: float) -> str | None:
    """Join (in time order) the texts of cues overlapping [start_s, end_s); None if no cue overlaps.

    Consecutive identical texts (rolling/duplicated cues) are kept once.
    """
    hits = sorted((c for c in cues if c.start < end_s and c.end > start_s), key=lambda c: (c.start, c.end))
    parts: list[str] = []
    for c in hits:
        if not parts or parts[-1] != c.text:
            parts.append(c.text)
    return " ".join(parts) if parts else None
