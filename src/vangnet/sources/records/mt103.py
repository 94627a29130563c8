"""SWIFT MT103 single customer credit transfers, as text: one message or many.

A message is ``{1:...}{2:...}{3:...}{4:`` then its fields, one ``:TAG:value`` a line (a value
may go on over further lines), ending at ``-}``. One `Payment` per message:

- ``:20:`` sender's reference: the ``ref``;
- ``:32A:`` value date ``YYMMDD``, currency, amount with ``,`` as the decimal comma;
- ``:50K:`` / ``:50A:`` / ``:50F:`` ordering customer: the sender is the account line
  (``/NL91ABNA0417164300``), else the name;
- ``:59:`` / ``:59A:`` / ``:59F:`` beneficiary customer, likewise;
- ``:70:`` remittance information: the ``narrative`` (the lines joined);
- ``:33B:`` instructed amount, ``:71A:`` charges, ``:52A:``/``:57A:`` the banks' BICs and
  block 3's ``:121:`` UETR go into ``details``.

Countries come from an IBAN's prefix, else a ``:50F:``/``:59F:`` ``3/CC/`` line, else
characters 5-6 of a BIC (the party's, else its bank's). An MT103 carries a value date, no
time: ``at`` is noon of that day in the ``--timezone`` given (UTC without one), and
``details.at_precision`` is ``"day"`` so time-of-day logic can leave it out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any, BinaryIO, ClassVar

from vangnet.sources.records import fields
from vangnet.sources.records.base import (
    InputEnded,
    Parsed,
    ParseOptions,
    RecordFormat,
    Row,
    RowError,
    check_kind,
    text_lines,
)
from vangnet.sources.records.iso20022 import bic_country, iban_country
from vangnet.sources.records.model import Channel, Payment, RecordKind

_NO_BLOCK_4 = "MT103 headers without a block 4 ({4:)"

_FIELD = re.compile(r"^:(\d{2}[A-Z]?):(.*)$")
_AMOUNT = re.compile(r"(\d{6})([A-Z]{3})(\d+(?:,\d*)?)")
_INSTRUCTED = re.compile(r"([A-Z]{3})(\d+(?:,\d*)?)")
_UETR = re.compile(r"\{121:([0-9a-fA-F-]{36})\}")
_F_COUNTRY = re.compile(r"^3/([A-Z]{2})(/|$)")
#: Most lines one message may have (a message runs to a few dozen); more is a broken file.
MAX_MESSAGE_LINES = 500


class Mt103Format(RecordFormat):
    """SWIFT MT103 text, one message or several."""

    name: ClassVar[str] = "mt103"
    kinds: ClassVar[frozenset[RecordKind]] = frozenset({RecordKind.PAYMENTS})
    description: ClassVar[str] = "SWIFT MT103 single customer credit transfer text messages"

    @classmethod
    def recognises(cls, head: bytes, kind: RecordKind) -> bool:
        text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
        return text.startswith(b"{1:") or (b"{4:" in text and b":20:" in text)

    def parse(
        self, stream: BinaryIO, *, kind: RecordKind, options: ParseOptions
    ) -> Iterator[Parsed]:
        check_kind(self, kind)
        body: list[tuple[int, str]] | None = None
        start = 0
        headers = ""
        number = 0
        try:
            for number, raw in enumerate(text_lines(stream), 1):
                line = raw.rstrip("\r\n")
                if body is None:
                    if not line.strip() or line.strip() in ("$", "-}"):
                        continue
                    if "{4:" not in line:
                        if line.lstrip().startswith("{1:"):
                            if headers:  # the message of the headers before never began
                                yield RowError(start, _NO_BLOCK_4)
                            start, headers = number, line
                            continue  # headers on their own line, block 4 on the next
                        yield RowError(number, "expected an MT103 message ({1:...}{4:)")
                        continue
                    if not headers or start != number - 1:
                        start, headers = number, ""
                    head, _, rest = line.partition("{4:")
                    headers += head
                    body = []
                    if rest.strip():
                        body.append((number, rest))
                    continue
                if line.startswith("-}"):
                    yield self._message(start, headers, body, options)
                    body, headers = None, ""
                    continue
                body.append((number, line))
                if len(body) > MAX_MESSAGE_LINES:
                    yield RowError(
                        start, f"message longer than {MAX_MESSAGE_LINES} lines: no '-}}'"
                    )
                    return
        except InputEnded as ended:
            yield RowError(ended.line, ended.reason)
            return
        if body is not None:
            yield RowError(start, "message not ended by '-}'")
        elif headers:
            yield RowError(start, _NO_BLOCK_4)

    def _message(
        self, start: int, headers: str, body: list[tuple[int, str]], options: ParseOptions
    ) -> Parsed:
        tags: dict[str, list[str]] = {}
        current: list[str] | None = None
        for number, line in body:
            m = _FIELD.match(line)
            if m:
                if m.group(1) in tags:
                    return RowError(number, f"field :{m.group(1)}: twice in one message")
                current = tags[m.group(1)] = [m.group(2)]
            elif current is not None:
                current.append(line)
            elif line.strip():
                return RowError(number, "text before the first :TAG: field")
        try:
            return Row(start, _payment(tags, headers, options))
        except fields.FieldError as error:
            return RowError(start, error.reason)


def _one(tags: dict[str, list[str]], *names: str) -> tuple[str, list[str]] | None:
    for name in names:
        if name in tags:
            return name, tags[name]
    return None


def _party(found: tuple[str, list[str]] | None, role: str) -> dict[str, str | None]:
    """Account, name, BIC and country of an ordering (50a) or beneficiary (59a) customer."""
    if found is None:
        raise fields.FieldError(f"no :{role}: field")
    tag, lines = found
    lines = [x.strip() for x in lines if x.strip()]
    out: dict[str, str | None] = {"account": None, "name": None, "bic": None, "country": None}
    if lines and lines[0].startswith("/"):
        out["account"] = lines.pop(0)[1:].replace(" ", "") or None
    elif tag.endswith("F") and lines and not lines[0][:2].rstrip("/").isdigit():
        # 50F party identifier: CODE/COUNTRY/ID (e.g. CUST/NL/ABNA/123) or an account
        out["account"] = lines.pop(0)
    if tag.endswith("A"):
        out["bic"] = lines[0] if lines else None
    elif tag.endswith("F"):
        for x in lines:
            if x.startswith("1/") and out["name"] is None:
                out["name"] = x[2:].strip() or None
            m = _F_COUNTRY.match(x)
            if m:
                out["country"] = m.group(1)
    elif lines:
        out["name"] = lines[0]
    return out


def _bic_line(tags: dict[str, list[str]], tag: str) -> str | None:
    """The BIC of an ``...A`` bank field (its first line that is not ``/account``)."""
    lines = [x.strip() for x in tags.get(tag, []) if x.strip() and not x.startswith("/")]
    return lines[0] if lines else None


def _decimal(text: str) -> str:
    return text.replace(",", ".").rstrip(".")


def _payment(tags: dict[str, list[str]], headers: str, options: ParseOptions) -> Payment:
    ref = " ".join(tags.get("20", [])).strip()
    if not ref:
        raise fields.FieldError("no :20: reference")
    value = " ".join(tags.get("32A", [])).strip()
    m = _AMOUNT.fullmatch(value)
    if not m:
        raise fields.FieldError(f":32A: expected YYMMDD, currency, amount: {value!r}")
    try:
        day = date(2000 + int(m.group(1)[:2]), int(m.group(1)[2:4]), int(m.group(1)[4:]))
    except ValueError:
        raise fields.FieldError(f":32A: not a date: {m.group(1)!r}") from None
    sender = _party(_one(tags, "50K", "50A", "50F"), "50a")
    receiver = _party(_one(tags, "59", "59A", "59F"), "59a")
    ordering_bank = _bic_line(tags, "52A")
    beneficiary_bank = _bic_line(tags, "57A")
    details: dict[str, Any] = {"format": "mt103", "at_precision": "day"}
    for key, found in (
        ("ordering_customer", sender["name"]),
        ("beneficiary_customer", receiver["name"]),
        ("ordering_bic", sender["bic"] or ordering_bank),
        ("beneficiary_bic", receiver["bic"] or beneficiary_bank),
        ("charges", " ".join(tags.get("71A", [])).strip() or None),
    ):
        if found:
            details[key] = found
    instructed = " ".join(tags.get("33B", [])).strip()
    if instructed:
        im = _INSTRUCTED.fullmatch(instructed)
        if not im:
            raise fields.FieldError(f":33B: expected currency and amount: {instructed!r}")
        details["instructed_currency"] = im.group(1)
        details["instructed_amount"] = _decimal(im.group(2))
    uetr = _UETR.search(headers)
    if uetr:
        details["uetr"] = uetr.group(1).lower()

    def where(party: dict[str, str | None], bank: str | None) -> str | None:
        return (
            iban_country(party["account"])
            or party["country"]
            or bic_country(party["bic"])
            or bic_country(bank)
        )

    return Payment(
        ref=fields.needed("ref", ref, limit=255),
        at=fields.on_day(day, zone=options.timezone),
        sender=fields.needed("sender", sender["account"] or sender["name"] or sender["bic"]),
        beneficiary=fields.needed(
            "beneficiary", receiver["account"] or receiver["name"] or receiver["bic"]
        ),
        amount=fields.amount("amount", _decimal(m.group(3))),
        currency=fields.currency("currency", m.group(2)),
        channel=Channel.WIRE,
        sender_country=where(sender, details.get("ordering_bic")),
        beneficiary_country=where(receiver, details.get("beneficiary_bic")),
        narrative=" ".join(x.strip() for x in tags.get("70", []) if x.strip()),
        details=details,
    )
