"""Importing context records from a file: streamed, validated, idempotent, all-or-nothing.

`import_records` reads a file of one record kind in one format (`vangnet.sources.records`:
CSV, JSON Lines, ISO 20022, MT103, chat exports; ``auto`` sniffs it), checks every row and
stores the new records in batches, in the caller's transaction, under a `ContextImport` row
and one audit entry (``context.import``).

- **Streamed**: the parser holds one record at a time and records are written a batch at a
  time; a file of any size is read in bounded memory (the SHA-256 is taken on the way).
- **Validated, nothing lost**: every bad row is collected with its line and reason (the first
  `MAX_REPORTED` kept, the rest counted); rows a format skips on purpose (chat system lines)
  are counted in ``skipped``.
- **All-or-nothing**: one bad row and `BadRecordsError` (exit 6, HTTP 422) carries them, and
  the import's savepoint is rolled back: nothing of the file is stored.
- **Idempotent**: a record whose ``ref`` is stored with the same content is a duplicate
  (counted, not rewritten); the same ``ref`` with other content is a bad row, as is a ``ref``
  twice in one file. Two imports that store the same new ``ref`` at once (PostgreSQL lets
  them run side by side): the later one is a `ConflictError` (409, exit 5) and stores nothing;
  run again, those records are duplicates.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vangnet.audit import chain
from vangnet.context import stored
from vangnet.errors import ConflictError, ExitCode, ValidationError, VangnetError
from vangnet.sources.records.base import ParseOptions, Row, RowError, Skipped
from vangnet.sources.records.model import Payment, Record, RecordKind
from vangnet.sources.records.registry import HEAD_BYTES, get_format, sniff
from vangnet.store.models import (
    ContextAccount,
    ContextImport,
    ContextMessage,
    ContextPayment,
    ContextSession,
)

#: Bad rows an error carries (the rest are counted in ``bad_rows``).
MAX_REPORTED = 1000
#: Records written per INSERT (one SELECT of their refs first).
BATCH = 1000

StoredRow = ContextPayment | ContextMessage | ContextSession | ContextAccount
_MODELS: dict[RecordKind, type[StoredRow]] = {
    RecordKind.PAYMENTS: ContextPayment,
    RecordKind.MESSAGES: ContextMessage,
    RecordKind.SESSIONS: ContextSession,
    RecordKind.ACCOUNTS: ContextAccount,
}
_TO_ROW: dict[RecordKind, Callable[..., StoredRow]] = {
    RecordKind.PAYMENTS: stored.payment_row,
    RecordKind.MESSAGES: stored.message_row,
    RecordKind.SESSIONS: stored.session_row,
    RecordKind.ACCOUNTS: stored.account_row,
}


class UnknownKindError(ValidationError):
    """A record kind that is not payments, messages, sessions or accounts."""

    code = "unknown_record_kind"
    exit_code = ExitCode.USAGE


def record_kind(name: str) -> RecordKind:
    """``name`` as a `RecordKind`; `UnknownKindError` naming the kinds otherwise."""
    try:
        return RecordKind(name)
    except ValueError:
        known = ", ".join(k.value for k in RecordKind)
        raise UnknownKindError(f"unknown record kind {name!r} (known: {known})") from None


class BadRecordsError(VangnetError):
    """A file with bad rows: nothing of it was stored. ``rows``: the first `MAX_REPORTED`
    bad rows in line order; ``bad_rows``: how many there were in all."""

    code = "invalid_records"
    exit_code = ExitCode.INVALID_DATA
    status = 422

    def __init__(self, rows: list[RowError], *, bad_rows: int, kind: RecordKind) -> None:
        first = rows[0] if rows else RowError(0, "")
        super().__init__(
            f"{bad_rows} bad row{'s' if bad_rows != 1 else ''} in the {kind} file, nothing "
            f"imported (first: line {first.line}: {first.reason})"
        )
        self.rows = rows
        self.bad_rows = bad_rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "rows": [{"line": r.line, "reason": r.reason} for r in self.rows],
            "bad_rows": self.bad_rows,
        }


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did: ``rows`` records read, ``added`` new, ``duplicates`` already
    stored with the same content, ``skipped`` lines the format ignores (chat system lines)."""

    import_id: int
    kind: RecordKind
    format: str
    filename: str | None
    sha256: str
    rows: int
    added: int
    duplicates: int
    skipped: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "import_id": self.import_id,
            "kind": self.kind.value,
            "format": self.format,
            "filename": self.filename,
            "sha256": self.sha256,
            "rows": self.rows,
            "added": self.added,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
        }


