"""Chat exports as messages: WhatsApp "Export chat" text (iOS and Android layouts) and
Telegram Desktop's result.json (one chat or the whole account)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from context import samples
from vangnet.sources.records.base import Parsed, ParseOptions, Row, RowError, Skipped
from vangnet.sources.records.conformance import FormatCases, check_record_format
from vangnet.sources.records.model import Message
from vangnet.sources.records.model import RecordKind as K
from vangnet.sources.records.telegram import TelegramFormat
from vangnet.sources.records.whatsapp import WhatsAppFormat

MANILA = ZoneInfo("Asia/Manila")


def parse(fmt: WhatsAppFormat | TelegramFormat, data: bytes, **opts: object) -> list[Parsed]:
    return list(fmt.parse(io.BytesIO(data), kind=K.MESSAGES, options=ParseOptions(**opts)))  # type: ignore[arg-type]


def messages(items: list[Parsed]) -> list[Message]:
    out = [p.record for p in items if isinstance(p, Row)]
    assert all(isinstance(m, Message) for m in out)
    return out  # type: ignore[return-value]


def test_chat_formats_pass_the_conformance_kit() -> None:
    wa = ParseOptions(timezone=MANILA, conversation="chat-1")
    check_record_format(
        WhatsAppFormat,
        FormatCases(
            kind=K.MESSAGES, good=samples.WHATSAPP_IOS, rows=4, bad=[b"hello there\n"], options=wa
        ),
    )
    check_record_format(
        WhatsAppFormat,
        FormatCases(kind=K.MESSAGES, good=samples.WHATSAPP_ANDROID, rows=3, options=wa),
    )
    check_record_format(
        TelegramFormat,
        FormatCases(kind=K.MESSAGES, good=samples.TELEGRAM, rows=2, bad=[b"[]", b'{"x": 1}']),
    )
    check_record_format(
        TelegramFormat,
        FormatCases(
            kind=K.MESSAGES,
            good=samples.TELEGRAM_ACCOUNT,
            rows=3,
            options=ParseOptions(timezone=MANILA),
        ),
    )


def test_whatsapp_ios_multi_line_media_and_system_lines() -> None:
    items = parse(
        WhatsAppFormat(),
        samples.WHATSAPP_IOS,
        timezone=MANILA,
        filename="WhatsApp Chat with Maria.txt",
    )
    assert [type(i) for i in items] == [Skipped, Row, Row, Row, Row]
    hello, photo, ok1, ok2 = messages(items)
    assert hello.conversation == "WhatsApp Chat with Maria"  # the file name's stem
    assert hello.text == "hello\nare you there" and hello.sender == "Jan"
    assert hello.at == datetime(2026, 11, 3, 14, 41, 5, tzinfo=UTC)
    assert hello.platform == "whatsapp" and hello.ref.startswith("whatsapp:")
    assert photo.sender == "Maria" and photo.text == ""
    assert photo.details == {"media": "attached", "attachment": "00000012-PHOTO.jpg"}
    assert ok1.text == ok2.text == "ok" and ok1.ref != ok2.ref  # identical, yet two messages
    again = messages(
        parse(
            WhatsAppFormat(),
            samples.WHATSAPP_IOS,
            timezone=MANILA,
            filename="WhatsApp Chat with Maria.txt",
        )
    )
    assert [m.ref for m in again] == [hello.ref, photo.ref, ok1.ref, ok2.ref]  # stable refs


def test_whatsapp_android_12_hour_two_digit_years_and_media_omitted() -> None:
    items = parse(WhatsAppFormat(), samples.WHATSAPP_ANDROID, timezone=MANILA, conversation="c-9")
    assert [type(i) for i in items] == [Row, Row, Skipped, Row]
    hi, media, morning = messages(items)
    assert hi.at == datetime(2026, 11, 3, 14, 41, tzinfo=UTC)  # 10:41 pm in Manila
    assert media.at == datetime(2026, 11, 3, 14, 42, tzinfo=UTC) and media.details == {
        "media": "omitted"
    }
    assert morning.sender == "Bob" and morning.conversation == "c-9"


def test_whatsapp_needs_a_time_zone_and_a_conversation() -> None:
    assert [
        (e.line, e.reason)
        for e in parse(WhatsAppFormat(), samples.WHATSAPP_ANDROID, conversation="c")
        if isinstance(e, RowError)
    ] == [(1, "WhatsApp times have no offset: give the time zone (--timezone)")]
    assert [
        (e.line, e.reason)
        for e in parse(WhatsAppFormat(), samples.WHATSAPP_ANDROID, timezone=MANILA)
        if isinstance(e, RowError)
    ] == [(1, "name the conversation (--conversation)")]
    bad_date = b"31/02/2026, 22:41 - Jan: hi\n13/13/2026, 10:41 - Jan: x\n"
    found = [
        e
        for e in parse(WhatsAppFormat(), bad_date, timezone=MANILA, conversation="c")
        if isinstance(e, RowError)
    ]
    assert [e.line for e in found] == [1, 2] and "day/month/year" in found[0].reason


def test_telegram_single_chat() -> None:
    items = parse(TelegramFormat(), samples.TELEGRAM)
    assert isinstance(items[0], Skipped) and "service message" in items[0].reason
    hi, photo = messages(items)
    assert hi.ref == "telegram:4242:2" and hi.conversation == "telegram:4242"
    assert hi.text == "hi there" and hi.sender == "user101"
    assert hi.at == datetime.fromtimestamp(1793742065, UTC)
    assert hi.details == {"chat": "Maria", "from": "Jan"}
    assert photo.details["media"] == "photo" and photo.details["reply_to"] == "telegram:4242:2"


def test_telegram_whole_account_needs_a_zone_without_unix_times() -> None:
    items = parse(TelegramFormat(), samples.TELEGRAM_ACCOUNT)
    errors = [e for e in items if isinstance(e, RowError)]
    assert [(e.line, e.reason) for e in errors] == [
        (4, "chat 77 message 1: date: time 2026-11-05T10:00:00 has no offset (give the time zone)")
    ]
    found = messages(parse(TelegramFormat(), samples.TELEGRAM_ACCOUNT, timezone=MANILA))
    assert found[-1].ref == "telegram:77:1" and found[-1].at == datetime(2026, 11, 5, 2, tzinfo=UTC)


def test_telegram_bad_messages() -> None:
    chat = {
        "id": 5,
        "name": "x",
        "messages": [
            {"id": 1, "type": "message", "date_unixtime": "1793742065", "text": "no sender"},
            "nope",
            {"id": 2, "type": "weird"},
        ],
    }
    found = [
        (e.line, e.reason)
        for e in parse(TelegramFormat(), json.dumps(chat).encode())
        if isinstance(e, RowError)
    ]
    assert found == [
        (1, "chat 5 message 1: sender: missing"),
        (2, "a message that is not a JSON object"),
        (3, "chat 5 message 2: unknown message type 'weird'"),
    ]
    broken = parse(TelegramFormat(), b"{\n\n oops")
    assert [e.line for e in broken if isinstance(e, RowError)] == [3]


def test_telegram_names_that_cannot_be_stored_are_bad_messages() -> None:
    # JSON escapes NUL ("\u0000", which PostgreSQL cannot store) and half surrogate pairs
    base = {"type": "message", "date_unixtime": "1762209665", "from_id": "user1", "text": "hi"}
    chat = {
        "id": 5,
        "name": "c\x00hat",
        "messages": [{**base, "id": 1}],
    }
    found = [
        (e.line, e.reason)
        for e in parse(TelegramFormat(), json.dumps(chat).encode())
        if isinstance(e, RowError)
    ]
    assert found == [(1, "chat 5 message 1: details contains a NUL character")]
    chat = {"id": 5, "messages": [{**base, "id": 1, "from": "a\ud800"}]}
    [(line, reason)] = [
        (e.line, e.reason)
        for e in parse(TelegramFormat(), json.dumps(chat).encode())
        if isinstance(e, RowError)
    ]
    assert line == 1 and reason.startswith("chat 5 message 1: details is not valid JSON")
