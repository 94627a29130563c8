"""What the rest of Vangnet already knows about accounts: live alerts on their streams, media
matches and confirmed cases (read from the database, kept apart from the pure graph code so
the graph and its reasons are testable without one).

- An **alert link**: a live `Alert` on a `Stream`. The stream's account is what the platform
  said when the stream was started (``stream_metadata`` through
  `vangnet.cases.filing.clean_subject`: ``account``, else ``uploader`` or ``user``); a call
  session record names the stream by Vangnet's stream id (``"12"``) or by the platform's
  ``external_id``: both are keys of `KnownLinks.alerts_by_stream`.
- A **case link**: a `Case` whose subject names an ``account``, with the number of media
  matches (`CaseMatch`) in it and whether it is ``confirmed`` (status after the decision or
  the two-person rule's second confirmation).

Accounts are matched by exact name: a context account whose ``ref`` or one of whose
``handles`` equals the platform's account name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from vangnet.cases.filing import clean_subject
from vangnet.store.models import Alert, Case, CaseMatch, Stream


@dataclass(frozen=True, slots=True)
class AlertLink:
    """A live alert on a stream, and whose stream it was (None: the platform did not say)."""

    alert: int
    stream: int
    external_id: str | None
    account: str | None
    at: datetime
    case: int | None = None


@dataclass(frozen=True, slots=True)
class CaseLink:
    """A case about ``account``: its media ``matches`` and whether it is ``confirmed``."""

    case: int
    account: str
    matches: int
    confirmed: bool
    at: datetime


@dataclass(frozen=True)
class KnownLinks:
    """Alert and case links, with look-ups by account and by stream."""

    alerts: tuple[AlertLink, ...] = ()
    cases: tuple[CaseLink, ...] = ()

    def alerts_by_account(self) -> Mapping[str, list[AlertLink]]:
        out: dict[str, list[AlertLink]] = {}
        for a in self.alerts:
            if a.account:
                out.setdefault(a.account, []).append(a)
        return out

    def alerts_by_stream(self) -> Mapping[str, list[AlertLink]]:
        """By Vangnet stream id (as text) and by the platform's external id."""
        out: dict[str, list[AlertLink]] = {}
        for a in self.alerts:
            out.setdefault(str(a.stream), []).append(a)
            if a.external_id and a.external_id != str(a.stream):
                out.setdefault(a.external_id, []).append(a)
        return out

    def cases_by_account(self) -> Mapping[str, list[CaseLink]]:
        out: dict[str, list[CaseLink]] = {}
        for c in self.cases:
            out.setdefault(c.account, []).append(c)
        return out

    def figures(self) -> dict[str, int]:
        return {
            "alerts": len(self.alerts),
            "cases_with_matches": sum(1 for c in self.cases if c.matches),
            "confirmed_cases": sum(1 for c in self.cases if c.confirmed),
        }


def known_links(session: Session) -> KnownLinks:
    """Every live alert with its stream's account, and every case naming an account that has
    media matches or is confirmed."""
    alerts: list[AlertLink] = []
    rows = session.execute(
        select(
            Alert.id,
            Alert.stream_id,
            Alert.created_at,
            Alert.case_id,
            Stream.external_id,
            Stream.stream_metadata,
        )
        .join(Stream, Stream.id == Alert.stream_id)
        .order_by(Alert.id)
    )
    for alert_id, stream_id, at, case_id, external_id, metadata in rows:
        account = clean_subject(metadata or {}).get("account")
        alerts.append(
            AlertLink(
                alert=alert_id,
                stream=stream_id,
                external_id=external_id,
                account=account,
                at=at,
                case=case_id,
            )
        )
    matches = dict(
        session.execute(select(CaseMatch.case_id, func.count()).group_by(CaseMatch.case_id)).all()
    )
    cases: list[CaseLink] = []
    named = select(Case).where(
        or_(Case.status == "confirmed", Case.id.in_(select(CaseMatch.case_id)))
    )
    for case in session.scalars(named.order_by(Case.id)):
        account = (case.subject or {}).get("account")
        if not isinstance(account, str) or not account:
            continue
        found = int(matches.get(case.id, 0))
        confirmed = case.status == "confirmed"
        if found or confirmed:
            cases.append(
                CaseLink(
                    case=case.id,
                    account=account,
                    matches=found,
                    confirmed=confirmed,
                    at=case.decided_at or case.last_signal_at,
                )
            )
    return KnownLinks(tuple(alerts), tuple(cases))
