"""The one case intake (`vangnet.cases.intake`): the typed request every source files
through, on SQLite and PostgreSQL. (The sources' own paths are covered where they start:
uploads in tests/api and tests/review, live alerts in tests/live and tests/web, triage in
tests/triage.)"""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from vangnet.cases.intake import Filed, Grouping, Intake, SealedItem, Source, file_intake
from vangnet.config import get_settings
from vangnet.errors import ValidationError
from vangnet.evidence.reading import read_evidence
from vangnet.evidence.sealing import seal_upload
from vangnet.match.results import Match
from vangnet.store.db import writer
from vangnet.store.models import Case, CaseEvent, CaseMatch, CustodyEvent
from vangnet.store.vault import Vault

DATA = b"benign test bytes, not media"


def _file(engine: Engine, intake: Intake) -> Filed:
    with Session(writer(engine), expire_on_commit=False) as session:
        filed = file_intake(session, intake)
        session.commit()
    return filed


def _count(engine: Engine, model: type[object]) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_triage_opens_one_case_per_investigation_name(db_engine: Engine) -> None:
    first = _file(db_engine, Intake(source=Source.TRIAGE, name="  Operation Tide ", actor="ida"))
    again = _file(db_engine, Intake(source=Source.TRIAGE, name="Operation Tide", actor="ida"))
    assert first.created and not again.created and first.case.id == again.case.id
    assert first.case.key == "investigation:Operation Tide"
    assert (first.case.kind, first.case.title) == ("investigation", "Operation Tide")
    assert first.items == () and _count(db_engine, CaseEvent) == 0
    for bad in ("", "   ", "a\nb", "x" * 201):
        with pytest.raises(ValidationError, match="1-200 printable"):
            _file(db_engine, Intake(source=Source.TRIAGE, name=bad))
    assert _count(db_engine, Case) == 1


def test_an_upload_is_filed_with_its_evidence_and_custody(db_engine: Engine) -> None:
    sha256 = hashlib.sha256(DATA).hexdigest()
    vault = Vault.from_settings(get_settings())
    entry = seal_upload(vault, DATA, sha256)
    match = Match(
        bank="B", content_id=999, signal_type="md5", distance=0, category="vics:1", signal_id=1
    )
    intake = Intake(
        source=Source.UPLOAD,
        grouping=Grouping(group_by="account"),
        subject={"platform": "p", "uploader": "u9", "bogus": "dropped"},
        items=(SealedItem(entry, "application/octet-stream", "a.bin", {"md5": "0" * 32}),),
        matches=(match,),
        scores={"nudity": 0.4},
        actor="uploader-service",
    )
    filed = _file(db_engine, intake)
    assert filed.created and filed.case.key == "account:p:u9"
    assert filed.case.subject == {
        "platform": "p",
        "uploader": "u9",
        "account": "u9",
        "scores": {"nudity": 0.4},
    }
    (item,) = filed.items
    with Session(writer(db_engine)) as session:
        assert read_evidence(session, vault, item.id, actor="test") == DATA
        custody = session.scalars(select(CustodyEvent).order_by(CustodyEvent.id)).all()
        assert [(c.actor, c.action) for c in custody] == [
            ("uploader-service", "captured"),
            ("test", "accessed"),
        ]
        (row,) = session.scalars(select(CaseMatch)).all()
        assert (row.evidence_id, row.bank, row.banked) == (item.id, "B", {})
        (event,) = session.scalars(select(CaseEvent)).all()
        assert event.summary == "upload a.bin matched 1 banked items; best B/999 md5 d=0"
    # the same account again: the same case, a second item
    again = _file(db_engine, intake)
    assert not again.created and again.case.id == filed.case.id


def test_a_context_intake_without_its_signal_is_refused_and_changes_nothing(
    db_engine: Engine,
) -> None:
    """Source ``context`` files a `ContextSignal` (tests/context/test_case_filing.py); scores
    or a subject alone are not one."""
    with pytest.raises(ValidationError, match="a context intake needs its context signal"):
        _file(db_engine, Intake(source=Source.CONTEXT, subject={"account": "a"}, scores={"x": 1.0}))
    assert _count(db_engine, Case) == 0


def test_a_classifier_intake_files_only_likely_unmatched_uploads(db_engine: Engine) -> None:
    """Source ``classifier``: an upload no bank knows whose scores are likely new material
    (open-nsfw at or above its default threshold) is filed with its evidence, its scores
    and the case's priority signal; anything else is refused with nothing written."""
    sha256 = hashlib.sha256(DATA).hexdigest()
    vault = Vault.from_settings(get_settings())
    entry = seal_upload(vault, DATA, sha256)
    item = SealedItem(entry, "application/octet-stream", "new.bin", {"md5": "0" * 32})
    match = Match(bank="B", content_id=1, signal_type="md5", distance=0, category=None, signal_id=1)
    refused = {
        "exactly one evidence item": Intake(source=Source.CLASSIFIER, scores={"opennsfw": 0.9}),
        "filed as an upload": Intake(
            source=Source.CLASSIFIER, items=(item,), matches=(match,), scores={"opennsfw": 0.9}
        ),
        "likely new material": Intake(
            source=Source.CLASSIFIER, items=(item,), scores={"opennsfw": 0.2}
        ),
    }
    for why, intake in refused.items():
        with pytest.raises(ValidationError, match=why):
            _file(db_engine, intake)
    assert _count(db_engine, Case) == 0 and _count(db_engine, CustodyEvent) == 0
    filed = _file(
        db_engine,
        Intake(
            source=Source.CLASSIFIER,
            subject={"account": "a"},
            items=(item,),
            scores={"opennsfw": 0.9},
            summaries={"opennsfw": "nudity 0.90 (open-nsfw)"},
        ),
    )
    assert filed.created and filed.case.kind == "upload" and len(filed.items) == 1
    assert filed.case.subject["scores"] == {"opennsfw": 0.9}
    assert filed.case.priority_signal == pytest.approx(0.45) and filed.case.signal_likely
    with Session(db_engine) as session:
        (event,) = session.scalars(select(CaseEvent)).all()
        assert event.kind == "classifier"
        assert event.summary == (
            "upload new.bin matched no banked item; likely new material: "
            "nudity 0.90 (open-nsfw): priority 0.45"
        )
        assert _count(db_engine, CaseMatch) == 0


def test_requests_that_cannot_be_filed_are_refused(db_engine: Engine) -> None:
    with pytest.raises(ValidationError, match="unknown case grouping 'room'"):
        Grouping(group_by="room")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="exactly one evidence item"):
        _file(db_engine, Intake(source=Source.UPLOAD))
    with pytest.raises(ValidationError, match="needs its alert"):
        _file(db_engine, Intake(source=Source.LIVE_ALERT))
    assert _count(db_engine, Case) == 0
    assert Grouping.from_settings(get_settings()) == Grouping()  # the documented defaults
