"""The import service (`vangnet.context.ingest`) on SQLite and PostgreSQL: every format stored
and read back, idempotent re-import, all-or-nothing on one bad row, conflicting refs,
duplicate refs in one file, the import row and its audit entry, a large file streamed."""

from __future__ import annotations

import hashlib
import io
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from context import samples
from vangnet.context import stored
from vangnet.context.ingest import (
    MAX_REPORTED,
    BadRecordsError,
    ImportResult,
    UnknownKindError,
    import_records,
    record_kind,
)
from vangnet.sources.records.base import ParseOptions, Row
from vangnet.sources.records.model import Record
from vangnet.sources.records.model import RecordKind as K
from vangnet.sources.records.registry import UnknownRecordFormat, get_format
from vangnet.sources.records.tabular import CsvFormat
from vangnet.store.models import (
    AuditEntry,
    ContextImport,
    ContextMessage,
    ContextPayment,
)

MANILA = ZoneInfo("Asia/Manila")


def run(
    session: Session,
    kind: K,
    data: bytes | BinaryIO,
    *,
    fmt: str = "auto",
    filename: str | None = "file",
    **opts: object,
) -> ImportResult:
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    result = import_records(
        session,
        kind=kind,
        fmt=fmt,
        stream=stream,
        filename=filename,
        actor="test",
        options=ParseOptions(filename=filename, **opts),  # type: ignore[arg-type]
    )
    session.commit()
    return result


def count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


EVERY_FORMAT: list[tuple[K, bytes, str, int, dict[str, object]]] = [
    (K.PAYMENTS, samples.PAYMENTS_CSV, "csv", 3, {}),
    (K.PAYMENTS, samples.PAYMENTS_JSONL, "jsonl", 2, {}),
    (K.PAYMENTS, samples.PACS008, "pacs008", 2, {}),
    (K.PAYMENTS, samples.PAIN001, "pain001", 2, {"timezone": MANILA}),
    (K.PAYMENTS, samples.MT103, "mt103", 2, {}),
    (K.MESSAGES, samples.MESSAGES_CSV, "csv", 2, {}),
    (K.MESSAGES, samples.MESSAGES_JSONL, "jsonl", 2, {}),
    (K.MESSAGES, samples.WHATSAPP_IOS, "whatsapp", 4, {"timezone": MANILA}),
    (K.MESSAGES, samples.TELEGRAM, "telegram", 2, {}),
    (K.SESSIONS, samples.SESSIONS_CSV, "csv", 2, {}),
    (K.SESSIONS, samples.SESSIONS_JSONL, "jsonl", 1, {}),
    (K.ACCOUNTS, samples.ACCOUNTS_CSV, "csv", 2, {}),
    (K.ACCOUNTS, samples.ACCOUNTS_JSONL, "jsonl", 2, {}),
]


def stored_records(session: Session, kind: K) -> list[Record]:
    if kind is K.PAYMENTS:
        return list(stored.payments(session))
    if kind is K.MESSAGES:
        return list(stored.messages(session))
    if kind is K.SESSIONS:
        return list(stored.sessions(session))
    return list(stored.accounts(session))


def test_every_format_is_sniffed_stored_and_read_back(db_session: Session) -> None:
    """Each sample file, in turn into one database: sniffed as its format, every record
    stored exactly as parsed (times, amounts, lists, details), a second import all
    duplicates."""
    expected: dict[K, list[Record]] = {k: [] for k in K}
    for kind, data, fmt, rows, opts in EVERY_FORMAT:
        result = run(db_session, kind, data, **opts)
        assert (result.format, result.rows, result.added, result.duplicates) == (fmt, rows, rows, 0)
        options = ParseOptions(filename="file", **opts)  # type: ignore[arg-type]
        parser = get_format(fmt, kind=kind)
        expected[kind] += [
            p.record
            for p in parser.parse(io.BytesIO(data), kind=kind, options=options)
            if isinstance(p, Row)
        ]
        again = run(db_session, kind, data, **opts)  # idempotent
        assert (again.rows, again.added, again.duplicates) == (rows, 0, rows), fmt
    for kind in K:
        back = stored_records(db_session, kind)
        assert sorted(back, key=lambda r: r.ref) == sorted(expected[kind], key=lambda r: r.ref)
    assert count(db_session, ContextImport) == 2 * len(EVERY_FORMAT)


