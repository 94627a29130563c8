"""Field values as the documented schema writes them, checked and turned into records.

One place validates every field of every kind, so CSV, JSON Lines and the bank and chat
formats agree on what a valid time, amount, currency or country is. Each function raises
`FieldError` with a reason a user can act on ("amount: not a decimal number: '12,5'"); the
parsers turn it into a `RowError` on the row's line.

The rules: times are ISO 8601 with an offset (or ``Z``); a time without one is refused
unless the user named a time zone; all are stored in UTC. Amounts are decimal strings with
``.`` as the decimal point (or JSON numbers), positive and finite. Currencies are three
letters (ISO 4217), countries two (ISO 3166-1 alpha-2), both upper-cased. Text fields have
the lengths of their columns (``ref`` and account names 255 characters).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vangnet.jsonlimits import JsonLimitError, check_json
from vangnet.sources.records.model import (
    Account,
    CallSession,
    Channel,
    Message,
    Payment,
    Record,
    RecordKind,
)

_CURRENCY = re.compile(r"[A-Z]{3}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
#: Half of a UTF-16 surrogate pair (JSON may escape one alone): not text that can be stored.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
#: Largest amount accepted (a bigger one is a typo or an attack on the numeric columns).
MAX_AMOUNT = Decimal("1e15")
#: Longest amount written out in full (the column keeps the exact decimal as text).
MAX_AMOUNT_CHARS = 40
MAX_TEXT = 100_000  # narrative or message text, characters

#: Fields of each kind (the dataclass's field names), and the required ones.
FIELDS: dict[RecordKind, tuple[str, ...]] = {
    RecordKind.PAYMENTS: (
        "ref",
        "at",
        "sender",
        "beneficiary",
        "amount",
        "currency",
        "channel",
        "sender_country",
        "beneficiary_country",
        "narrative",
        "merchant_category",
        "details",
    ),
    RecordKind.MESSAGES: (
        "ref",
        "conversation",
        "at",
        "sender",
        "text",
        "recipients",
        "platform",
        "language",
        "details",
    ),
    RecordKind.SESSIONS: (
        "ref",
        "platform",
        "started_at",
        "participants",
        "ended_at",
        "countries",
        "stream",
        "details",
    ),
    RecordKind.ACCOUNTS: (
        "ref",
        "kind",
        "name",
        "country",
        "timezone",
        "birth_year",
        "sex",
        "platform",
        "created_at",
        "handles",
        "devices",
        "details",
    ),
}
REQUIRED: dict[RecordKind, tuple[str, ...]] = {
    RecordKind.PAYMENTS: ("ref", "at", "sender", "beneficiary", "amount", "currency"),
    RecordKind.MESSAGES: ("ref", "conversation", "at", "sender", "text"),
    RecordKind.SESSIONS: ("ref", "platform", "started_at", "participants"),
    RecordKind.ACCOUNTS: ("ref",),
}
#: Fields that hold lists (``;``-separated in CSV, arrays in JSON Lines).
LIST_FIELDS = frozenset({"recipients", "participants", "countries", "handles", "devices"})


class FieldError(ValueError):
    """A field value breaks the schema; ``reason`` says which and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def text(name: str, value: Any, *, limit: int = 255, required: bool = False) -> str | None:
    """A text field: None or empty is None (refused when ``required``), else at most
    ``limit`` characters, without control characters other than newline and tab or a lone
    surrogate (which no database stores)."""
    if value is None or value == "":
        if required:
            raise FieldError(f"{name}: missing")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise FieldError(f"{name}: expected text, got {type(value).__name__}")
    out = str(value)
    if required and not out.strip():
        raise FieldError(f"{name}: blank")
    if len(out) > limit:
        raise FieldError(f"{name}: longer than {limit} characters")
    if _CONTROL.search(out):
        raise FieldError(f"{name}: control character in text")
    if _SURROGATE.search(out):
        raise FieldError(f"{name}: a lone surrogate in text (half of a UTF-16 pair)")
    return out


def needed(name: str, value: Any, *, limit: int = 255) -> str:
    out = text(name, value, limit=limit, required=True)
    assert out is not None  # required
    return out


