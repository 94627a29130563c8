"""Term lists the operator supplies (hotline members' lists), and matching a query against
them.

File format (UTF-8 text): one term a line; empty lines and lines starting with ``#`` are
skipped; a line ``[name]`` starts a list of that name and ``[name:lang]`` one in a language
(ISO 639 code; used for the help route when the caller gives no language). Terms before any
header belong to a list named after the file. A term may be several words; it is folded as
a query is (`vangnet.context.deterrence.normalize`) and matches a run of whole query tokens
whose key equals its key. A term whose key is shorter than `MIN_KEY` characters, a bad
header or an empty list is an error naming the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vangnet.context.deterrence.normalize import key, tokens
from vangnet.errors import ValidationError

#: Shortest term key: shorter ones would match initials and ordinary short words.
MIN_KEY = 3
NAME = re.compile(r"^\[([A-Za-z0-9][A-Za-z0-9_.-]{0,63})(?::([a-z]{2,3}(?:-[a-z]{2})?))?\]$")


@dataclass(frozen=True)
class TermList:
    """A named list of term keys (``language`` when its header gave one)."""

    name: str
    language: str | None
    keys: frozenset[str]


@dataclass(frozen=True)
class Match:
    """The list a query matched."""

    list_name: str
    language: str | None


class TermLists:
    """Every list loaded; `match` finds the first list (in file order) a query matches."""

    def __init__(self, lists: Sequence[TermList]) -> None:
        self.lists = tuple(lists)
        self._owner: dict[str, TermList] = {}
        for term_list in self.lists:
            for k in term_list.keys:
                self._owner.setdefault(k, term_list)
        self.longest = max((len(k) for k in self._owner), default=0)

    def __len__(self) -> int:
        return len(self._owner)

    def match(self, query: str) -> Match | None:
        """The first list whose key equals the key of a run of whole query tokens.

        The key of a run is a slice of the whole query's key (collapsing repeated letters
        works across token boundaries alike), so each token's place in it is taken once and
        each distinct slice looked up once: a query of many repeated letters (``a a a ...``,
        each run folding to ``a``) costs as little as any other."""
        whole: list[str] = []  # the whole query's key
        starts: list[int] = []  # where each token's part of it starts and ends
        ends: list[int] = []
        for part in tokens(query):
            folded = key([part])
            joins = bool(whole) and whole[-1] == folded[0]  # its first letter merges
            starts.append(len(whole) - 1 if joins else len(whole))
            whole.extend(folded[1:] if joins else folded)
            ends.append(len(whole))
        text = "".join(whole)
        tried: set[int] = set()
        for first, start in enumerate(starts):
            if start in tried:  # an earlier token starts the same slices
                continue
            tried.add(start)
            previous = -1
            for end in ends[first:]:
                if end - start > self.longest:
                    break
                if end == previous:  # a token that adds nothing: the same key
                    continue
                previous = end
                found = self._owner.get(text[start:end])
                if found is not None:
                    return Match(found.name, found.language)
        return None


def parse_term_file(path: Path) -> list[TermList]:
    """The lists of one term file; `ValidationError` naming the line of a problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValidationError(f"term list {path}: {error}") from None
    lists: list[tuple[str, str | None, set[str], int]] = []
    current: tuple[str, str | None, set[str], int] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            header = NAME.match(line)
            if header is None:
                raise ValidationError(
                    f"term list {path} line {number}: a header is [name] or [name:language]"
                )
            current = (header.group(1), header.group(2), set(), number)
            lists.append(current)
            continue
        if current is None:
            current = (path.stem[:64] or "terms", None, set(), number)
            lists.append(current)
        term_key = key(tokens(line))
        if len(term_key) < MIN_KEY:
            raise ValidationError(
                f"term list {path} line {number}: a term must fold to at least {MIN_KEY} "
                "letters or digits"
            )
        current[2].add(term_key)
    for name, _language, keys, number in lists:
        if not keys:
            raise ValidationError(f"term list {path} line {number}: list [{name}] has no terms")
    return [TermList(name, language, frozenset(keys)) for name, language, keys, _ in lists]


def load_term_lists(paths: Sequence[Path]) -> TermLists:
    """Every list of every file, in order; list names must be unique."""
    lists: list[TermList] = []
    for path in paths:
        for term_list in parse_term_file(path):
            if any(x.name == term_list.name for x in lists):
                raise ValidationError(f"term list {path}: list [{term_list.name}] appears twice")
            lists.append(term_list)
    return TermLists(lists)