def test_import_row_and_audit_entry(db_session: Session) -> None:
    result = run(
        db_session,
        K.MESSAGES,
        samples.WHATSAPP_IOS,
        fmt="whatsapp",
        filename="chat.txt",
        timezone=MANILA,
    )
    assert result.skipped == 1  # the encryption notice
    row = db_session.get(ContextImport, result.import_id)
    assert row is not None
    assert (row.kind, row.format, row.filename, row.rows, row.added, row.duplicates, row.actor) == (
        "messages",
        "whatsapp",
        "chat.txt",
        4,
        4,
        0,
        "test",
    )
    assert row.sha256 == result.sha256 == hashlib.sha256(samples.WHATSAPP_IOS).hexdigest()
    (entry,) = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "context.import"))
    assert entry.target == f"context_import:{result.import_id}" and entry.actor == "test"
    assert entry.after["added"] == 4 and entry.details["bytes"] == len(samples.WHATSAPP_IOS)
    stored_ids = set(db_session.scalars(select(ContextMessage.import_id)))
    assert stored_ids == {result.import_id}


def test_one_bad_row_stores_nothing(db_session: Session) -> None:
    bad = samples.payments_csv(1200) + b"g-x,2026-11-03T22:41:05,s,b,5,EUR,remittance\n"
    with pytest.raises(BadRecordsError) as caught:
        run(db_session, K.PAYMENTS, bad)
    error = caught.value
    assert error.bad_rows == 1 and error.exit_code == 6 and error.status == 422
    assert [(r.line, r.reason) for r in error.rows] == [
        (1202, "at: time 2026-11-03T22:41:05 has no offset (give the time zone)")
    ]
    assert error.to_dict()["rows"] == [{"line": 1202, "reason": error.rows[0].reason}]
    db_session.rollback()
    for model in (ContextPayment, ContextImport):
        assert count(db_session, model) == 0
    assert count(db_session, AuditEntry) == 0


def test_conflicting_and_repeated_refs_are_bad_rows(db_session: Session) -> None:
    run(db_session, K.PAYMENTS, samples.PAYMENTS_CSV)
    changed = samples.PAYMENTS_CSV.replace(b"25.00,EUR", b"26.00,EUR") + (
        b"p-9,2026-11-04T01:10:00Z,a,b,1,EUR,,,,,,\np-9,2026-11-04T01:10:00Z,a,b,1,EUR,,,,,,\n"
    )
    with pytest.raises(BadRecordsError) as caught:
        run(db_session, K.PAYMENTS, changed)
    assert [(r.line, r.reason) for r in caught.value.rows] == [
        (2, "ref 'p-1' already stored with other values"),
        (6, "ref 'p-9' appears twice in this file (first on line 5)"),
    ]
    db_session.rollback()
    assert count(db_session, ContextPayment) == 3 and count(db_session, ContextImport) == 1
    (p1,) = db_session.scalars(select(ContextPayment).where(ContextPayment.ref == "p-1"))
    assert str(p1.amount) == "25.00"
    run(db_session, K.ACCOUNTS, samples.ACCOUNTS_JSONL)
    other_device = samples.ACCOUNTS_JSONL.replace(b'"d-2"', b'"d-3"')
    with pytest.raises(BadRecordsError, match="ref 'a' already stored with other values"):
        run(db_session, K.ACCOUNTS, other_device)


def test_repeated_ref_across_batches(db_session: Session) -> None:
    data = (
        samples.payments_csv(30)
        + samples.payments_csv(1, start=3)[
            len(b"ref,at,sender,beneficiary,amount,currency,channel\n") :
        ]
    )
    with pytest.raises(BadRecordsError) as caught:
        import_records(
            db_session,
            kind=K.PAYMENTS,
            fmt="csv",
            stream=io.BytesIO(data),
            filename=None,
            actor="t",
            batch=10,
        )
    assert [(r.line, r.reason) for r in caught.value.rows] == [
        (32, "ref 'g-3' appears twice in this file")
    ]


def test_many_bad_rows_are_counted_beyond_those_reported(db_session: Session) -> None:
    head = b"ref,at,sender,beneficiary,amount,currency\n"
    data = head + b"".join(
        b"r-%d,2026-11-03T22:41:05Z,s,b,-1,EUR\n" % i for i in range(MAX_REPORTED + 50)
    )
    with pytest.raises(BadRecordsError) as caught:
        run(db_session, K.PAYMENTS, data)
    assert caught.value.bad_rows == MAX_REPORTED + 50 and len(caught.value.rows) == MAX_REPORTED
    assert caught.value.rows[0].line == 2


