"""Caption language: a sidecar's own tag when it has one, else langdetect, else the default.

langdetect is made deterministic with `DetectorFactory.seed = 0` (its detector
samples n-grams at random otherwise).
"""

from __future__ import annotations

import re
import threading

SIDECAR = "sidecar"
DETECTED = "detected"
DEFAULT = "default"

_CODE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
_lock = threading.Lock()
_ready = False


def normalize_code(value: object) -> str | None:
    """'FR' -> 'fr', 'pt_BR' -> 'pt-br'; anything that is not a language tag -> None."""
    if not isinstance(value, str):
        return None
    v = value.strip()
    if not _CODE.match(v):
        return None
    return v.replace("_", "-").lower()


def _init() -> None:
    global _ready
    with _lock:
        if not _ready:
            from langdetect import DetectorFactory

            DetectorFactory.seed = 0
            _ready = True


def detect(text: str, min_confidence: float = 0.5) -> str | None:
    """Most probable language of `text` (langdetect code, lower case) or None when unsure / no letters."""
    from langdetect import detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    _init()
    if not text or not any(ch.isalpha() for ch in text):
        return None
    try:
        best = detect_langs(text)[0]
    except LangDetectException:
        return None
    if best.prob < min_confidence:
        return None
    return normalize_code(best.lang)


def resolve(text: str | None, sidecar_language: str | None, default: str, min_confidence: float = 0.5) -> tuple[str, str]:
    """(language, language_source) for a caption."""
    if sidecar_language:
        return sidecar_language, SIDECAR
    if text:
        lang = detect(text, min_confidence)
        if lang:
            return lang, DETECTED
    return default, DEFAULT
