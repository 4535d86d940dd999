"""Sidecar captions: text files next to the source video, looked up and parsed robustly.

For a source `<raw>/<dir>/<stem>.<video ext>` the candidates are, for each
extension in `caption.sidecar_extensions` order, `<raw>/<dir>/<stem><ext>` and
then language-suffixed variants `<stem>.<lang><ext>` (e.g. `clip.fr.srt`,
`clip.pt-BR.vtt`), sorted by name.  Sidecar paths are always built from our
own join of the raw directory and the source stem, never from file content,
and a `source_path` that is absolute or climbs out of the raw directory gets
no sidecar at all.

Formats:
  .txt   the whole text (whitespace collapsed)
  .json  an object with a `caption` string; optional `language` / `lang`
  .srt   cue texts overlapping the clip's [start_s, end_s) span, in time order
  .vtt   same, plus a `Language:` header line as the language

A sidecar that cannot be used (too large, not UTF-8, invalid JSON, no cues)
is skipped with a recorded issue and the next candidate is tried; an SRT/VTT
file with no cue in the clip's span simply falls through.
"""

from __future__ import annotations

import json
import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from curation.caption import language as lang_mod
from curation.caption.subtitles import Cue, parse_srt, parse_vtt, text_in_span

_WS = re.compile(r"\s+")
_LANG_SUFFIX = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})?$")


@dataclass(frozen=True)
class SidecarFile:
    path: Path
    kind: str  # "txt" | "json" | "srt" | "vtt"
    name_language: str | None  # from a `.fr.srt`-style suffix


@dataclass(frozen=True)
class Parsed:
    """One sidecar file, parsed once: either whole text or timed cues, or an issue."""

    kind: str
    text: str | None = None
    cues: tuple[Cue, ...] | None = None
    language: str | None = None
    issue: str | None = None


@dataclass(frozen=True)
class SidecarCaption:
    caption: str
    kind: str
    language: str | None
    file_name: str


def source_dir_and_stem(raw_dir: Path, source_path: str) -> tuple[Path, str] | None:
    """Directory and stem of the source inside raw_dir, or None if source_path is not a safe relative path."""
    if not source_path or "\x00" in source_path:
        return None
    rel = PurePosixPath(source_path.replace("\\", "/"))
    if rel.is_absolute() or any(p in ("..", "") for p in rel.parts) or not rel.stem:
        return None
    return raw_dir.joinpath(*rel.parent.parts), rel.stem


def candidates(directory: Path, stem: str, extensions: list[str], names: list[str]) -> list[SidecarFile]:
    """Sidecar files for `stem` among `names` (the directory listing), in lookup order."""
    present = set(names)
    out: list[SidecarFile] = []
    for ext in extensions:
        kind = ext.lstrip(".").lower()
        exact = stem + ext
        if exact in present:
            out.append(SidecarFile(directory / exact, kind, None))
        prefix = stem + "."
        for name in sorted(names):
            if name.startswith(prefix) and name.endswith(ext) and len(name) > len(prefix) + len(ext):
                tag = name[len(prefix) : len(name) - len(ext)]
                if _LANG_SUFFIX.match(tag):
                    out.append(SidecarFile(directory / name, kind, lang_mod.normalize_code(tag)))
    return out


