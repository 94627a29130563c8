"""Language of the text found in a picture, as a hint to the country it was made in (lingua).

Measured on the 2-core machine (lingua 2.1; load = first call, RSS = growth of the process;
accuracy on 21 short sentences, 6-10 words, in 12 languages incl. Tagalog and Indonesian):

=================================================  =========  ========  ===================
detector                                           load       RSS       top-1 correct
=================================================  =========  ========  ===================
all 75 languages, high accuracy                    8.5 s      ~900 MB   21/21
all 75, low accuracy (trigrams only)               0.4 s      ~60 MB    17/21 (es->ca, tl->ms)
`LANGUAGES` (42), high accuracy                    5.0 s      ~680 MB   21/21
`LANGUAGES` (42), low accuracy                     0.2 s      ~40 MB    18/21 (tl, id->ms, ro->tl)
`LANGUAGES` low, then high among its top 3 when    0.2 s, +   ~40 MB +  21/21
it is not `SURE` (what `language` does)            ~0.3 s     ~25 MB
                                                   per new    per new
                                                   language   language
=================================================  =========  ========  ===================

A warm call takes well under 1 ms. So `language` runs lingua's low-accuracy mode over
`LANGUAGES` (EU languages, the languages of the countries where live-streamed abuse is most
often reported from, and the world's largest ones) and, unless that is at least `SURE`
certain, decides between its top three candidates with high-accuracy models. These load per
language on first use and stay loaded (worst case all of `LANGUAGES`: ~680 MB; ~290 MB
after sentences in 12 languages); a triage of one collection usually needs a handful.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import Any

from lingua import Language as LinguaLanguage
from lingua import LanguageDetector, LanguageDetectorBuilder

#: Fewer letters than this (after dropping URLs, handles, file names): no language.
MIN_LETTERS = 12
#: A low-accuracy answer at least this confident is kept without a second look.
SURE = 0.99
#: Candidates the high-accuracy second look chooses between.
SECOND_LOOK = 3

L = LinguaLanguage
LANGUAGES: tuple[LinguaLanguage, ...] = (
    # European Union, EEA, candidates and neighbours
    L.BULGARIAN, L.CROATIAN, L.CZECH, L.DANISH, L.DUTCH, L.ENGLISH, L.ESTONIAN, L.FINNISH,
    L.FRENCH, L.GERMAN, L.GREEK, L.HUNGARIAN, L.IRISH, L.ITALIAN, L.LATVIAN, L.LITHUANIAN,
    L.POLISH, L.PORTUGUESE, L.ROMANIAN, L.SLOVAK, L.SLOVENE, L.SPANISH, L.SWEDISH, L.BOKMAL,
    L.ALBANIAN, L.SERBIAN, L.TURKISH, L.RUSSIAN, L.UKRAINIAN,
    # South-East Asia (most reported source region of paid live-streamed abuse)
    L.TAGALOG, L.INDONESIAN, L.MALAY, L.VIETNAMESE, L.THAI,
    # other large languages
    L.ARABIC, L.PERSIAN, L.HINDI, L.URDU, L.BENGALI, L.CHINESE, L.JAPANESE, L.KOREAN,
)  # fmt: skip

#: ISO 639-1 code -> ISO 3166-1 alpha-2 countries where it is a main language (a hint, not
#: a list of every country with speakers).
COUNTRIES: dict[str, tuple[str, ...]] = {
    "bg": ("BG",),
    "hr": ("HR", "BA"),
    "cs": ("CZ",),
    "da": ("DK",),
    "nl": ("NL", "BE", "SR"),
    "en": ("GB", "US", "IE", "AU", "CA", "NZ", "PH", "IN", "ZA", "NG"),
    "et": ("EE",),
    "fi": ("FI",),
    "fr": ("FR", "BE", "CH", "LU", "CA", "SN", "CI", "HT"),
    "de": ("DE", "AT", "CH", "LI", "LU"),
    "el": ("GR", "CY"),
    "hu": ("HU",),
    "ga": ("IE",),
    "it": ("IT", "CH", "SM"),
    "lv": ("LV",),
    "lt": ("LT",),
    "pl": ("PL",),
    "pt": ("PT", "BR", "AO", "MZ"),
    "ro": ("RO", "MD"),
    "sk": ("SK",),
    "sl": ("SI",),
    "es": ("ES", "MX", "CO", "AR", "PE", "VE", "CL", "US"),
    "sv": ("SE", "FI"),
    "nb": ("NO",),
    "sq": ("AL", "XK", "MK"),
    "sr": ("RS", "BA", "ME"),
    "tr": ("TR", "CY"),
    "ru": ("RU", "BY", "KZ", "KG"),
    "uk": ("UA",),
    "tl": ("PH",),
    "id": ("ID",),
    "ms": ("MY", "BN", "SG"),
    "vi": ("VN",),
    "th": ("TH",),
    "ar": ("SA", "EG", "MA", "DZ", "IQ", "SY", "AE", "JO"),
    "fa": ("IR", "AF"),
    "hi": ("IN",),
    "ur": ("PK", "IN"),
    "bn": ("BD", "IN"),
    "zh": ("CN", "TW", "HK", "SG"),
    "ja": ("JP",),
    "ko": ("KR", "KP"),
}


@dataclass(frozen=True)
class Language:
    """A language guess: ISO 639-1 ``code`` ("nl"), English ``name`` ("Dutch"),
    ``confidence`` (0-1) and the ``countries`` (ISO 3166-1 alpha-2) it hints at."""

    code: str
    name: str
    confidence: float
    countries: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "confidence": round(self.confidence, 3),
            "countries": list(self.countries),
        }


# Tokens that are not language: links, e-mail addresses, @handles, file names, numbers.
_NOISE = re.compile(
    r"https?://\S+|www\.\S+|\S+@\S+\.\S+|@\w+|\S+\.[A-Za-z0-9]{2,4}\b(?!\.)|\S*\d\S*",
)


def letters_only(text: str) -> str:
    """``text`` without links, addresses, handles, file names and tokens with digits."""
    return " ".join(_NOISE.sub(" ", text).split())


class _Detectors:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.low: LanguageDetector | None = None
        self.high: dict[frozenset[LinguaLanguage], LanguageDetector] = {}

    def low_accuracy(self) -> LanguageDetector:
        with self.lock:
            if self.low is None:
                self.low = (
                    LanguageDetectorBuilder.from_languages(*LANGUAGES)
                    .with_low_accuracy_mode()
                    .build()
                )
            return self.low

    def high_accuracy(self, languages: frozenset[LinguaLanguage]) -> LanguageDetector:
        # Detectors are cheap; lingua keeps each language's models once per process.
        with self.lock:
            found = self.high.get(languages)
            if found is None:
                found = LanguageDetectorBuilder.from_languages(*languages).build()
                self.high[languages] = found
            return found


_DETECTORS = _Detectors()


def _reset_after_fork() -> None:
    global _DETECTORS
    _DETECTORS = _Detectors()


os.register_at_fork(after_in_child=_reset_after_fork)


def _result(language: LinguaLanguage, confidence: float) -> Language:
    code = language.iso_code_639_1.name.lower()
    return Language(
        code=code,
        name=language.name.capitalize(),
        confidence=min(1.0, max(0.0, confidence)),
        countries=COUNTRIES.get(code, ()),
    )


def language(text: str) -> Language | None:
    """The language of ``text``, or None when it has fewer than `MIN_LETTERS` letters (once
    links, handles, file names and numbers are dropped) or lingua cannot tell."""
    words = letters_only(text)
    if sum(c.isalpha() for c in words) < MIN_LETTERS:
        return None
    first = _DETECTORS.low_accuracy().compute_language_confidence_values(words)
    if not first or first[0].value <= 0.0:
        return None
    if first[0].value >= SURE:
        return _result(first[0].language, first[0].value)
    candidates = [c for c in first[:SECOND_LOOK] if c.value > 0.0]
    if len(candidates) == 1:
        return _result(candidates[0].language, candidates[0].value)
    mass = sum(c.value for c in candidates)
    detector = _DETECTORS.high_accuracy(frozenset(c.language for c in candidates))
    second = detector.compute_language_confidence_values(words)
    if not second or second[0].value <= 0.0:
        return None
    return _result(second[0].language, second[0].value * mass)
