"""The deterrence check: a query and its language in, an `Answer` out (warn or not, the
warning and help route in that language, the list that matched), and the key under which the
check is counted. The query itself goes nowhere: not into the answer, a log or a table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

from vangnet.config import Settings
from vangnet.context.deterrence.help import LANGUAGE, HelpBook, HelpRoute, load_help
from vangnet.context.deterrence.terms import TermLists, load_term_lists
from vangnet.errors import ValidationError

#: The language bucket of checks whose language is not one of the help routes'.
OTHER = "other"
#: The language bucket of checks that gave no language.
UNSPECIFIED = "none"


@dataclass(frozen=True)
class Answer:
    """What the search box shows: ``warn`` with ``message`` and ``help``, or nothing.
    ``enabled`` is False when no term list is loaded (nothing is checked or counted)."""

    enabled: bool
    warn: bool
    message: str | None = None
    help: HelpRoute | None = None
    list_name: str | None = None
    language: str = UNSPECIFIED  # the bucket it is counted under

    def as_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "warn": self.warn,
            "message": self.message,
            "help": self.help.as_json() if self.help else None,
            "list": self.list_name,
        }


class Deterrence:
    """The term lists and help routes of a deployment."""

    def __init__(self, lists: TermLists, help_book: HelpBook, *, max_chars: int) -> None:
        self.lists = lists
        self.help = help_book
        self.max_chars = max_chars

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            load_term_lists(settings.deterrence_term_files),
            load_help(settings.deterrence_help_file),
            max_chars=settings.deterrence_max_query_chars,
        )

    @property
    def enabled(self) -> bool:
        return len(self.lists) > 0

    def bucket(self, language: str | None) -> str:
        if not language:
            return UNSPECIFIED
        return self.help.known(language) or OTHER

    def check(self, query: str, language: str | None = None) -> Answer:
        """The answer for ``query``; `ValidationError` for an empty or too long query or a
        malformed language code."""
        if language is not None and not LANGUAGE.match(language.lower()):
            raise ValidationError("language must be an ISO 639 code such as 'nl' or 'en-us'")
        if not query.strip():
            raise ValidationError("the query is empty")
        if len(query) > self.max_chars:
            raise ValidationError(f"the query is longer than {self.max_chars} characters")
        bucket = self.bucket(language)
        if not self.enabled:
            return Answer(enabled=False, warn=False, language=bucket)
        found = self.lists.match(query)
        if found is None:
            return Answer(enabled=True, warn=False, language=bucket)
        route = self.help.route(language or found.language)
        return Answer(
            enabled=True,
            warn=True,
            message=route.message,
            help=route,
            list_name=found.list_name,
            language=bucket,
        )
