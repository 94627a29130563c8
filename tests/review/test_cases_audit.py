"""Cases (grouping, priority, decisions, two-person rule, webhooks) and the audit hash chain,
on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session

from review.factory import PHOTOS, make_case
from vangnet.audit import chain
from vangnet.banks.contents import get_content
from vangnet.config import get_settings, reset_settings
from vangnet.errors import ConflictError, ValidationError
from vangnet.review import cases, decisions
from vangnet.review.priority import PriorityWeights
from vangnet.store.db import writer
from vangnet.store.models import AuditEntry, Case, WebhookDelivery


def _decide(engine: Engine, case_id: int, decision: str, **kw: object) -> decisions.Outcome:
    with Session(writer(engine)) as s:
        kw.setdefault("settings", get_settings())
        out = decisions.decide(s, case_id, decision=decision, **kw)  # type: ignore[arg-type]
        s.commit()
    return out


# -- grouping and priority -----------------------------------------------------------------


def test_uploads_of_one_account_share_a_case(db_engine: Engine, shared_data: Path) -> None:
    first = make_case(db_engine, shared_data, photo=PHOTOS[0], account="u1")
    second = make_case(db_engine, shared_data, photo=PHOTOS[1], account="u1")
    other = make_case(db_engine, shared_data, photo=PHOTOS[2], account="u2")
    assert first == second != other
    with Session(db_engine) as s:
        doc = cases.case_document(s, first, weights=PriorityWeights.from_settings(get_settings()))
    assert doc["key"] == "account:example-platform:u1" and len(doc["items"]) == 2
    assert len(doc["matches"]) == 2 and all(m["item_id"] for m in doc["matches"])
    assert doc["subject"]["ip"] == "192.0.2.10"
    assert [e["kind"] for e in doc["timeline"]] == ["match", "match"]
    assert all(c["action"] == "captured" for c in doc["custody"])


def test_evidence_grouping_files_each_upload_alone(db_engine: Engine, shared_data: Path) -> None:
    a = make_case(db_engine, shared_data, photo=PHOTOS[0], account="u1", group_by="evidence")
    b = make_case(db_engine, shared_data, photo=PHOTOS[1], account="u1", group_by="evidence")
    assert a != b
    with Session(db_engine) as s:
        assert cases.get_case(s, a).key.startswith("upload:")


def test_queue_order_is_explained(db_engine: Engine, shared_data: Path) -> None:
    low = make_case(db_engine, shared_data, photo=PHOTOS[0], account="u1", category="vics:4")
    high = make_case(db_engine, shared_data, photo=PHOTOS[1], account="u2", category="vics:1")
    with Session(db_engine) as s:
        queue = cases.list_cases(s, weights=PriorityWeights.from_settings(get_settings()))
    assert [c["id"] for c in queue] == [high, low]
    reasons = queue[0]["priority"]["reasons"]
    assert any("category vics:1" in r for r in reasons)
    assert any("pdq distance 0" in r for r in reasons)
    assert queue[0]["priority"]["score"] > queue[1]["priority"]["score"]


# -- decisions -----------------------------------------------------------------------------


def test_confirm_needs_a_category_of_the_banks_profile(
    db_engine: Engine, shared_data: Path
) -> None:
    case_id = make_case(db_engine, shared_data)
    for bad in (None, "uk:A", "vics:9", "nonsense"):
        with pytest.raises(ValidationError):
            _decide(db_engine, case_id, "confirm", actor="alice", category=bad)
    with Session(db_engine) as s:
        assert cases.get_case(s, case_id).status == "open"
        assert chain.count_entries(s) == 0  # nothing recorded for refused decisions
    out = _decide(db_engine, case_id, "confirm", actor="alice", category="1")
    assert (out.status, out.category) == ("confirmed", "vics:1")
    with pytest.raises(ConflictError):
        _decide(db_engine, case_id, "confirm", actor="bob", category="vics:1")


def test_confirmation_queues_signed_webhook_actions(
    db_engine: Engine, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VANGNET_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    reset_settings()
    case_id = make_case(db_engine, shared_data)
    out = _decide(db_engine, case_id, "confirm", actor="alice", category="vics:1")
    assert out.webhooks == ["case.confirmed", "content.remove", "account.suspend"]
    with Session(db_engine) as s:
        rows = list(s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
        assert [r.event for r in rows] == out.webhooks
        assert '"account":"user123"' in rows[0].body
        doc = cases.case_document(s, case_id, weights=PriorityWeights.from_settings(get_settings()))
    assert doc["decisions"][0]["actor"] == "alice"
    assert any(e["kind"] == "action" and "case.confirmed" in e["summary"] for e in doc["timeline"])


def test_two_person_rule(
    db_engine: Engine, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VANGNET_REVIEW_TWO_PERSON", "true")
    reset_settings()
    assert get_settings().review_two_person
    case_id = make_case(db_engine, shared_data)
    first = _decide(db_engine, case_id, "confirm", actor="alice", category="vics:1")
    assert first.status == "pending_confirmation"
    with pytest.raises(ConflictError, match="second reviewer"):
        _decide(db_engine, case_id, "confirm", actor="alice", category="vics:1")
    with pytest.raises(ConflictError, match="first reviewer confirmed"):
        _decide(db_engine, case_id, "confirm", actor="bob", category="vics:2")
    second = _decide(db_engine, case_id, "confirm", actor="bob", category="vics:1")
    assert second.status == "confirmed"
    with Session(db_engine) as s:
        actions = [e["action"] for e in chain.list_entries(s, action="case.")]
    assert actions == ["case.confirm", "case.confirm"]


def test_false_positive_can_disable_the_entry(db_engine: Engine, shared_data: Path) -> None:
    case_id = make_case(db_engine, shared_data)
    _decide(db_engine, case_id, "escalate", actor="alice")
    _decide(db_engine, case_id, "second_opinion", actor="alice")
    out = _decide(
        db_engine,
        case_id,
        "false_positive",
        actor="bob",
        note="a holiday photo",
        disable_content=True,
    )
    assert out.status == "false_positive" and len(out.disabled_content) == 1
    with Session(db_engine) as s:
        assert not get_content(s, out.disabled_content[0]).enabled
        actions = [e["action"] for e in reversed(chain.list_entries(s))]
        doc = cases.case_document(s, case_id, weights=PriorityWeights.from_settings(get_settings()))
    assert actions == [
        "case.escalate",
        "case.second_opinion",
        "content.disable",
        "case.false_positive",
    ]
    assert [d["decision"] for d in doc["decisions"]] == [
        "escalate",
        "second_opinion",
        "false_positive",
    ]
    # A new signal reopens a decided case.
    make_case(db_engine, shared_data, photo=PHOTOS[1])
    with Session(db_engine) as s:
        assert cases.get_case(s, case_id).status == "open"


def test_decision_input_is_checked(db_engine: Engine, shared_data: Path) -> None:
    case_id = make_case(db_engine, shared_data)
    with pytest.raises(ValidationError):
        _decide(db_engine, case_id, "delete", actor="alice")
    with pytest.raises(ValidationError):
        _decide(db_engine, case_id, "escalate", actor="alice", note="x" * 5000)
    with pytest.raises(Exception, match="no case"):
        _decide(db_engine, 999, "escalate", actor="alice")


# -- the audit chain -----------------------------------------------------------------------


def _fill(engine: Engine, n: int = 5) -> None:
    with Session(writer(engine)) as s:
        for i in range(n):
            chain.record(
                s,
                actor=f"user{i}",
                action="case.view",
                target=f"case:{i}",
                before={"n": i},
                after={"n": i + 1, "text": "é ü <x>"},
            )
        s.commit()


def _verify(engine: Engine) -> chain.Verdict:
    with Session(engine) as s:
        return chain.verify(s)


def test_intact_chain_verifies(db_engine: Engine) -> None:
    _fill(db_engine)
    verdict = _verify(db_engine)
    assert verdict.ok and verdict.entries == 5


def test_an_edited_entry_is_found(db_engine: Engine) -> None:
    _fill(db_engine)
    with db_engine.begin() as c:
        c.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(actor="mallory"))
    verdict = _verify(db_engine)
    assert not verdict.ok and verdict.broken_seq == 3 and "edited" in (verdict.reason or "")


def test_a_removed_entry_is_found(db_engine: Engine) -> None:
    _fill(db_engine)
    with db_engine.begin() as c:
        c.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    verdict = _verify(db_engine)
    assert not verdict.ok and verdict.broken_seq == 2 and "missing" in (verdict.reason or "")


def test_a_removed_last_entry_is_found(db_engine: Engine) -> None:
    _fill(db_engine)
    with db_engine.begin() as c:
        c.execute(text("DELETE FROM audit_log WHERE seq = 5"))
    verdict = _verify(db_engine)
    assert not verdict.ok and verdict.broken_seq == 5


def test_reordered_entries_are_found(db_engine: Engine) -> None:
    _fill(db_engine)
    with Session(db_engine) as s:
        two, four = (s.get_one(AuditEntry, n) for n in (2, 4))
        fields = ("at", "actor", "action", "target", "before", "after", "details", "hash")
        a = {f: getattr(two, f) for f in fields}
        b = {f: getattr(four, f) for f in fields}
        for f in fields:  # swap everything but the number and the link
            setattr(two, f, b[f])
            setattr(four, f, a[f])
        s.commit()
    verdict = _verify(db_engine)
    assert not verdict.ok and verdict.broken_seq in (2, 3)


def test_audit_export_recomputes_alone(db_engine: Engine) -> None:
    import io
    import json
    from datetime import datetime

    _fill(db_engine, 3)
    out = io.BytesIO()
    with Session(db_engine) as s:
        assert chain.export(s, out) == 3
    prev = chain.GENESIS
    for line in out.getvalue().decode().splitlines():
        e = json.loads(line)
        assert e["prev_hash"] == prev
        assert e["hash"] == chain.entry_hash(
            seq=e["seq"],
            at=datetime.fromisoformat(e["at"]),
            actor=e["actor"],
            action=e["action"],
            target=e["target"],
            before=e["before"],
            after=e["after"],
            details=e["details"],
            prev_hash=e["prev_hash"],
        )
        prev = e["hash"]


def test_case_key_is_unique_under_concurrent_intake(db_engine: Engine, shared_data: Path) -> None:
    """Two uploads of one account filed in a row stay one case (the unique key holds)."""
    ids = {make_case(db_engine, shared_data, photo=p, account="same") for p in PHOTOS}
    assert len(ids) == 1
    with Session(db_engine) as s:
        assert len(list(s.scalars(select(Case)))) == 1


# -- undo (issue 10, point 0) --------------------------------------------------------------------


def _undo(engine: Engine, case_id: int, actor: str) -> dict[str, object]:
    from vangnet.review import undo

    with Session(writer(engine)) as s:
        done = undo.undo(s, case_id, actor=actor)
        s.commit()
    return done


def test_undo_of_a_false_positive_re_enables_the_entry(
    db_engine: Engine, shared_data: Path
) -> None:
    from vangnet.review.undo import UndoRefusedError

    case_id = make_case(db_engine, shared_data)
    out = _decide(db_engine, case_id, "false_positive", actor="bob", disable_content=True)
    (content_id,) = out.disabled_content
    with pytest.raises(UndoRefusedError, match="only bob"):
        _undo(db_engine, case_id, "alice")
    done = _undo(db_engine, case_id, "bob")
    assert done["status"] == "open" and done["re_enabled_content"] == [content_id]
    with Session(db_engine) as s:
        assert get_content(s, content_id).enabled
        doc = cases.case_document(s, case_id, weights=PriorityWeights.from_settings(get_settings()))
        actions = [e["action"] for e in reversed(chain.list_entries(s, action="case."))]
    assert doc["status"] == "open" and doc["decisions"][-1]["details"]["undo"]["undone_by"] == "bob"
    assert actions == ["case.false_positive", "case.undo"]
    with pytest.raises(UndoRefusedError, match="already undone"):
        _undo(db_engine, case_id, "bob")


def test_undo_of_the_second_confirmation_returns_to_pending(
    db_engine: Engine, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VANGNET_REVIEW_TWO_PERSON", "true")
    monkeypatch.setenv("VANGNET_WEBHOOK_URL", "http://127.0.0.1:9/hooks")
    reset_settings()
    case_id = make_case(db_engine, shared_data)
    _decide(db_engine, case_id, "confirm", actor="alice", category="vics:1")
    second = _decide(db_engine, case_id, "confirm", actor="bob", category="vics:1")
    assert second.status == "confirmed" and len(second.webhooks) == 3
    done = _undo(db_engine, case_id, "bob")
    assert done["status"] == "pending_confirmation" and len(done["cancelled_webhooks"]) == 3
    with Session(db_engine) as s:
        case = cases.get_case(s, case_id)
        assert (case.pending_by, case.pending_category) == ("alice", "vics:1")
        assert s.scalars(select(WebhookDelivery)).all() == []


def test_no_undo_without_a_window(
    db_engine: Engine, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vangnet.review.undo import UndoRefusedError

    monkeypatch.setenv("VANGNET_REVIEW_UNDO_SECONDS", "0")
    monkeypatch.setenv("VANGNET_WEBHOOK_URL", "http://127.0.0.1:9/hooks")
    reset_settings()
    case_id = make_case(db_engine, shared_data)
    out = _decide(db_engine, case_id, "confirm", actor="alice", category="vics:1")
    assert out.undo_until is None and out.held_seconds == 0
    with Session(db_engine) as s:  # not held: due at once
        rows = s.scalars(select(WebhookDelivery)).all()
    assert len(rows) == 3 and all(r.next_attempt_at <= r.created_at for r in rows)
    with pytest.raises(UndoRefusedError, match="cannot be undone"):
        _undo(db_engine, case_id, "alice")
