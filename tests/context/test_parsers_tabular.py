"""CSV and JSON Lines record formats: the documented schema for all four kinds, every kind of
bad row reported with its line and reason, unknown CSV columns kept as details."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from context import samples
from vangnet.sources.records.base import Parsed, ParseOptions, Row, RowError
from vangnet.sources.records.conformance import FormatCases, check_record_format
from vangnet.sources.records.model import Account, CallSession, Channel, Message, Payment
from vangnet.sources.records.model import RecordKind as K
from vangnet.sources.records.tabular import CsvFormat, JsonLinesFormat


def parse(fmt: str, kind: K, data: bytes, **options: object) -> list[Parsed]:
    parser = CsvFormat() if fmt == "csv" else JsonLinesFormat()
    return list(parser.parse(io.BytesIO(data), kind=kind, options=ParseOptions(**options)))  # type: ignore[arg-type]


def errors(items: list[Parsed]) -> list[tuple[int, str]]:
    return [(p.line, p.reason) for p in items if isinstance(p, RowError)]


@pytest.mark.parametrize(
    ("kind", "csv_data", "csv_rows", "jsonl_data", "jsonl_rows"),
    [
        (K.PAYMENTS, samples.PAYMENTS_CSV, 3, samples.PAYMENTS_JSONL, 2),
        (K.MESSAGES, samples.MESSAGES_CSV, 2, samples.MESSAGES_JSONL, 2),
        (K.SESSIONS, samples.SESSIONS_CSV, 2, samples.SESSIONS_JSONL, 1),
        (K.ACCOUNTS, samples.ACCOUNTS_CSV, 2, samples.ACCOUNTS_JSONL, 2),
    ],
)
def test_csv_and_jsonl_pass_the_conformance_kit(
    kind: K, csv_data: bytes, csv_rows: int, jsonl_data: bytes, jsonl_rows: int
) -> None:
    bad_csv = csv_data.split(b"\n", 1)[0] + b"\nx" + b",y" * 20 + b"\n"
    check_record_format(
        CsvFormat,
        FormatCases(
            kind=kind, good=csv_data, rows=csv_rows, bad=[bad_csv, b"nothing,useful\n1,2\n"]
        ),
    )
    check_record_format(
        JsonLinesFormat,
        FormatCases(kind=kind, good=jsonl_data, rows=jsonl_rows, bad=[b"{not json}\n", b"[1]\n"]),
    )


def test_csv_payments_are_typed_in_utc_with_extra_columns_as_details() -> None:
    rows = [p for p in parse("csv", K.PAYMENTS, samples.PAYMENTS_CSV) if isinstance(p, Row)]
    first, second, third = (r.record for r in rows)
    assert [r.line for r in rows] == [2, 3, 4]
    assert first == Payment(
        ref="p-1",
        at=datetime(2026, 11, 3, 21, 41, 5, tzinfo=UTC),
        sender="acct-nl-1",
        beneficiary="acct-ph-1",
        amount=Decimal("25.00"),
        currency="EUR",
        channel=Channel.REMITTANCE,
        sender_country="NL",
        beneficiary_country="PH",
        narrative="school uniform",
        details={"bank": "ING"},
    )
    assert isinstance(second, Payment) and isinstance(third, Payment)
    assert (second.currency, second.sender_country, second.narrative) == (
        "EUR",
        "NL",
        "medical bills, rent",
    )
    assert second.details == {}  # empty extra cells are left out
    assert third.merchant_category == "vpn" and third.beneficiary_country is None


def test_csv_lists_split_on_semicolons_and_keep_unknown_countries() -> None:
    sessions = [
        p.record for p in parse("csv", K.SESSIONS, samples.SESSIONS_CSV) if isinstance(p, Row)
    ]
    assert isinstance(sessions[0], CallSession) and isinstance(sessions[1], CallSession)
    assert sessions[0].participants == ("acct-nl-1", "acct-ph-1")
    assert sessions[0].countries == ("NL", "PH")
    assert sessions[1].countries == (None, "PH") and sessions[1].stream == "stream-7"
    messages = [
        p.record for p in parse("csv", K.MESSAGES, samples.MESSAGES_CSV) if isinstance(p, Row)
    ]
    assert isinstance(messages[1], Message) and messages[1].recipients == ("acct-nl-1", "acct-ph-9")
    accounts = [
        p.record for p in parse("csv", K.ACCOUNTS, samples.ACCOUNTS_CSV) if isinstance(p, Row)
    ]
    assert isinstance(accounts[0], Account)
    assert accounts[0].handles == ("@jexample", "jex99") and accounts[0].details == {"risk": "low"}
    assert accounts[0].created_at == datetime(2020, 1, 1, tzinfo=UTC)


def test_jsonl_keeps_exact_amounts_and_details() -> None:
    rows = [
        p.record for p in parse("jsonl", K.PAYMENTS, samples.PAYMENTS_JSONL) if isinstance(p, Row)
    ]
    assert isinstance(rows[0], Payment) and isinstance(rows[1], Payment)
    assert rows[0].details == {"fee": 2.5, "agent": "outlet-3"}
    assert rows[1].amount == Decimal("15.5")


BAD_PAYMENTS = (
    b"ref,at,sender,beneficiary,amount,currency,channel,sender_country\n"
    b"b-1,2026-11-03T22:41:05,s,b,25.00,EUR,,\n"  # 2: no offset
    b"b-2,yesterday,s,b,25.00,EUR,,\n"  # 3: not a time
    b'b-3,2026-11-03T22:41:05Z,s,b,"25,00",EUR,,\n'  # 4: decimal comma
    b"b-4,2026-11-03T22:41:05Z,s,b,-5,EUR,,\n"  # 5: negative
    b"b-5,2026-11-03T22:41:05Z,s,b,5,EURO,,\n"  # 6: currency
    b"b-6,2026-11-03T22:41:05Z,s,b,5,EUR,pigeon,\n"  # 7: channel
    b"b-7,2026-11-03T22:41:05Z,s,b,5,EUR,,NLD\n"  # 8: country
    b"b-8,2026-11-03T22:41:05Z,,b,5,EUR,,\n"  # 9: missing sender
    b"b-9,2026-11-03T22:41:05Z,s,b,5\n"  # 10: too few cells
    b"b-10,2026-11-03T22:41:05Z,s,b,NaN,EUR,,\n"  # 11: not a number
    b"b-11,2026-11-03T22:41:05Z,s,b,5,EUR,,PH\n"  # 12: good
)


def test_every_bad_csv_row_is_reported_with_line_and_reason() -> None:
    items = parse("csv", K.PAYMENTS, BAD_PAYMENTS)
    found = dict(errors(items))
    assert sorted(found) == list(range(2, 12))
    assert "has no offset" in found[2]
    assert "not an ISO 8601 time" in found[3]
    assert "'.' as the point" in found[4]
    assert "positive" in found[5]
    assert "ISO 4217" in found[6]
    assert "remittance, p2p" in found[7]
    assert "ISO 3166" in found[8]
    assert "sender" in found[9]
    assert "cells" in found[10]
    assert "NaN" in found[11]
    assert [p.line for p in items if isinstance(p, Row)] == [12]


def test_a_time_zone_reads_times_without_offset() -> None:
    data = b"ref,at,sender,beneficiary,amount,currency\nz-1,2026-11-03T22:41:05,s,b,5,EUR\n"
    (row,) = parse("csv", K.PAYMENTS, data, timezone=ZoneInfo("Asia/Manila"))
    assert isinstance(row, Row) and row.record.at == datetime(2026, 11, 3, 14, 41, 5, tzinfo=UTC)  # type: ignore[union-attr]


def test_a_header_without_the_required_columns_is_one_error() -> None:
    items = parse("csv", K.PAYMENTS, b"ref,at,sender\nx,2026-11-03T22:41:05Z,s\n")
    assert errors(items) == [
        (1, "header: missing required columns beneficiary, amount, currency for payments")
    ]
    assert errors(parse("csv", K.PAYMENTS, b"ref,ref,at\n")) == [(1, "header: column 'ref' twice")]


def test_csv_quoted_newlines_keep_line_numbers() -> None:
    data = (
        b"ref,conversation,at,sender,text\n"
        b'q-1,c,2026-11-03T22:41:05Z,a,"two\nlines"\n'
        b"q-2,c,2026-11-03T22:41:05Z,,x\n"
    )
    items = parse("csv", K.MESSAGES, data)
    assert isinstance(items[0], Row) and items[0].record.text == "two\nlines"  # type: ignore[union-attr]
    assert errors(items) == [(4, "missing required field: sender")]


def test_bad_sessions_and_accounts() -> None:
    start = b'"platform": "v", "started_at": "2026-11-03T23:00:00Z"'
    sessions = (
        b'{"ref": "s", ' + start + b', "participants": []}\n'
        b'{"ref": "s2", '
        + start
        + b', "participants": ["a"], "ended_at": "2026-11-03T22:00:00Z"}\n'
        b'{"ref": "s3", ' + start + b', "participants": ["a"], "countries": ["NL", "PH"]}\n'
        b'{"ref": "s4", ' + start + b', "participants": "a"}\n'
    )
    found = errors(parse("jsonl", K.SESSIONS, sessions))
    assert [line for line, _ in found] == [1, 2, 3, 4]
    assert "at least one account" in found[0][1]
    assert "before started_at" in found[1][1]
    assert "2 countries for 1 participants" in found[2][1]
    assert "expected a list" in found[3][1]
    accounts = (
        b'{"ref": "a", "timezone": "Mars/Olympus"}\n'
        b'{"ref": "b", "birth_year": 1850}\n'
        b'{"ref": "c", "handels": ["x"]}\n'
        b'{"ref": "d", "details": [1]}\n'
        b'{"ref": "e", "details": ' + b'{"a": ' * 40 + b"1" + b"}" * 40 + b"}\n"
        b'{"ref": "' + b"x" * 300 + b'"}\n'
    )
    found = errors(parse("jsonl", K.ACCOUNTS, accounts))
    assert [line for line, _ in found] == [1, 2, 3, 4, 5, 6]
    assert "unknown time zone" in found[0][1]
    assert "year" in found[1][1]
    assert "unknown field for accounts: 'handels'" in found[2][1]
    assert "details: expected an object" in found[3][1]
    assert "nested deeper than 32 levels" in found[4][1]
    assert "longer than 255" in found[5][1]


def test_input_that_is_not_text_ends_with_one_error() -> None:
    data = b"ref,at,sender,beneficiary,amount,currency\nx,\xff\xfe,s,b,5,EUR\n"
    assert errors(parse("csv", K.PAYMENTS, data)) == [(2, "not UTF-8 text (byte 3 of the line)")]
    assert errors(parse("jsonl", K.PAYMENTS, b'{"ref": 1}\n\x00\n'))[-1] == (
        2,
        "NUL byte in text input",
    )


def _jsonl_payment(**fields: str) -> bytes:
    row = {"ref": "u-1", "at": "2026-11-03T22:41:05Z", "sender": "s", "beneficiary": "b"}
    row.update({"amount": "5", "currency": "EUR", **fields})
    return (json.dumps(row) + "\n").encode()


@pytest.mark.parametrize("field", ["sender", "narrative", "ref"])
def test_a_lone_surrogate_is_a_bad_row_not_a_crash(field: str) -> None:
    # JSON may escape half of a surrogate pair ("\ud800"); such text cannot be stored.
    (found,) = errors(parse("jsonl", K.PAYMENTS, _jsonl_payment(**{field: "a\ud800"})))
    assert found[0] == 1 and found[1].startswith(f"{field}: ") and "surrogate" in found[1]


@pytest.mark.parametrize(
    ("at", "zone"),
    [
        ("0001-01-01T00:00:00+01:00", None),
        ("9999-12-31T23:30:00-05:00", None),
        ("0001-01-01T03:00:00", "Asia/Tokyo"),
    ],
)
def test_a_time_outside_the_utc_range_is_a_bad_row(at: str, zone: str | None) -> None:
    options = {"timezone": ZoneInfo(zone)} if zone else {}
    (found,) = errors(parse("jsonl", K.PAYMENTS, _jsonl_payment(at=at), **options))
    assert found == (1, f"at: {at} is out of the range of UTC times")
