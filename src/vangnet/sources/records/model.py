"""The typed records of the context stage, as every part of it shares them: a `Payment`, a
chat `Message`, a call or streaming `CallSession` and an `Account`.

Parsers (`vangnet.sources.records`) yield them, imports store them (``context_*`` tables),
indicators, the graph and reports read them. Times are timezone-aware UTC; countries are
ISO 3166-1 alpha-2 upper case; currencies ISO 4217 upper case; ``ref`` is the record's own
identifier in its source (a transaction reference, a message id): the key that makes an
import idempotent. Accounts, payers, beneficiaries, handles and devices are named by their
``ref`` strings everywhere (``sender``, ``beneficiary``, ``participants``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


class RecordKind(StrEnum):
    """The kinds of context record a user imports."""

    PAYMENTS = "payments"
    MESSAGES = "messages"
    SESSIONS = "sessions"
    ACCOUNTS = "accounts"


class Channel(StrEnum):
    """How money moved: a money-transfer remittance, a person-to-person app or wallet
    payment, a bank wire (SWIFT / ISO 20022 credit transfer), a card purchase, crypto."""

    REMITTANCE = "remittance"
    P2P = "p2p"
    WIRE = "wire"
    CARD = "card"
    CRYPTO = "crypto"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Payment:
    """One payment: ``sender`` paid ``amount`` ``currency`` to ``beneficiary`` at ``at``.

    ``narrative``: the free text that came with it (remittance information, MT103 field 70,
    a P2P app's note). ``merchant_category``: for a card purchase, what was bought (a data
    label such as ``vpn``, ``live_streaming``, ``video_capture``, ``spyware``, ``travel``;
    see the indicator rules), None otherwise."""

    ref: str
    at: datetime
    sender: str
    beneficiary: str
    amount: Decimal
    currency: str
    channel: Channel = Channel.OTHER
    sender_country: str | None = None
    beneficiary_country: str | None = None
    narrative: str = ""
    merchant_category: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message in ``conversation``, from ``sender`` to ``recipients``, on
    ``platform``; ``language`` when the source says (ISO 639-1/-3), else None."""

    ref: str
    conversation: str
    at: datetime
    sender: str
    text: str
    recipients: tuple[str, ...] = ()
    platform: str | None = None
    language: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CallSession:
    """One video call or live-streaming session on ``platform`` between ``participants``
    (account refs), from ``started_at`` to ``ended_at`` (None while unknown), with the
    countries each participant connected from (``countries``, same order; None where
    unknown). ``stream``: the Vangnet stream id when the session was monitored live."""

    ref: str
    platform: str
    started_at: datetime
    participants: tuple[str, ...]
    ended_at: datetime | None = None
    countries: tuple[str | None, ...] = ()
    stream: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Account:
    """What a platform, bank or payment provider knows of one account: its ``kind``
    (``person``, ``business``, ``handle``...), ``country`` and IANA ``timezone`` (for
    day/night logic), and the ``handles`` and ``devices`` it is linked to (graph edges)."""

    ref: str
    kind: str = "person"
    name: str | None = None
    country: str | None = None
    timezone: str | None = None
    birth_year: int | None = None
    sex: str | None = None
    platform: str | None = None
    created_at: datetime | None = None
    handles: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)


Record = Payment | Message | CallSession | Account
