"""Text folding shared by the chat indicators and the search-deterrence check: one place that
decides what "the same text" means when people disguise it.

`fold` is the base every matcher starts from: Unicode NFKC (fullwidth letters and ligatures
become plain letters), format characters dropped (zero-width space, joiner and non-joiner,
soft hyphen, direction marks: they split a word without showing), symbols such as emoji
turned into spaces, everything else transliterated to ASCII with ``anyascii`` (accents,
homoglyphs such as the Cyrillic a, e and o U+0430, U+0435, U+043E, other scripts) and
case-folded. `deleet` maps the common leetspeak digits and signs to letters, and `squeeze`
collapses a run of one letter to a single letter; both are applied identically to a lexicon
or term list and to the text it is matched against, so a term and its disguised spelling
fold to the same string.
"""

from __future__ import annotations

import re
import unicodedata

from anyascii import anyascii

#: Leetspeak: the digit or sign -> the letter it stands for.
LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)

_SPACE = re.compile(r"\s+")
_RUN = re.compile(r"([a-z])\1+")
_LEET_INSIDE = re.compile(r"(?<=[a-z])[013457$]+(?=[a-z])")


def fold(text: str) -> str:
    """NFKC, format characters dropped, symbols to spaces, ASCII transliteration, case-folded,
    whitespace collapsed to one space."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFKC", text):
        category = unicodedata.category(ch)
        if category in ("Cf", "Cc") and ch not in "\t\n\r":
            continue
        if category in ("So", "Sk", "Cs", "Co"):
            out.append(" ")
            continue
        out.append(ch)
    return _SPACE.sub(" ", anyascii("".join(out)).casefold()).strip()


def deleet(text: str) -> str:
    """Every leetspeak digit and sign mapped to its letter (``sh0w`` -> ``show``)."""
    return text.translate(LEET)


def deleet_inside_words(text: str) -> str:
    """Leetspeak mapped only where a digit or sign stands between two letters (``sh0w``,
    ``c4m``): amounts, ages, phone numbers and ``09`` mobile numbers keep their digits."""
    return _LEET_INSIDE.sub(lambda m: m.group(0).translate(LEET), text)


def squeeze(text: str) -> str:
    """A run of one letter collapsed to one (``pleeease`` -> ``please``, ``good`` -> ``god``:
    the same happens to the terms, so both sides agree)."""
    return _RUN.sub(r"\1", text)
