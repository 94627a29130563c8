"""A search query folded against obfuscation, identically to every term of a list.

Steps: `vangnet.context.text.fold` (NFKC: fullwidth letters; format characters such as
zero-width joiners dropped; ``anyascii``: accents and homoglyphs such as Cyrillic letters
that look Latin; case-folded), then every leetspeak digit and sign mapped to its letter
(0->o 1->i 3->e 4->a 5->s 7->t @->a $->s), then split into tokens at anything that is not a
letter or digit (spaces, dots, hyphens, underscores...). The match key of a run of tokens is
their concatenation with repeated letters collapsed, so ``p t h c``, ``p.t.h.c``, ``pthc``
and ``ptthhc`` share one key, and a term matches only whole tokens: a term is never found
inside a longer word.
"""

from __future__ import annotations

import re

from vangnet.context.text import deleet, fold, squeeze

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def tokens(text: str) -> tuple[str, ...]:
    """The folded tokens of ``text``."""
    return tuple(t for t in _NOT_ALNUM.split(deleet(fold(text))) if t)


def key(parts: tuple[str, ...] | list[str]) -> str:
    """The match key of a run of tokens: joined, repeated letters collapsed."""
    return squeeze("".join(parts))
