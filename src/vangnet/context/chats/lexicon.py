"""The chat lexicon: per language, the phrases (``terms``) and regular expressions
(``patterns``) of each `Category`, loaded from TOML data files and compiled once.

Built-in files live beside this module (``lexicon/en.toml``, ``nl.toml``, ``tl.toml``,
``ceb.toml``, and ``any.toml`` for language-independent handles and links); the setting
``context_chat_lexicons`` adds files that extend a language (``mode = "extend"``, the
default) or replace it (``mode = "replace"``), or add a new one.

Matching, so that a disguise does not hide a phrase and a word inside another word does not
fire one:

- ``terms`` are folded exactly as the message is (`vangnet.context.text`: NFKC, ASCII,
  lower case, leetspeak between letters mapped, repeated letters collapsed) and matched at
  word boundaries; a space in a term also matches a hyphen, dot, underscore or nothing
  (``mag show`` = ``mag-show`` = ``magshow``).
- ``patterns`` are matched against the message's plain fold (digits, ``0x`` and doubled
  letters kept: amounts, ages, phone numbers, addresses); ``{NAME}`` expands to the file's
  ``[placeholders]`` (then ``any.toml``'s), e.g. ``{AGE}`` = the numbers under 18 in
  digits and words of that language.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib.resources import files
from pathlib import Path
from typing import Any

from vangnet.context.text import deleet_inside_words, fold, squeeze
from vangnet.errors import ValidationError

#: The language of the language-independent file.
ANY = "any"
_PLACEHOLDER = re.compile(r"\{([A-Z_]+)\}")


class Category(StrEnum):
    """What a phrase in a chat is evidence of (see docs/context-chats.md)."""

    LIVE_SHOW = "live_show"  # soliciting or offering a live show / cam / video call
    PRICE = "price"  # negotiating a price: amounts, "how much", "send first"
    CHILD_AGE = "child_age"  # a minor's age mentioned with a person word (never descriptions)
    DIRECTING = "directing"  # instructions to the other side: "show me", "closer"
    PAYMENT_HANDLE = "payment_handle"  # wallet numbers, PayPal.me, MTCN, crypto, IBAN
    PLATFORM_HOP = "platform_hop"  # "add me on Telegram", invite links, @usernames


def full_fold(text: str) -> str:
    """The fold ``terms`` are matched in: `fold`, leetspeak between letters mapped, repeated
    letters collapsed."""
    return squeeze(deleet_inside_words(fold(text)))


@dataclass(frozen=True, slots=True)
class Hit:
    """One phrase of ``category`` (from the ``language`` file) found in a message: the
    folded ``text`` it matched."""

    category: Category
    language: str
    text: str


@dataclass(frozen=True)
class LanguageLexicon:
    """One language's terms and (expanded) patterns per category, from ``sources``."""

    language: str
    name: str
    version: str
    terms: dict[Category, tuple[str, ...]]
    patterns: dict[Category, tuple[str, ...]]
    placeholders: dict[str, str]
    sources: tuple[str, ...]


def _read(path: Path | Any) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValidationError(f"chat lexicon {path}: {error}") from None
    return data


