"""A `Population` of context records, and the `Evaluator` plug-in point that finds reasons in
it.

An evaluator looks at one side of a population (payments, call sessions, chats, the graph)
and returns `Reason`\\ s (`vangnet.context.findings`). Built-ins and third-party evaluators
register under the entry-point group ``vangnet.context_evaluators`` (``pyproject.toml``);
`Evaluator.from_settings` builds one with the deployment's rules, so thresholds, weights,
corridors and keyword lists stay data. `evaluators` lists what is installed;
`vangnet plugins` shows them with every other plug-in point.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Self

from sqlalchemy.orm import Session

from vangnet.config import Settings
from vangnet.context import stored
from vangnet.context.findings import Reason
from vangnet.plugins import Registry, subclass_check
from vangnet.sources.records.model import Account, CallSession, Message, Payment

GROUP = "vangnet.context_evaluators"


@dataclass(frozen=True)
class Population:
    """The records one assessment looks at: payments and messages in time order, call
    sessions by start, accounts by ref (what is known of them; many senders and
    beneficiaries have no account record)."""

    payments: Sequence[Payment] = ()
    messages: Sequence[Message] = ()
    sessions: Sequence[CallSession] = ()
    accounts: Mapping[str, Account] = field(default_factory=dict)

    @classmethod
    def load(
        cls, session: Session, *, since: datetime | None = None, until: datetime | None = None
    ) -> Population:
        """The stored records within ``since`` <= time < ``until`` (all accounts)."""
        return cls(
            payments=list(stored.payments(session, since=since, until=until)),
            messages=list(stored.messages(session, since=since, until=until)),
            sessions=list(stored.sessions(session, since=since, until=until)),
            accounts={a.ref: a for a in stored.accounts(session)},
        )


class Evaluator(ABC):
    """Finds reasons in a population. Subclasses set ``name`` (unique), ``version`` and a
    one-line ``summary``; ``from_settings`` builds one with the deployment's rules (default:
    no settings needed)."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    summary: ClassVar[str] = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls()

    @abstractmethod
    def evaluate(self, population: Population) -> list[Reason]:
        """Every reason found, each naming its account and the rows behind it."""


as_evaluator: Callable[[object, str], type[Evaluator]] = subclass_check(Evaluator)

REGISTRY: Registry[type[Evaluator]] = Registry(GROUP, what="context evaluator", check=as_evaluator)


def evaluators() -> dict[str, type[Evaluator]]:
    """Installed evaluators by name."""
    return dict(sorted(REGISTRY.loaded().items()))


def failed_evaluators() -> dict[str, str]:
    """Evaluator plug-ins that failed to load: entry-point name -> why."""
    return REGISTRY.failed()