class _Hashing(io.RawIOBase):
    """A raw reader over ``source`` that hashes and counts every byte read through it."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self.sha = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._source.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.sha.update(data)
        self.size += n
        return n


@dataclass
class _Tally:
    rows: int = 0
    added: int = 0
    duplicates: int = 0
    skipped: int = 0
    bad: int = 0
    errors: list[RowError] = field(default_factory=list)

    def error(self, line: int, reason: str) -> None:
        self.bad += 1
        if len(self.errors) < MAX_REPORTED:
            self.errors.append(RowError(line, reason))


def import_records(
    session: Session,
    *,
    kind: RecordKind,
    fmt: str,
    stream: BinaryIO,
    filename: str | None,
    actor: str,
    options: ParseOptions | None = None,
    batch: int = BATCH,
) -> ImportResult:
    """Import the ``kind`` records of ``stream`` in format ``fmt`` (``auto`` to sniff it).

    Writes in the caller's transaction, inside a savepoint; the caller commits. Raises
    `BadRecordsError` (nothing written) when any row is bad, `UnknownRecordFormat` for a
    format that is not installed or does not read ``kind``."""
    hashing = _Hashing(stream)
    reader = io.BufferedReader(hashing, buffer_size=max(HEAD_BYTES, 64 * 1024))
    name = sniff(reader.peek(HEAD_BYTES)[:HEAD_BYTES], kind=kind) if fmt == "auto" else fmt
    parser = get_format(name, kind=kind)
    opts = options or ParseOptions(filename=filename)
    if opts.filename is None and filename is not None:
        opts = ParseOptions(
            timezone=opts.timezone, conversation=opts.conversation, filename=filename
        )
    tally = _Tally()
    with session.begin_nested():
        imported = ContextImport(
            kind=kind.value, format=name, filename=filename, sha256="", actor=actor
        )
        session.add(imported)
        session.flush()
        pending: list[Row] = []
        for item in parser.parse(reader, kind=kind, options=opts):
            if isinstance(item, Row):
                tally.rows += 1
                pending.append(item)
                if len(pending) >= batch:
                    _store(session, kind, pending, imported.id, tally)
                    pending = []
            elif isinstance(item, Skipped):
                tally.skipped += 1
            else:
                tally.error(item.line, item.reason)
        _store(session, kind, pending, imported.id, tally)
        while reader.read(1 << 16):  # the rest of the file, for its digest
            pass
        if tally.rows == 0 and tally.bad == 0:
            tally.error(1, f"the file holds no {kind} records")
        if tally.bad:
            raise BadRecordsError(
                sorted(tally.errors, key=lambda e: e.line), bad_rows=tally.bad, kind=kind
            )
        imported.sha256 = hashing.sha.hexdigest()
        imported.rows, imported.added, imported.duplicates = (
            tally.rows,
            tally.added,
            tally.duplicates,
        )
        result = ImportResult(
            import_id=imported.id,
            kind=kind,
            format=name,
            filename=filename,
            sha256=imported.sha256,
            rows=tally.rows,
            added=tally.added,
            duplicates=tally.duplicates,
            skipped=tally.skipped,
        )
        chain.record(
            session,
            actor=actor,
            action="context.import",
            target=f"context_import:{imported.id}",
            after={k: v for k, v in result.as_dict().items() if k != "import_id"},
            details={"bytes": hashing.size},
        )
    return result


def _store(
    session: Session, kind: RecordKind, rows: list[Row], import_id: int, tally: _Tally
) -> None:
    """Write the new records of one batch; count duplicates; report conflicts."""
    if not rows:
        return
    table = cast(Table, _MODELS[kind].__table__)
    refs = {r.record.ref for r in rows}
    existing = {
        stored_row["ref"]: stored_row
        for stored_row in session.execute(select(table).where(table.c.ref.in_(refs))).mappings()
    }
    first_line: dict[str, int] = {}
    new: list[dict[str, Any]] = []
    for row in rows:
        ref = row.record.ref
        if ref in first_line:
            tally.error(
                row.line,
                f"ref {ref!r} appears twice in this file (first on line {first_line[ref]})",
            )
            continue
        first_line[ref] = row.line
        values = _values(kind, row.record, import_id)
        before = existing.get(ref)
        if before is not None:
            if before["import_id"] == import_id:
                tally.error(row.line, f"ref {ref!r} appears twice in this file")
            elif all(before[k] == v for k, v in values.items() if k != "import_id"):
                tally.duplicates += 1  # the same record (column values compared as typed)
            else:
                tally.error(row.line, f"ref {ref!r} already stored with other values")
            continue
        new.append(values)
    if new:
        try:
            session.execute(insert(table), new)  # Core executemany
        except IntegrityError:  # another import stored one of these refs meanwhile
            raise ConflictError(
                f"another import stored some of these {kind} records at the same time: nothing "
                "of this file was imported; import it again (they count as duplicates then)"
            ) from None
        tally.added += len(new)


def _values(kind: RecordKind, record: Record, import_id: int) -> dict[str, Any]:
    """The column values of ``record``'s row (as `vangnet.context.stored` writes them),
    without building an ORM object: an import writes them with one executemany."""
    if isinstance(record, Payment):
        return {
            "ref": record.ref,
            "import_id": import_id,
            "at": record.at,
            "sender": record.sender,
            "beneficiary": record.beneficiary,
            "amount": record.amount,
            "currency": record.currency,
            "channel": record.channel.value,
            "sender_country": record.sender_country,
            "beneficiary_country": record.beneficiary_country,
            "narrative": record.narrative,
            "merchant_category": record.merchant_category,
            "details": dict(record.details),
        }
    obj = _TO_ROW[kind](record, import_id=import_id)
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns if c.key != "id"}


def imports(session: Session, *, limit: int = 100) -> Sequence[ContextImport]:
    """The latest imports, newest first."""
    return session.scalars(
        select(ContextImport).order_by(ContextImport.id.desc()).limit(limit)
    ).all()


def import_dict(row: ContextImport) -> dict[str, Any]:
    """One import as the CLI and the API show it."""
    return {
        "import_id": row.id,
        "kind": row.kind,
        "format": row.format,
        "filename": row.filename,
        "sha256": row.sha256,
        "rows": row.rows,
        "added": row.added,
        "duplicates": row.duplicates,
        "actor": row.actor,
        "created_at": row.created_at.isoformat(timespec="seconds"),
    }
