"""Caption cleanup: what a VLM says about a clip, made into a training caption.

VLM captions open with boilerplate about the medium ("The video shows", "In this video,",
"This image depicts", "Sure! Here is a description of the video:"), which carries no
information and, repeated over 100 hours of captions, teaches a text-to-video model that
every prompt starts that way.  `clean_caption`:

1. collapses whitespace (newlines, tabs, runs of spaces) to single spaces and strips
   markdown emphasis and wrapping quotes;
2. drops a chat preamble ("Sure! Here's a description of the video:", "Certainly.");
3. strips ONE boilerplate opening about the medium, also after "In this video," style
   openers ("In the video, we see a man ..." -> "A man ..."), and re-capitalises;
4. cuts to `max_sentences` sentences; when the model hit its token budget
   (`truncated=True`) an unfinished last sentence is dropped if a complete one precedes it.

The text it returns is never empty when the input has words: if stripping would leave
nothing (the caption was only boilerplate), the collapsed original is returned.  The raw
model output is kept separately by the captioners (`CaptionResult.raw`).
"""

from __future__ import annotations

import re

_MEDIUM = r"(?:video|clip|footage|scene|sequence|image|images|picture|frames?|animation|shot|film|gif)"
_VERB = (
    r"(?:shows|show|showing|depicts|depict|depicting|features|feature|featuring|captures|capture|capturing|"
    r"displays|display|displaying|presents|present|presenting|portrays|portray|portraying|illustrates|illustrate|"
    r"contains|contain|is of|are of|begins with|starts with|opens with|focuses on|is showing|are showing|"
    r"appears to show|appears to depict|seems to show)"
)
_WE_SEE = r"(?:(?:we|you) (?:can )?(?:see|observe|watch)|there (?:is|are)|it shows|(?:is|are) shown)"

# "Sure! Here is a short description of the video:" / "Certainly." / "Here's what happens in the clip:"
_PREAMBLE = re.compile(
    r"^(?:(?:sure|certainly|of course|okay|ok)[!.,]?\s*)?"
    r"(?:here(?:'s| is| are)\s[^.:!?]{0,60}?" + _MEDIUM + r"[^.:!?]{0,20}?[:.]\s*)?",
    re.IGNORECASE,
)
# "The video shows", "This short clip depicts", "The images show", "A video of", "Video of"
_OPENING = re.compile(
    r"^(?:(?:the|this|these|our|a|an)\s+)?(?:[a-z-]+\s+){0,2}?" + _MEDIUM + r"\s+" + _VERB + r"(?:\s+(?:that\s+)?|\s*$)",
    re.IGNORECASE,
)
_OF_OPENING = re.compile(r"^(?:(?:a|an|the)\s+)?(?:[a-z-]+\s+)?" + _MEDIUM + r"\s+of\s+", re.IGNORECASE)
# "In this video, we see" / "In the clip," / "Throughout the video,"
_IN_OPENING = re.compile(
    r"^(?:in|throughout|within|during|across)\s+(?:the|this|these)\s+(?:[a-z-]+\s+)?" + _MEDIUM + r"\s*,?\s*(?:" + _WE_SEE + r"\s+)?",
    re.IGNORECASE,
)
_WE_SEE_OPENING = re.compile(r"^" + _WE_SEE + r"\s+", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")
_ABBREV = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|vs|etc|e\.g|i\.e|approx|No)\.$", re.IGNORECASE)


def collapse(text: str) -> str:
    """Whitespace runs -> one space; markdown bold/italics markers and wrapping quotes removed."""
    s = " ".join(str(text).split())
    s = re.sub(r"\*{1,3}([^*]+)\*{1,3}", r"\1", s)
    s = re.sub(r"^#+\s*", "", s)
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
        s = s[1:-1].strip()
    return s


def _capitalise(s: str) -> str:
    return s[:1].upper() + s[1:] if s else s


def strip_boilerplate(text: str) -> str:
    """Remove a chat preamble and one opening about the medium (see module doc); '' if nothing is left."""
    s = _PREAMBLE.sub("", text, count=1).lstrip(" :-")
    for pattern in (_IN_OPENING, _OPENING, _OF_OPENING):
        stripped = pattern.sub("", s, count=1)
        if stripped != s:
            s = _WE_SEE_OPENING.sub("", stripped, count=1)
            break
    else:
        s = _WE_SEE_OPENING.sub("", s, count=1)
    return _capitalise(s.strip(" ,:;-"))


def split_sentences(text: str) -> list[str]:
    """Sentences of `text` (split after . ! ? followed by a capital or digit; common abbreviations kept)."""
    parts: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        piece = text[start : m.start()].strip()
        if _ABBREV.search(piece.split(" ")[-1] if piece else ""):
            continue
        parts.append(text[start : m.end()].strip())
        start = m.end()
    tail = text[start:].strip()
    if tail:
        parts.append(tail)
    return parts


def _complete(sentence: str) -> bool:
    return sentence.rstrip("\"')]").endswith((".", "!", "?"))


def cut_sentences(text: str, max_sentences: int, truncated: bool = False) -> str:
    """At most `max_sentences` sentences; with `truncated`, an unfinished last one goes if a complete one precedes it."""
    sentences = split_sentences(text)
    if truncated and len(sentences) > 1 and not _complete(sentences[-1]):
        sentences = sentences[:-1]
    return " ".join(sentences[: max(1, max_sentences)])


def clean_caption(raw: str, max_sentences: int = 3, truncated: bool = False) -> str:
    """The training caption for a model output `raw` (see module doc)."""
    collapsed = collapse(raw)
    if not collapsed:
        return ""
    text = strip_boilerplate(collapsed)
    if not any(ch.isalnum() for ch in text):
        text = collapsed
    return cut_sentences(text, max_sentences, truncated)