def _strings(path: object, where: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValidationError(f"chat lexicon {path}: {where} must be a list of non-empty strings")
    return tuple(value)


def _parse(path: object, data: dict[str, Any]) -> tuple[LanguageLexicon, str]:
    head = data.get("lexicon")
    if not isinstance(head, dict) or not isinstance(head.get("language"), str):
        raise ValidationError(f"chat lexicon {path}: needs [lexicon] with language = '..'")
    mode = head.get("mode", "extend")
    if mode not in ("extend", "replace"):
        raise ValidationError(f"chat lexicon {path}: mode must be 'extend' or 'replace'")
    known = {c.value for c in Category} | {"lexicon", "placeholders"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValidationError(f"chat lexicon {path}: unknown section(s) {', '.join(unknown)}")
    placeholders = data.get("placeholders", {})
    if not isinstance(placeholders, dict) or not all(
        isinstance(v, str) for v in placeholders.values()
    ):
        raise ValidationError(f"chat lexicon {path}: [placeholders] must map names to strings")
    terms: dict[Category, tuple[str, ...]] = {}
    patterns: dict[Category, tuple[str, ...]] = {}
    for category in Category:
        section = data.get(category.value, {})
        if not isinstance(section, dict) or set(section) - {"terms", "patterns"}:
            raise ValidationError(
                f"chat lexicon {path}: [{category.value}] holds only terms and patterns"
            )
        terms[category] = _strings(path, f"{category}.terms", section.get("terms", []))
        patterns[category] = _strings(path, f"{category}.patterns", section.get("patterns", []))
    lang = LanguageLexicon(
        language=head["language"],
        name=str(head.get("name", head["language"])),
        version=str(head.get("version", "1")),
        terms=terms,
        patterns=patterns,
        placeholders=dict(placeholders),
        sources=(str(path),),
    )
    return lang, mode


def _merge(old: LanguageLexicon, new: LanguageLexicon) -> LanguageLexicon:
    return LanguageLexicon(
        language=old.language,
        name=old.name,
        version=f"{old.version}+{new.version}",
        terms={c: old.terms[c] + new.terms[c] for c in Category},
        patterns={c: old.patterns[c] + new.patterns[c] for c in Category},
        placeholders={**old.placeholders, **new.placeholders},
        sources=old.sources + new.sources,
    )


def _term_regex(terms: Iterable[str]) -> re.Pattern[str] | None:
    folded = sorted({full_fold(t) for t in terms} - {""}, key=lambda t: (-len(t), t))
    if not folded:
        return None
    alternatives = [r"[\s\-_.]*".join(re.escape(w) for w in t.split(" ")) for t in folded]
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(alternatives) + r")(?![a-z0-9])")


class Lexicon:
    """Every language's compiled terms and patterns; `match` finds the hits in a message."""

    def __init__(self, languages: Sequence[LanguageLexicon]) -> None:
        self.languages = tuple(sorted(languages, key=lambda x: x.language))
        shared = next((x.placeholders for x in self.languages if x.language == ANY), {})
        self._compiled: list[tuple[str, Category, re.Pattern[str] | None, list[re.Pattern[str]]]]
        self._compiled = []
        digest = hashlib.sha256()
        for lang in self.languages:
            names = {**shared, **lang.placeholders}
            for category in Category:
                digest.update(repr((lang.language, category, lang.terms[category])).encode())
                digest.update(repr(lang.patterns[category]).encode())
                compiled = []
                for pattern in lang.patterns[category]:
                    expanded = self._expand(lang, pattern, names)
                    try:
                        compiled.append(re.compile(expanded))
                    except re.error as error:
                        raise ValidationError(
                            f"chat lexicon {', '.join(lang.sources)}: bad pattern "
                            f"{pattern!r} in [{category}]: {error}"
                        ) from None
                self._compiled.append(
                    (lang.language, category, _term_regex(lang.terms[category]), compiled)
                )
        self.version = (
            ",".join(f"{x.language}{x.version}" for x in self.languages)
            + ":"
            + digest.hexdigest()[:12]
        )

    @staticmethod
    def _expand(lang: LanguageLexicon, pattern: str, names: dict[str, str]) -> str:
        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in names:
                raise ValidationError(
                    f"chat lexicon {', '.join(lang.sources)}: unknown placeholder {{{m.group(1)}}}"
                )
            return names[m.group(1)]

        return _PLACEHOLDER.sub(sub, pattern)

    @property
    def language_codes(self) -> tuple[str, ...]:
        return tuple(x.language for x in self.languages)

    def match(self, text: str) -> list[Hit]:
        """Every category hit in ``text``, in lexicon order (language, category), at most one
        hit per (language, category, matched text)."""
        plain = fold(text)
        full = squeeze(deleet_inside_words(plain))
        hits: list[Hit] = []
        seen: set[tuple[str, Category, str]] = set()
        for language, category, terms, patterns in self._compiled:
            found = [m.group(0) for m in terms.finditer(full)] if terms is not None else []
            for pattern in patterns:
                found.extend(m.group(0) for m in pattern.finditer(plain))
            for text_hit in found:
                key = (language, category, text_hit)
                if key not in seen:
                    seen.add(key)
                    hits.append(Hit(category, language, text_hit))
        return hits


def builtin_paths() -> list[Any]:
    """The bundled lexicon files (``any`` first, then by language)."""
    folder = files("vangnet.context.chats") / "lexicon"
    return sorted(
        (p for p in folder.iterdir() if p.name.endswith(".toml") and p.name != "rules.toml"),
        key=lambda p: (p.name != "any.toml", p.name),
    )


def load_lexicon(extra: Sequence[Path] = ()) -> Lexicon:
    """The built-in lexicon, extended or replaced language by language by ``extra`` files
    (in order)."""
    by_language: dict[str, LanguageLexicon] = {}
    for path in [*builtin_paths(), *extra]:
        lang, mode = _parse(path, _read(path))
        old = by_language.get(lang.language)
        by_language[lang.language] = _merge(old, lang) if old and mode == "extend" else lang
    return Lexicon(list(by_language.values()))
