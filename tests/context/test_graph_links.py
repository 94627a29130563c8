"""Links to live alerts and media matches read from the database (SQLite and PostgreSQL):
an account whose stream raised an alert gets ``linked_to_alert``, a participant of a session
monitored as that stream too, an account named in a case with matches or a confirmed case
gets ``linked_to_media_match``; a stored assessment keeps it, audited."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from context.graphdata import T0, population
from vangnet.config import Settings
from vangnet.context import assessments, stored
from vangnet.context.known import known_links
from vangnet.context.service import run_assessment
from vangnet.store.models import Alert, AuditEntry, Case, CaseMatch, Stream


def _store_population(session: Session) -> None:
    pop = population()
    session.add_all(stored.payment_row(p) for p in pop.payments)
    session.add_all(stored.message_row(m) for m in pop.messages)
    session.add_all(stored.session_row(s) for s in pop.sessions)
    session.add_all(stored.account_row(a) for a in pop.accounts.values())


def _stream(session: Session, metadata: dict[str, str], external_id: str | None = None) -> Stream:
    stream = Stream(kind="push", sample_fps=1.0, stream_metadata=metadata, external_id=external_id)
    session.add(stream)
    session.flush()
    return stream


def _alert(session: Session, stream: Stream, content: int = 1) -> Alert:
    alert = Alert(
        stream_id=stream.id,
        bank="test-bank",
        bank_content_id=content,
        signal_type="pdq",
        rule="k of n",
        first_stream_time=1.0,
        last_stream_time=2.0,
        best_distance=8,
    )
    session.add(alert)
    session.flush()
    return alert


def _case(session: Session, key: str, account: str, status: str = "open") -> Case:
    case = Case(key=key, kind="upload", title=key, status=status, subject={"account": account})
    session.add(case)
    session.flush()
    return case


def test_known_links_read_alerts_and_cases(db_session: Session) -> None:
    quiet = _stream(db_session, {"account": "someone"})  # no alert: not a link
    streamed = _stream(db_session, {"platform": "videoapp", "user": "fac_live"}, "ext-1")
    anonymous = _stream(db_session, {})
    a1 = _alert(db_session, streamed)
    a2 = _alert(db_session, anonymous)
    matched = _case(db_session, "account:videoapp:v6", "v6")
    db_session.add(
        CaseMatch(case_id=matched.id, bank="b", content_id=1, signal_type="pdq", distance=3)
    )
    confirmed = _case(db_session, "account:videoapp:v4", "v4", status="confirmed")
    _case(db_session, "account:videoapp:v5", "v5")  # open, no match: not a link
    db_session.flush()
    known = known_links(db_session)
    assert [(a.alert, a.stream, a.account, a.external_id) for a in known.alerts] == [
        (a1.id, streamed.id, "fac_live", "ext-1"),
        (a2.id, anonymous.id, None, None),
    ]
    assert set(known.alerts_by_stream()) == {str(streamed.id), "ext-1", str(anonymous.id)}
    assert quiet.id not in {a.stream for a in known.alerts}
    assert [(c.case, c.account, c.matches, c.confirmed) for c in known.cases] == [
        (matched.id, "v6", 1, False),
        (confirmed.id, "v4", 0, True),
    ]
    assert known.figures() == {"alerts": 2, "cases_with_matches": 1, "confirmed_cases": 1}


def test_an_account_whose_stream_raised_an_alert_is_linked(db_session: Session) -> None:
    _store_population(db_session)
    # the platform called the stream's account by fac's handle; session S1 names stream "7"
    streamed = _stream(db_session, {"account": "fac_live"})
    alert = _alert(db_session, streamed)
    db_session.commit()
    row, result = run_assessment(db_session, settings=Settings(), actor="test")
    db_session.commit()
    fac = result.risk("fac")
    assert fac is not None and "linked_to_alert" in fac.indicators
    [link] = [r for r in fac.reasons if r.indicator == "linked_to_alert"]
    assert link.details["alerts"] == [alert.id]
    assert link.details["streams"] == [streamed.id]
    # v1 took part in session S1, whose stream "7" is no stream that raised an alert here
    assert streamed.id != 7
    v1 = result.risk("v1")
    assert v1 is None or "linked_to_alert" not in v1.indicators
    stored_fac = assessments.risk_of(db_session, assessment_id=row.id, account="fac")
    assert stored_fac is not None and "linked_to_alert" in stored_fac.indicators
    assert stored_fac.weekly[-1]["score"] == stored_fac.score
    audit = db_session.scalars(
        select(AuditEntry).where(AuditEntry.action == "context.assess")
    ).one()
    assert audit.target == f"context_assessment:{row.id}" and audit.actor == "test"


def test_a_session_on_an_alerted_stream_links_its_participants(db_session: Session) -> None:
    _store_population(db_session)
    streamed = _stream(db_session, {"account": "fac_live"})
    _alert(db_session, streamed)
    from vangnet.store.models import ContextSession

    db_session.add(
        ContextSession(
            ref="S2",
            platform="videoapp",
            started_at=T0,
            participants=["fac", "v5"],
            countries=["PH", "NL"],
            stream=str(streamed.id),
            details={},
        )
    )
    db_session.commit()
    _, result = run_assessment(db_session, settings=Settings(), actor="test")
    v5 = result.risk("v5")
    assert v5 is not None
    [link] = [r for r in v5.reasons if r.indicator == "linked_to_alert"]
    assert link.role.value == "viewer"
    assert [r.ref for r in link.rows] == ["S2"]
    # no alert on any stream v2 was in: no link
    v2 = result.risk("v2")
    assert v2 is None or "linked_to_alert" not in v2.indicators
