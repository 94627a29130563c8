"""Bank service on SQLite and PostgreSQL: CRUD, content, bulk import/export, change log."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from vangnet.banks.bank import (
    bank_stats,
    create_bank,
    delete_bank,
    get_bank,
    list_banks,
    set_bank_enabled,
    update_bank,
)
from vangnet.banks.categories import Category
from vangnet.banks.changes import changes_since, last_change_seq
from vangnet.banks.contents import (
    add_content,
    delete_content,
    find_content_by_signal,
    get_content,
    list_content,
    set_content_enabled,
)
from vangnet.banks.formats.base import BankRecord
from vangnet.banks.matchable import current_signals, describe_signals
from vangnet.banks.records import export_records, import_records
from vangnet.banks.views import ImportResult
from vangnet.errors import (
    ConflictError,
    ImportFormatError,
    InvalidHashError,
    NotFoundError,
    ValidationError,
)
from vangnet.signals.vpdq import VpdqFrame, serialize
from vangnet.store.models import BankContent, ChangeOp, ContentSignal


def pdq(n: int) -> str:
    return hashlib.sha256(f"pdq{n}".encode()).hexdigest()


def md5(n: int) -> str:
    return hashlib.md5(f"md5{n}".encode()).hexdigest()


def records(n: int, *, start: int = 0, **fields: object) -> Iterator[BankRecord]:
    for i in range(start, start + n):
        yield BankRecord(signal_type="pdq", value=pdq(i), **fields)  # type: ignore[arg-type]


def counts(session: Session) -> tuple[int, int]:
    return (
        session.scalar(select(func.count()).select_from(BankContent)) or 0,
        session.scalar(select(func.count()).select_from(ContentSignal)) or 0,
    )


def ops(session: Session, after: int = 0) -> list[tuple[str, str]]:
    return [(c.op.value, c.value) for c in changes_since(session, after)]


# -- banks ---------------------------------------------------------------------------------


def test_create_get_list(db_session: Session) -> None:
    bank = create_bank(db_session, name="NCMEC_TEST", category_profile="vics", note="n")
    db_session.commit()
    assert bank.enabled and bank.matching_enabled_ratio == 1.0
    assert bank.thresholds["pdq"] == {"threshold": 31, "quality_floor": 50, "dihedral": False}
    assert bank.thresholds["vpdq"]["query_match_pct"] == 80.0
    got = get_bank(db_session, "NCMEC_TEST")
    assert got == bank
    assert got.created_at.tzinfo is not None
    create_bank(db_session, name="A_BANK")
    assert [b.name for b in list_banks(db_session)] == ["A_BANK", "NCMEC_TEST"]


@pytest.mark.parametrize("name", ["lower", "WITH SPACE", "DASH-ED", "", "X" * 256, "ÄÖ"])
def test_bank_name_rule(db_session: Session, name: str) -> None:
    with pytest.raises(ValidationError):
        create_bank(db_session, name=name)


def test_bank_errors(db_session: Session) -> None:
    create_bank(db_session, name="DUP")
    db_session.commit()
    with pytest.raises(ConflictError):
        create_bank(db_session, name="DUP")
    with pytest.raises(NotFoundError):
        get_bank(db_session, "MISSING")
    with pytest.raises(ValidationError):
        create_bank(db_session, name="P", category_profile="nope")
    with pytest.raises(ValidationError):
        create_bank(db_session, name="R", matching_enabled_ratio=1.5)
    with pytest.raises(ValidationError):
        create_bank(db_session, name="T", thresholds={"pdq": {"threshold": 999}})
    with pytest.raises(ValidationError):
        create_bank(db_session, name="T", thresholds={"pdq": {"bogus": 1}})
    with pytest.raises(ValidationError):
        create_bank(db_session, name="T", thresholds={"nosuch": {"threshold": 1}})
    # the session is still usable after the rejected calls
    assert [b.name for b in list_banks(db_session)] == ["DUP"]


def test_update_bank(db_session: Session) -> None:
    create_bank(db_session, name="OLD", note="keep")
    create_bank(db_session, name="OTHER")
    db_session.commit()
    view = update_bank(
        db_session,
        "OLD",
        new_name="NEW",
        high_confidence=True,
        thresholds={"pdq": {"threshold": 20}},
        category_profile="uk",
    )
    db_session.commit()
    assert view.name == "NEW" and view.high_confidence and view.category_profile == "uk"
    assert view.thresholds["pdq"] == {"threshold": 20, "quality_floor": 50, "dihedral": False}
    assert view.note == "keep"
    assert update_bank(db_session, "NEW", note=None).note is None
    with pytest.raises(NotFoundError):
        get_bank(db_session, "OLD")
    with pytest.raises(ConflictError):
        update_bank(db_session, "NEW", new_name="OTHER")
    with pytest.raises(ValidationError):
        update_bank(db_session, "NEW", new_name="bad name")


def test_delete_bank_cascades(db_session: Session) -> None:
    create_bank(db_session, name="GONE")
    create_bank(db_session, name="STAYS")
    add_content(db_session, bank="GONE", signals={"pdq": pdq(1), "md5": md5(1)})
    kept = add_content(db_session, bank="STAYS", signals={"pdq": pdq(1)})
    db_session.commit()
    delete_bank(db_session, "GONE")
    db_session.commit()
    assert counts(db_session) == (1, 1)
    assert get_content(db_session, kept).bank_name == "STAYS"
    with pytest.raises(NotFoundError):
        delete_bank(db_session, "GONE")


# -- content -------------------------------------------------------------------------------


def test_add_content_and_search(db_session: Session) -> None:
    create_bank(db_session, name="B")
    cid = add_content(
        db_session,
        bank="B",
        signals=[("pdq", pdq(1).upper()), ("md5", md5(1))],
        category=Category.parse("vics:1"),
        source="hotline",
        series="S1",
        note="n",
        external_id="m-1",
    )
    db_session.commit()
    content = get_content(db_session, cid)
    assert content.signals == (("pdq", pdq(1)), ("md5", md5(1)))  # canonical lower case
    assert content.category == Category.parse("vics:1")
    assert (content.source, content.series, content.external_id) == ("hotline", "S1", "m-1")
    found = find_content_by_signal(db_session, "md5", md5(1).upper())
    assert [c.id for c in found] == [cid]
    assert find_content_by_signal(db_session, "md5", md5(2)) == []
    assert find_content_by_signal(db_session, "pdq", pdq(1), bank="B")[0].id == cid
    # idempotent: any known signal returns the existing item and adds nothing
    again = add_content(db_session, bank="B", signals={"md5": md5(1), "sha1": "a" * 40})
    assert again == cid
    assert counts(db_session) == (1, 2)


def test_content_errors(db_session: Session) -> None:
    create_bank(db_session, name="B")
    with pytest.raises(InvalidHashError):
        add_content(db_session, bank="B", signals={"pdq": "zz"})
    with pytest.raises(NotFoundError):
        add_content(db_session, bank="NOPE", signals={"pdq": pdq(1)})
    with pytest.raises(NotFoundError):
        add_content(db_session, bank="B", signals={"nosuchtype": "x"})
    with pytest.raises(ValidationError):
        add_content(db_session, bank="B", signals={})
    with pytest.raises(InvalidHashError):
        find_content_by_signal(db_session, "md5", "nothex")
    with pytest.raises(NotFoundError):
        get_content(db_session, 12345)
    cid = add_content(db_session, bank="B", signals={"pdq": pdq(1)})
    create_bank(db_session, name="C")
    with pytest.raises(NotFoundError):
        get_content(db_session, cid, bank="C")
    assert counts(db_session) == (1, 1)


def test_long_values_are_keyed_by_digest(db_session: Session) -> None:
    create_bank(db_session, name="V")
    frames = [VpdqFrame(i, 90, pdq(i), float(i)) for i in range(200)]
    value = serialize(frames)
    assert len(value) > 10_000
    cid = add_content(db_session, bank="V", signals={"vpdq": value})
    db_session.commit()
    assert add_content(db_session, bank="V", signals={"vpdq": value}) == cid
    assert find_content_by_signal(db_session, "vpdq", value)[0].id == cid
    assert [s.value for s in current_signals(db_session, "vpdq")] == [value]


def test_list_content_pages(db_session: Session) -> None:
    create_bank(db_session, name="B")
    ids = [add_content(db_session, bank="B", signals={"pdq": pdq(i)}) for i in range(7)]
    seen: list[int] = []
    after = 0
    while page := list_content(db_session, bank="B", after_id=after, limit=3):
        seen.extend(c.id for c in page)
        after = page[-1].id
    assert seen == ids
    with pytest.raises(ValidationError):
        list_content(db_session, bank="B", limit=0)


def test_delete_content(db_session: Session) -> None:
    create_bank(db_session, name="B")
    cid = add_content(db_session, bank="B", signals={"pdq": pdq(1), "md5": md5(1)})
    delete_content(db_session, cid, bank="B")
    db_session.commit()
    assert counts(db_session) == (0, 0)
    with pytest.raises(NotFoundError):
        delete_content(db_session, cid)


# -- change log ----------------------------------------------------------------------------


def test_change_log(db_session: Session) -> None:
    create_bank(db_session, name="B")
    a = add_content(db_session, bank="B", signals={"pdq": pdq(1)})
    b = add_content(db_session, bank="B", signals={"pdq": pdq(2)}, enabled=False)
    db_session.commit()
    assert ops(db_session) == [("add", pdq(1))]  # disabled content is not matchable
    seq = last_change_seq(db_session)

    set_content_enabled(db_session, b, enabled=True)
    set_content_enabled(db_session, b, enabled=True)  # no change, no entry
    set_content_enabled(db_session, a, enabled=False)
    db_session.commit()
    assert ops(db_session, seq) == [("add", pdq(2)), ("remove", pdq(1))]
    seq = last_change_seq(db_session)

    set_bank_enabled(db_session, "B", enabled=False)
    assert not get_bank(db_session, "B").enabled
    assert list(current_signals(db_session, "pdq")) == []
    set_content_enabled(db_session, a, enabled=True)  # bank off: no entry
    set_bank_enabled(db_session, "B", enabled=True)
    db_session.commit()
    assert sorted(ops(db_session, seq)) == [("add", pdq(1)), ("add", pdq(2)), ("remove", pdq(2))]
    seq = last_change_seq(db_session)

    update_bank(db_session, "B", matching_enabled_ratio=0.5)  # still enabled
    assert ops(db_session, seq) == []
    delete_content(db_session, a)
    delete_bank(db_session, "B")
    db_session.commit()
    changes = changes_since(db_session, seq)
    assert [c.op for c in changes] == [ChangeOp.REMOVE, ChangeOp.REMOVE]
    assert [c.value for c in changes] == [pdq(1), pdq(2)]
    assert all(c.signal_type == "pdq" for c in changes)
    assert [c.seq for c in changes] == sorted(c.seq for c in changes)
    assert changes_since(db_session, 0, limit=2) == changes_since(db_session, 0)[:2]


def test_current_and_describe(db_session: Session) -> None:
    create_bank(db_session, name="ON", category_profile="vics")
    create_bank(db_session, name="OFF", matching_enabled_ratio=0.0)
    on = add_content(
        db_session, bank="ON", signals={"pdq": pdq(1)}, category=Category.parse("vics:2")
    )
    add_content(db_session, bank="ON", signals={"pdq": pdq(2)}, enabled=False)
    add_content(db_session, bank="OFF", signals={"pdq": pdq(3)})
    db_session.commit()
    current = list(current_signals(db_session, "pdq"))
    assert [(c.value, c.bank_id) for c in current] == [(pdq(1), get_bank(db_session, "ON").id)]
    all_ids = list(db_session.scalars(select(ContentSignal.id).order_by(ContentSignal.id)))
    info = describe_signals(db_session, [*all_ids, 99999])
    assert set(info) == set(all_ids)
    first = info[current[0].signal_id]
    assert (first.content_id, first.bank_name, first.enabled) == (on, "ON", True)
    assert first.category == Category.parse("vics:2")
    assert [info[i].enabled for i in all_ids] == [True, False, False]


# -- import / export -----------------------------------------------------------------------


def test_import_is_idempotent(db_session: Session) -> None:
    create_bank(db_session, name="B")
    first = import_records(db_session, bank="B", records=records(250), batch_size=100)
    db_session.commit()
    assert first == ImportResult(added=250, skipped_existing=0, total=250)
    again = import_records(db_session, bank="B", records=records(300), batch_size=100)
    db_session.commit()
    assert again == ImportResult(added=50, skipped_existing=250, total=300)
    assert counts(db_session) == (300, 300)
    assert len(changes_since(db_session, 0, limit=1000)) == 300


def test_import_duplicates_within_batch(db_session: Session) -> None:
    create_bank(db_session, name="B")
    dup = [BankRecord("pdq", pdq(1)), BankRecord("pdq", pdq(1).upper()), BankRecord("md5", md5(1))]
    result = import_records(db_session, bank="B", records=dup)
    assert result == ImportResult(added=2, skipped_existing=1, total=3)


def test_import_is_all_or_nothing(db_engine: Engine) -> None:
    with Session(db_engine) as session:
        create_bank(session, name="B")
        session.commit()

    def failing() -> Iterator[BankRecord]:
        yield from records(120)
        raise ImportFormatError("bad value", line=121)

    with Session(db_engine) as session:
        with pytest.raises(ImportFormatError, match="line 121"):
            import_records(session, bank="B", records=failing(), batch_size=50)
        session.rollback()
    with Session(db_engine) as session:
        assert counts(session) == (0, 0)
        assert last_change_seq(session) == 0


def test_import_rejects_bad_values(db_session: Session) -> None:
    create_bank(db_session, name="B")
    with pytest.raises(InvalidHashError):
        import_records(
            db_session, bank="B", records=[BankRecord("pdq", pdq(1)), BankRecord("pdq", "bad")]
        )
    with pytest.raises(NotFoundError):
        import_records(db_session, bank="NOPE", records=records(1))


def test_import_groups_by_external_id(db_session: Session) -> None:
    create_bank(db_session, name="B")
    vics1 = Category.parse("vics:1")
    batch = [
        BankRecord("md5", md5(1), category=vics1, external_id="media-1"),
        BankRecord("pdq", pdq(1), category=vics1, external_id="media-1"),
        BankRecord("pdq", pdq(2), external_id="media-2"),
        BankRecord("pdq", pdq(3)),
    ]
    assert import_records(db_session, bank="B", records=batch).added == 4
    later = [BankRecord("sha1", "b" * 40, external_id="media-1")]
    assert import_records(db_session, bank="B", records=later).added == 1
    db_session.commit()
    assert counts(db_session) == (3, 5)
    (item,) = find_content_by_signal(db_session, "sha1", "b" * 40)
    assert item.signals == (("md5", md5(1)), ("pdq", pdq(1)), ("sha1", "b" * 40))
    assert item.category == vics1


def test_import_disabled_records_and_bank(db_session: Session) -> None:
    create_bank(db_session, name="B")
    create_bank(db_session, name="OFF", matching_enabled_ratio=0)
    import_records(
        db_session,
        bank="B",
        records=[BankRecord("pdq", pdq(1), enabled=False), BankRecord("pdq", pdq(2))],
    )
    import_records(db_session, bank="OFF", records=records(3))
    assert ops(db_session) == [("add", pdq(2))]


def test_export_round_trip(db_session: Session) -> None:
    create_bank(db_session, name="SRC", category_profile="uk")
    create_bank(db_session, name="DST")
    original = [
        BankRecord(
            "pdq",
            pdq(i),
            category=Category.parse("uk:A") if i % 2 else None,
            source="src" if i % 3 else None,
            series=f"s{i % 4}",
            note=None,
            enabled=i % 5 != 0,
            external_id=f"e{i}",
        )
        for i in range(40)
    ]
    import_records(db_session, bank="SRC", records=original, batch_size=7)
    db_session.commit()
    exported = list(export_records(db_session, bank="SRC"))
    assert exported == original
    import_records(db_session, bank="DST", records=exported)
    assert list(export_records(db_session, bank="DST")) == original


def test_bulk_import_50k(db_session: Session) -> None:
    create_bank(db_session, name="BULK")
    db_session.commit()
    result = import_records(db_session, bank="BULK", records=records(50_000))
    db_session.commit()
    assert result == ImportResult(added=50_000, skipped_existing=0, total=50_000)
    assert counts(db_session) == (50_000, 50_000)
    assert last_change_seq(db_session) >= 50_000
    assert sum(1 for _ in current_signals(db_session, "pdq")) == 50_000
    assert sum(1 for _ in export_records(db_session, bank="BULK")) == 50_000
    seq = last_change_seq(db_session)
    set_bank_enabled(db_session, "BULK", enabled=False)
    db_session.commit()
    assert last_change_seq(db_session) - seq == 50_000
    assert {c.op for c in changes_since(db_session, seq, limit=100)} == {ChangeOp.REMOVE}


def test_bank_stats(db_session: Session) -> None:
    create_bank(db_session, name="B")
    assert bank_stats(db_session, "B") == {
        "content": 0,
        "enabled_content": 0,
        "signals": 0,
        "signals_by_type": {},
    }
    add_content(db_session, bank="B", signals={"pdq": pdq(1), "md5": md5(1)})
    add_content(db_session, bank="B", signals={"pdq": pdq(2)}, enabled=False)
    assert bank_stats(db_session, "B") == {
        "content": 2,
        "enabled_content": 1,
        "signals": 3,
        "signals_by_type": {"md5": 1, "pdq": 2},
    }
    with pytest.raises(NotFoundError):
        bank_stats(db_session, "NOPE")


def test_rules_fall_back_to_new_bank_defaults(db_session: Session) -> None:
    """A bank stored before a signal type existed matches it with a new bank's defaults."""
    from dataclasses import replace

    from vangnet.match.service import bank_rules

    view = create_bank(db_session, name="OLD")
    assert view.thresholds["vpdq_regions"]["query_match_pct"] == 80.0
    old = replace(view, thresholds={"pdq": {"threshold": 20}})
    rules = bank_rules(old, "vpdq_regions")
    assert (rules.threshold, rules.quality_floor, rules.query_match_pct) == (31, 50, 80.0)
    assert bank_rules(old, "pdq").threshold == 20