def test_empty_files_unknown_formats_and_kinds(db_session: Session) -> None:
    with pytest.raises(BadRecordsError, match="holds no payments records"):
        run(db_session, K.PAYMENTS, b"ref,at,sender,beneficiary,amount,currency\n")
    with pytest.raises(
        UnknownRecordFormat, match="known: auto, pacs008, pain001, mt103, jsonl, csv"
    ):
        run(db_session, K.PAYMENTS, samples.PAYMENTS_CSV, fmt="xlsx")
    with pytest.raises(UnknownRecordFormat, match="does not read payments"):
        run(db_session, K.PAYMENTS, samples.PAYMENTS_CSV, fmt="whatsapp")
    with pytest.raises(UnknownRecordFormat, match="cannot tell the format"):
        run(db_session, K.PAYMENTS, b"hello world\n")
    with pytest.raises(BadRecordsError, match="missing required column currency"):
        run(db_session, K.PAYMENTS, b"ref,at,sender,beneficiary,amount\nx,y,z,w,1\n")
    with pytest.raises(UnknownKindError, match="known: payments, messages, sessions, accounts"):
        record_kind("transfers")
    db_session.rollback()
    assert count(db_session, ContextImport) == 0


class Generated(io.RawIOBase):
    """A payments CSV of ``n`` rows produced as it is read: never whole in memory, and it
    records the largest read asked of it."""

    def __init__(self, n: int) -> None:
        self._n = n
        self._i = 0
        self._buffer = b"ref,at,sender,beneficiary,amount,currency,channel\n"
        self.largest_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.largest_read = max(self.largest_read, len(buffer))
        while len(self._buffer) < len(buffer) and self._i < self._n:
            i = self._i
            self._buffer += (
                f"big-{i},2026-11-{1 + i % 28:02d}T{i % 24:02d}:00:00Z,s-{i % 97},b-{i % 13},"
                f"{10 + i % 90}.00,EUR,p2p\n".encode()
            )
            self._i += 1
        n = min(len(buffer), len(self._buffer))
        buffer[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def test_a_large_file_is_parsed_as_a_stream() -> None:
    """50,000 rows through the CSV parser from a generator: read in bounded chunks."""
    source = Generated(50_000)
    parsed = CsvFormat().parse(io.BufferedReader(source), kind=K.PAYMENTS, options=ParseOptions())
    rows = sum(1 for p in parsed if isinstance(p, Row))
    assert rows == 50_000 and source.largest_read <= 1 << 17


def test_an_import_streams_in_batches(db_session: Session) -> None:
    source = Generated(2_500)
    result = import_records(
        db_session,
        kind=K.PAYMENTS,
        fmt="auto",
        stream=io.BufferedReader(source),
        filename=None,
        actor="test",
        batch=1000,
    )
    db_session.commit()
    assert (result.format, result.rows, result.added) == ("csv", 2_500, 2_500)
    assert source.largest_read <= 1 << 17  # read in bounded chunks, never whole
    assert count(db_session, ContextPayment) == 2_500


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_two_imports_of_the_same_records_at_once_end_in_a_conflict(
    db_engine: Any, db_session: Session
) -> None:
    """PostgreSQL lets two transactions import at once: the second waits on the first's new
    refs and then finds them taken. That is a conflict (409, exit 5), not an internal error,
    and it stores nothing; run again, the records are duplicates."""
    import threading

    from vangnet.errors import ConflictError

    import_records(
        db_session,
        kind=K.PAYMENTS,
        fmt="csv",
        stream=io.BytesIO(samples.PAYMENTS_CSV),
        filename="a.csv",
        actor="test",
    )  # not committed yet
    outcome: list[BaseException | ImportResult] = []

    def second() -> None:
        with Session(db_engine) as other:
            try:
                outcome.append(run(other, K.PAYMENTS, samples.PAYMENTS_CSV, fmt="csv"))
            except Exception as error:  # what the second import met
                outcome.append(error)

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(1.0)  # blocked on the first import's refs
    db_session.commit()
    thread.join(30)
    [found] = outcome
    assert isinstance(found, ConflictError), found
    assert "at the same time" in found.message
    again = run(db_session, K.PAYMENTS, samples.PAYMENTS_CSV, fmt="csv")
    assert (again.added, again.duplicates) == (0, 3)
    assert count(db_session, ContextImport) == 2