def parse_zone(name: str) -> ZoneInfo:
    """An IANA time zone (``Europe/Amsterdam``); `FieldError` when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise FieldError(f"unknown time zone {name!r} (an IANA name such as Asia/Manila)") from None


def moment(name: str, value: Any, *, zone: ZoneInfo | None) -> datetime:
    """An ISO 8601 time with an offset, as aware UTC. Without an offset it is read in
    ``zone``, and refused when there is none."""
    if isinstance(value, datetime):
        at = value
    else:
        if not isinstance(value, str) or not value.strip():
            raise FieldError(f"{name}: missing")
        try:
            at = datetime.fromisoformat(value.strip())
        except ValueError:
            raise FieldError(f"{name}: not an ISO 8601 time: {value!r}") from None
    if at.tzinfo is None:
        if zone is None:
            raise FieldError(f"{name}: time {value!s} has no offset (give the time zone)")
        at = at.replace(tzinfo=zone)
    try:
        return at.astimezone(UTC)
    except OverflowError:
        raise FieldError(f"{name}: {value!s} is out of the range of UTC times") from None


def maybe_moment(name: str, value: Any, *, zone: ZoneInfo | None) -> datetime | None:
    if value is None or value == "":
        return None
    return moment(name, value, zone=zone)


def on_day(day: date, *, zone: ZoneInfo | None) -> datetime:
    """A date without a time (an MT103 value date): noon of that day in ``zone`` (UTC
    without one), so a date-only payment never looks like a night-time one."""
    return datetime.combine(day, time(12), tzinfo=zone or UTC).astimezone(UTC)


def amount(name: str, value: Any) -> Decimal:
    """A positive, finite decimal amount from a decimal string or a JSON number."""
    if isinstance(value, bool) or value is None or value == "":
        raise FieldError(f"{name}: missing")
    if isinstance(value, Decimal | int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            raise FieldError(f"{name}: not a decimal number: {value!r}") from None
    else:
        raise FieldError(f"{name}: not a decimal number with '.' as the point: {value!r}")
    if not number.is_finite() or number <= 0:
        raise FieldError(f"{name}: must be a positive amount, not {value!s}")
    if number >= MAX_AMOUNT:
        raise FieldError(f"{name}: {value!s} is larger than {MAX_AMOUNT:f}")
    if len(format(number, "f")) > MAX_AMOUNT_CHARS:
        raise FieldError(f"{name}: more than {MAX_AMOUNT_CHARS} characters written out")
    return number


def currency(name: str, value: Any) -> str:
    code = needed(name, value, limit=16).strip().upper()
    if not _CURRENCY.fullmatch(code):
        raise FieldError(f"{name}: not an ISO 4217 currency code: {value!r}")
    return code


def country(name: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    code = needed(name, value, limit=16).strip().upper()
    if not _COUNTRY.fullmatch(code):
        raise FieldError(f"{name}: not an ISO 3166 alpha-2 country code: {value!r}")
    return code


def channel(name: str, value: Any) -> Channel:
    if value is None or value == "":
        return Channel.OTHER
    try:
        return Channel(str(value).strip().lower())
    except ValueError:
        known = ", ".join(c.value for c in Channel)
        raise FieldError(f"{name}: {value!r} is not one of {known}") from None


def listed(name: str, value: Any, *, separated: bool) -> list[Any]:
    """A list field: a JSON array, or ``;``-separated text when ``separated`` (CSV)."""
    if value is None or value == "":
        return []
    if separated and isinstance(value, str):
        return [part.strip() for part in value.split(";")]
    if isinstance(value, list):
        return value
    raise FieldError(f"{name}: expected a list, got {type(value).__name__}")


def names(name: str, value: Any, *, separated: bool) -> tuple[str, ...]:
    out = []
    for i, item in enumerate(listed(name, value, separated=separated), 1):
        out.append(needed(f"{name}[{i}]", item))
    return tuple(out)


def details(value: Any) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise FieldError(f"details: expected an object, got {type(value).__name__}")
    try:
        check_json(value, what="details")
    except JsonLimitError as error:
        raise FieldError(error.message) from None
    out: dict[str, Any] = jsonable(value)
    return out


def jsonable(value: Any) -> Any:
    """``value`` with the exact decimals of a JSON parse turned back into JSON numbers."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def record(
    kind: RecordKind,
    values: Mapping[str, Any],
    *,
    zone: ZoneInfo | None,
    separated: bool,
) -> Record:
    """The record of ``kind`` from field values named as the dataclass names them.

    ``separated``: list fields are ``;``-separated text (CSV). Unknown fields are the
    caller's business (CSV puts them in ``details``, JSON Lines refuses them)."""
    missing = [f for f in REQUIRED[kind] if values.get(f) in (None, "")]
    if missing:
        raise FieldError(
            f"missing required field{'s' if len(missing) > 1 else ''}: " + ", ".join(missing)
        )
    if kind is RecordKind.PAYMENTS:
        return Payment(
            ref=needed("ref", values["ref"]),
            at=moment("at", values["at"], zone=zone),
            sender=needed("sender", values["sender"]),
            beneficiary=needed("beneficiary", values["beneficiary"]),
            amount=amount("amount", values["amount"]),
            currency=currency("currency", values["currency"]),
            channel=channel("channel", values.get("channel")),
            sender_country=country("sender_country", values.get("sender_country")),
            beneficiary_country=country("beneficiary_country", values.get("beneficiary_country")),
            narrative=text("narrative", values.get("narrative"), limit=MAX_TEXT) or "",
            merchant_category=text("merchant_category", values.get("merchant_category"), limit=32),
            details=details(values.get("details")),
        )
    if kind is RecordKind.MESSAGES:
        return Message(
            ref=needed("ref", values["ref"]),
            conversation=needed("conversation", values["conversation"]),
            at=moment("at", values["at"], zone=zone),
            sender=needed("sender", values["sender"]),
            text=text("text", values["text"], limit=MAX_TEXT) or "",
            recipients=names("recipients", values.get("recipients"), separated=separated),
            platform=text("platform", values.get("platform"), limit=64),
            language=text("language", values.get("language"), limit=16),
            details=details(values.get("details")),
        )
    if kind is RecordKind.SESSIONS:
        participants = names("participants", values["participants"], separated=separated)
        if not participants:
            raise FieldError("participants: at least one account")
        countries = tuple(
            country(f"countries[{i}]", c)
            for i, c in enumerate(
                listed("countries", values.get("countries"), separated=separated), 1
            )
        )
        if len(countries) > len(participants):
            raise FieldError(
                f"countries: {len(countries)} countries for {len(participants)} participants"
            )
        started = moment("started_at", values["started_at"], zone=zone)
        ended = maybe_moment("ended_at", values.get("ended_at"), zone=zone)
        if ended is not None and ended < started:
            raise FieldError("ended_at: before started_at")
        return CallSession(
            ref=needed("ref", values["ref"]),
            platform=needed("platform", values["platform"], limit=64),
            started_at=started,
            participants=participants,
            ended_at=ended,
            countries=countries,
            stream=text("stream", values.get("stream"), limit=64),
            details=details(values.get("details")),
        )
    tz = text("timezone", values.get("timezone"), limit=64)
    if tz is not None:
        parse_zone(tz)
    return Account(
        ref=needed("ref", values["ref"]),
        kind=text("kind", values.get("kind"), limit=32) or "person",
        name=text("name", values.get("name")),
        country=country("country", values.get("country")),
        timezone=tz,
        birth_year=year("birth_year", values.get("birth_year")),
        sex=text("sex", values.get("sex"), limit=16),
        platform=text("platform", values.get("platform"), limit=64),
        created_at=maybe_moment("created_at", values.get("created_at"), zone=zone),
        handles=names("handles", values.get("handles"), separated=separated),
        devices=names("devices", values.get("devices"), separated=separated),
        details=details(values.get("details")),
    )


def year(name: str, value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise FieldError(f"{name}: not a year: {value!r}")
    try:
        number = int(value) if isinstance(value, int | str) else None
    except ValueError:
        number = None
    if number is None or not 1900 <= number <= datetime.now(UTC).year:
        raise FieldError(f"{name}: not a year between 1900 and now: {value!r}")
    return number


def unknown(kind: RecordKind, keys: Sequence[str]) -> list[str]:
    """The keys that are not fields of ``kind``."""
    known = set(FIELDS[kind])
    return [k for k in keys if k not in known]