def test_new_bank_thresholds_come_from_the_callers_settings(
    db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment says one threshold, the caller passes another: the caller's settings
    give a new bank's thresholds (and an old bank's missing ones); without settings, the
    documented defaults apply, never the environment."""
    from dataclasses import replace

    from vangnet.config import Settings
    from vangnet.match.service import bank_rules

    monkeypatch.setenv("VANGNET_PDQ_THRESHOLD", "12")
    passed = Settings(pdq_threshold=20, pdq_quality_floor=60)
    view = create_bank(db_session, name="PASSED", settings=passed)
    assert view.thresholds["pdq"] == {"threshold": 20, "quality_floor": 60, "dihedral": False}
    documented = create_bank(db_session, name="DOCUMENTED")
    assert documented.thresholds["pdq"] == {"threshold": 31, "quality_floor": 50, "dihedral": False}
    old = replace(view, thresholds={})
    assert (bank_rules(old, "pdq", passed).threshold, bank_rules(old, "pdq").threshold) == (20, 31)


def test_bank_policy_is_validated_and_merged(db_session: Session) -> None:
    view = create_bank(
        db_session, name="LIVE", policy={"live_min_frames": 2, "actions": ["stream.terminate"]}
    )
    assert view.policy == {"live_min_frames": 2, "actions": ["stream.terminate"]}
    view = update_bank(db_session, "LIVE", policy={"live_window": 4, "actions": None})
    assert view.policy == {"live_min_frames": 2, "live_window": 4}
    for bad in (
        {"live_min_frames": 0},
        {"live_window": "5"},
        {"live_min_frames": True},
        {"actions": ["self.destruct"]},
        {"actions": "stream.terminate"},
        {"threshold": 3},
        {"live_min_frames": 5, "live_window": 2},
    ):
        with pytest.raises(ValidationError):
            update_bank(db_session, "LIVE", policy=bad)
    db_session.commit()
    assert get_bank(db_session, "LIVE").policy == {"live_min_frames": 2, "live_window": 4}