def decode_text(data: bytes) -> str:
    """UTF-8 (BOM optional) or BOM-marked UTF-16; raises ValueError with a readable reason."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ValueError(f"invalid UTF-16 ({exc.reason} at byte {exc.start})") from None
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValueError(f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    if "\x00" in text:
        raise ValueError("contains NUL characters (binary file?)")
    return text


def parse_file(path: Path, kind: str, max_bytes: int) -> Parsed:
    """Read and parse one sidecar; never raises for bad content."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return Parsed(kind, issue=f"{size} bytes, over caption.max_sidecar_bytes ({max_bytes})")
        data = path.read_bytes()
    except OSError as exc:
        return Parsed(kind, issue=f"unreadable ({exc.strerror or exc})")
    try:
        text = decode_text(data)
    except ValueError as exc:
        return Parsed(kind, issue=str(exc))
    if kind == "txt":
        body = _WS.sub(" ", text).strip()
        return Parsed(kind, text=body) if body else Parsed(kind, issue="empty")
    if kind == "json":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            return Parsed(kind, issue=f"invalid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})")
        except RecursionError:
            return Parsed(kind, issue="invalid JSON (nested too deeply)")
        if not isinstance(obj, dict):
            return Parsed(kind, issue=f"JSON top level is {type(obj).__name__}, expected an object with a 'caption' field")
        cap = obj.get("caption")
        if not isinstance(cap, str) or not cap.strip():
            return Parsed(kind, issue="JSON has no non-empty 'caption' string")
        language = lang_mod.normalize_code(obj.get("language")) or lang_mod.normalize_code(obj.get("lang"))
        return Parsed(kind, text=_WS.sub(" ", cap).strip(), language=language)
    if kind == "srt":
        cues = parse_srt(text)
        return Parsed(kind, cues=tuple(cues)) if cues else Parsed(kind, issue="no subtitle cues parsed")
    if kind == "vtt":
        if not text.lstrip("\ufeff").startswith("WEBVTT"):
            return Parsed(kind, issue="missing WEBVTT header")
        cues, header = parse_vtt(text)
        if not cues:
            return Parsed(kind, issue="no subtitle cues parsed")
        return Parsed(kind, cues=tuple(cues), language=lang_mod.normalize_code(header.get("language")))
    return Parsed(kind, issue=f"unsupported sidecar type .{kind}")


class SidecarReader:
    """Finds and parses sidecars; caches directory listings and parsed files (small LRU)."""

    def __init__(self, raw_dir: str | Path, extensions: list[str], max_bytes: int, cache_size: int = 16):
        self.raw_dir = Path(raw_dir)
        self.extensions = list(extensions)
        self.max_bytes = max_bytes
        self._listings: OrderedDict[Path, list[str]] = OrderedDict()
        self._parsed: OrderedDict[tuple[str, int, int], Parsed] = OrderedDict()
        self._cache_size = cache_size

    def _listing(self, directory: Path) -> list[str]:
        if directory in self._listings:
            self._listings.move_to_end(directory)
            return self._listings[directory]
        try:
            with os.scandir(directory) as it:
                names = sorted(e.name for e in it if e.is_file())
        except OSError:
            names = []
        self._listings[directory] = names
        if len(self._listings) > self._cache_size:
            self._listings.popitem(last=False)
        return names

    def _parse(self, f: SidecarFile) -> Parsed:
        try:
            st = f.path.stat()
            key = (str(f.path), st.st_mtime_ns, st.st_size)
        except OSError as exc:
            return Parsed(f.kind, issue=f"unreadable ({exc.strerror or exc})")
        if key in self._parsed:
            self._parsed.move_to_end(key)
            return self._parsed[key]
        parsed = parse_file(f.path, f.kind, self.max_bytes)
        self._parsed[key] = parsed
        if len(self._parsed) > self._cache_size:
            self._parsed.popitem(last=False)
        return parsed

    def lookup(self, source_path: str, start_s: float, end_s: float) -> tuple[SidecarCaption | None, list[str]]:
        """First usable sidecar caption for the clip span, and the issues of sidecars skipped on the way."""
        issues: list[str] = []
        loc = source_dir_and_stem(self.raw_dir, source_path)
        if loc is None:
            return None, ["source_path is not a relative path inside paths.raw; sidecars not looked up"]
        directory, stem = loc
        for f in candidates(directory, stem, self.extensions, self._listing(directory)):
            parsed = self._parse(f)
            if parsed.issue:
                issues.append(f"{f.path.name}: {parsed.issue}")
                continue
            text = parsed.text if parsed.cues is None else text_in_span(list(parsed.cues), start_s, end_s)
            if not text:
                continue  # timed sidecar with no cue in this clip's span: try the next source
            language = parsed.language or f.name_language
            return SidecarCaption(text, f.kind, language, f.path.name), issues
        return None, issues
