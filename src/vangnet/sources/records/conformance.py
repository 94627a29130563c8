"""Conformance kit for record formats: run it on your format plug-in (the built-ins run it).

Usage, in a test of your package::

    from vangnet.sources.records.conformance import FormatCases, check_record_format

    def test_my_format_conforms() -> None:
        check_record_format(MyFormat, FormatCases(kind=RecordKind.PAYMENTS, good=b"...",
                                                  rows=2, bad=[b"..."]))

`check_record_format` raises `AssertionError` naming the first rule broken:

- the registry accepts the class (a `RecordFormat` with a name, kinds and a description),
  and ``kind`` is one of its kinds;
- ``good`` parses to exactly ``rows`` records of ``kind``, no errors, lines that never go
  backwards, refs unique; parsing it again gives the same records (imports are idempotent);
- every ``bad`` input yields at least one `RowError` and raises nothing;
- an empty input, every prefix of ``good`` cut at a few places and some garbage bytes raise
  nothing (a parser reports bad input, it does not crash on it);
- when ``sniffed``, `vangnet.sources.records.registry.sniff` names the format for ``good``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from vangnet.sources.records.base import Parsed, ParseOptions, RecordFormat, Row, RowError
from vangnet.sources.records.model import Account, CallSession, Message, Payment, RecordKind
from vangnet.sources.records.registry import as_record_format, sniff

_TYPES = {
    RecordKind.PAYMENTS: Payment,
    RecordKind.MESSAGES: Message,
    RecordKind.SESSIONS: CallSession,
    RecordKind.ACCOUNTS: Account,
}
GARBAGE = (b"\x00\xff\xfe garbage \x80\x81", b"{" * 64, b"<" * 64, b"\n" * 8, b",,,\n;;;\n")


@dataclass(frozen=True)
class FormatCases:
    """The case table of one format and kind."""

    kind: RecordKind
    good: bytes  # a valid file
    rows: int  # how many records it holds
    bad: Sequence[bytes] = ()  # inputs that must yield a RowError
    options: ParseOptions = field(default_factory=ParseOptions)
    sniffed: bool = True  # sniff names the format from ``good``


def _fail(cls: type[RecordFormat], message: str) -> AssertionError:
    return AssertionError(f"record format {getattr(cls, 'name', cls)!r}: {message}")


def _run(fmt: RecordFormat, data: bytes, cases: FormatCases) -> list[Parsed]:
    try:
        return list(fmt.parse(io.BytesIO(data), kind=cases.kind, options=cases.options))
    except Exception as error:
        raise _fail(type(fmt), f"raised {type(error).__name__}: {error} on {data[:60]!r}") from None


def check_record_format(cls: type[RecordFormat], cases: FormatCases) -> None:
    """Check ``cls`` against the rules above; `AssertionError` on the first one broken."""
    as_record_format(cls, repr(cls))
    if not getattr(cls, "description", ""):
        raise _fail(cls, "has no description")
    if not cls.kinds or cases.kind not in cls.kinds:
        raise _fail(cls, f"does not read {cases.kind}")
    fmt = cls()
    parsed = _run(fmt, cases.good, cases)
    errors = [p for p in parsed if isinstance(p, RowError)]
    if errors:
        raise _fail(cls, f"the good input has bad rows: {errors[:3]}")
    rows = [p for p in parsed if isinstance(p, Row)]
    if len(rows) != cases.rows:
        raise _fail(cls, f"read {len(rows)} records, expected {cases.rows}")
    wanted = _TYPES[cases.kind]
    for row in rows:
        if not isinstance(row.record, wanted):
            raise _fail(cls, f"line {row.line}: a {type(row.record).__name__}, not a {wanted}")
    lines = [r.line for r in rows]
    if lines != sorted(lines) or any(n < 1 for n in lines):
        raise _fail(cls, f"lines go backwards or below 1: {lines}")
    refs = [r.record.ref for r in rows]
    if len(set(refs)) != len(refs):
        raise _fail(cls, "the same ref twice in one file")
    again = [p.record for p in _run(fmt, cases.good, cases) if isinstance(p, Row)]
    if again != [r.record for r in rows]:
        raise _fail(cls, "parsing the same file twice gave other records")
    for bad in cases.bad:
        if not any(isinstance(p, RowError) for p in _run(fmt, bad, cases)):
            raise _fail(cls, f"no bad row reported for {bad[:80]!r}")
    if any(isinstance(p, Row) for p in _run(fmt, b"", cases)):
        raise _fail(cls, "records from an empty input")
    for cut in (1, 7, len(cases.good) // 3, len(cases.good) // 2, len(cases.good) - 3):
        _run(fmt, cases.good[: max(cut, 0)], cases)
    for garbage in GARBAGE:
        _run(fmt, garbage, cases)
    if cases.sniffed:
        found = sniff(cases.good[:8192], kind=cases.kind)
        if found != cls.name:
            raise _fail(cls, f"sniff named {found!r} for its own input")
