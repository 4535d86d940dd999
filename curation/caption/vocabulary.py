"""Video-domain vocabulary: multilingual surface terms -> canonical tags, grouped in categories.

The spec is a YAML file (the packaged seed is `curation/data/vocabulary.yaml`;
see its header for the layout).  Matching works on word tokens of the
normalized caption (NFKD, accents dropped, casefolded, anything that is not a
letter or digit is a separator), so it is whole-word, case- and
accent-insensitive, and multi-word terms match across punctuation.  At each
position the longest term wins and its words are consumed ("slow motion" gives
slow-motion, not also slow).

Known limits: no stemming (inflections are listed in the spec); German
compounds match only when listed whole; scripts without spaces (CJK) are not
tokenized into words.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

_WORD = re.compile(r"[^\W_]+")


class VocabularyError(ValueError):
    """The vocabulary spec is malformed; the message says where."""


def normalize(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.casefold()


def words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(normalize(text)))


@dataclass(frozen=True)
class _Entry:
    tag: str
    exclusive_to: frozenset[str]  # empty: matches in any language


class Vocabulary:
    def __init__(self, spec: dict[str, Any], source: str = "vocabulary"):
        self.source = source
        self.categories: dict[str, str] = {}  # tag -> category
        self._terms: dict[tuple[str, ...], dict[str, list[str]]] = {}  # words -> tag -> [languages]
        self._exclusive: set[tuple[str, tuple[str, ...]]] = set()  # (language, words)
        self._load(spec)
        self.max_words = max((len(k) for k in self._terms), default=0)

    # ------------------------------------------------------------------ loading
    def _fail(self, where: str, msg: str) -> None:
        raise VocabularyError(f"{self.source}: {where}: {msg}")

    def _load(self, spec: dict[str, Any]) -> None:
        if not isinstance(spec, dict) or not isinstance(spec.get("categories"), dict) or not spec["categories"]:
            self._fail("(top)", "needs a non-empty 'categories' mapping")
        for category, tags in spec["categories"].items():
            if not isinstance(tags, dict) or not tags:
                self._fail(f"categories.{category}", "needs a mapping of canonical tag -> languages")
            for tag, langs in tags.items():
                tag = str(tag)
                where = f"categories.{category}.{tag}"
                if tag in self.categories:
                    self._fail(where, f"tag already defined in category {self.categories[tag]!r}")
                self.categories[tag] = str(category)
                if not isinstance(langs, dict) or not langs:
                    self._fail(where, "needs a mapping of language -> list of terms")
                for lang, terms in langs.items():
                    if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
                        self._fail(f"{where}.{lang}", "needs a list of strings")
                    for term in terms:
                        key = words(term)
                        if not key:
                            self._fail(f"{where}.{lang}", f"term {term!r} has no letters or digits")
                        owners = self._terms.setdefault(key, {})
                        other = [t for t in owners if t != tag]
                        if other:
                            self._fail(f"{where}.{lang}", f"term {term!r} already maps to tag {other[0]!r}")
                        owners.setdefault(tag, []).append(str(lang).lower())
        excl = spec.get("language_exclusive") or {}
        if not isinstance(excl, dict):
            self._fail("language_exclusive", "needs a mapping of language -> list of terms")
        for lang, terms in excl.items():
            for term in terms or []:
                key = words(str(term))
                owners = self._terms.get(key)
                if not owners or not any(str(lang).lower() in ls for ls in owners.values()):
                    self._fail(f"language_exclusive.{lang}", f"{term!r} is not a {lang} term of any tag")
                self._exclusive.add((str(lang).lower(), key))

    @classmethod
    def from_file(cls, path: str | Path) -> "Vocabulary":
        p = Path(path)
        try:
            spec = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise VocabularyError(f"{p}: cannot read vocabulary: {exc}") from None
        return cls(spec, str(p))

    @classmethod
    def packaged(cls) -> "Vocabulary":
        ref = resources.files("curation") / "data" / "vocabulary.yaml"
        return cls(yaml.safe_load(ref.read_text(encoding="utf-8")), "curation/data/vocabulary.yaml")

    @classmethod
    def load(cls, path: str | Path | None) -> "Vocabulary":
        return cls.packaged() if path is None else cls.from_file(path)

    # ------------------------------------------------------------------ tagging
    def _allowed(self, key: tuple[str, ...], tag_langs: list[str], language: str | None) -> bool:
        primary = (language or "").split("-")[0].lower()
        for lang in tag_langs:
            if (lang, key) not in self._exclusive or not primary or lang == primary:
                return True
        return False

    def tag(self, text: str | None, language: str | None = None) -> tuple[list[str], list[str]]:
        """(sorted unique tags, their categories in the same order).

        `language` is the caption's language, or None when it is undetermined;
        it only matters for terms listed under `language_exclusive`.
        """
        if not text:
            return [], []
        toks = words(text)
        found: set[str] = set()
        i = 0
        while i < len(toks):
            step = 1
            for n in range(min(self.max_words, len(toks) - i), 0, -1):
                key = toks[i : i + n]
                owners = self._terms.get(key)
                if owners:
                    (tag, langs), = owners.items()
                    if self._allowed(key, langs, language):
                        found.add(tag)
                        step = n
                        break
            i += step
        tags = sorted(found)
        return tags, [self.categories[t] for t in tags]

    def __len__(self) -> int:
        return len(self._terms)
