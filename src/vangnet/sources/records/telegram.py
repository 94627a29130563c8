"""Telegram Desktop's JSON export (``result.json``), as `Message` records.

Both shapes are read: one chat (an object with ``id``, ``name``, ``type`` and ``messages``)
and a whole-account export (``chats.list``, a list of such chats; ``left_chats.list`` too).
Each message of type ``message`` becomes a `Message`: ``ref`` ``telegram:<chat id>:<message
id>``, ``conversation`` ``telegram:<chat id>`` (the chat's name in ``details.chat``),
``sender`` the ``from_id`` (``user123...``; the display name in ``details.from``), ``text``
the plain text (a list of text entities is joined), ``at`` from ``date_unixtime`` when the
export has it, else ``date`` (no offset: ``--timezone`` is needed). Service messages ("X
joined the group", calls) are skipped and counted; attachments are named in
``details.media``.

JSON has no useful line numbers here: a bad message is reported at its position in the
file (the n-th message, counting from 1 over all chats), with its chat and message id.
The export is read as one JSON document (Telegram writes it pretty-printed, so it is
seldom large; the HTTP API caps an upload at ``max_upload_bytes``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO, ClassVar

from vangnet.sources.records import fields
from vangnet.sources.records.base import (
    Parsed,
    ParseOptions,
    RecordFormat,
    Row,
    RowError,
    Skipped,
    check_kind,
)
from vangnet.sources.records.model import Message, RecordKind

_MEDIA_KEYS = ("photo", "file", "media_type", "sticker_emoji", "location_information")


def plain_text(value: Any) -> str:
    """Telegram's ``text``: a string, or a list of strings and ``{"type", "text"}`` entities."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(
            part if isinstance(part, str) else str(part.get("text", ""))
            for part in value
            if isinstance(part, str | dict)
        )
    return ""


def _chats(document: Any) -> list[Any] | None:
    if not isinstance(document, dict):
        return None
    if isinstance(document.get("messages"), list):
        return [document]
    chats = document.get("chats")
    if isinstance(chats, dict) and isinstance(chats.get("list"), list):
        found = list(chats["list"])
        left = document.get("left_chats")
        if isinstance(left, dict) and isinstance(left.get("list"), list):
            found += left["list"]
        return found
    return None


class TelegramFormat(RecordFormat):
    """Telegram Desktop ``result.json`` (one chat or the whole account)."""

    name: ClassVar[str] = "telegram"
    kinds: ClassVar[frozenset[RecordKind]] = frozenset({RecordKind.MESSAGES})
    description: ClassVar[str] = (
        "Telegram Desktop JSON export (result.json: one chat or chats.list)"
    )

    @classmethod
    def recognises(cls, head: bytes, kind: RecordKind) -> bool:
        text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
        return (
            text.startswith(b"{")
            and (b'"chats"' in text or (b'"messages"' in text and b'"type"' in text))
            and b'"conversation"' not in text
        )

    def parse(
        self, stream: BinaryIO, *, kind: RecordKind, options: ParseOptions
    ) -> Iterator[Parsed]:
        check_kind(self, kind)
        try:
            document = json.load(stream)
        except UnicodeDecodeError:
            yield RowError(1, "not UTF-8 text")
            return
        except json.JSONDecodeError as error:
            yield RowError(error.lineno, f"not JSON: {error.msg}")
            return
        except (ValueError, RecursionError) as error:
            yield RowError(1, f"not JSON: {error}")
            return
        chats = _chats(document)
        if chats is None:
            yield RowError(1, "not a Telegram export: no 'messages' and no 'chats.list'")
            return
        position = 0
        for chat in chats:
            if not isinstance(chat, dict) or not isinstance(chat.get("messages"), list):
                position += 1
                yield RowError(position, "a chat without a 'messages' list")
                continue
            chat_id = chat.get("id")
            for message in chat["messages"]:
                position += 1
                yield self._row(position, chat_id, chat.get("name"), message, options)

    def _row(
        self, position: int, chat_id: Any, chat_name: Any, message: Any, options: ParseOptions
    ) -> Parsed:
        if not isinstance(message, dict):
            return RowError(position, "a message that is not a JSON object")
        msg_id = message.get("id")
        where = f"chat {chat_id} message {msg_id}"
        if message.get("type") == "service":
            return Skipped(position, f"{where}: service message ({message.get('action')})")
        if message.get("type") != "message":
            return RowError(position, f"{where}: unknown message type {message.get('type')!r}")
        if isinstance(chat_id, bool) or not isinstance(chat_id, int | str) or chat_id == "":
            return RowError(position, f"{where}: the chat has no id")
        if isinstance(msg_id, bool) or not isinstance(msg_id, int | str) or msg_id == "":
            return RowError(position, f"{where}: no message id")
        details: dict[str, Any] = {}
        if isinstance(chat_name, str) and chat_name:
            details["chat"] = chat_name
        if isinstance(message.get("from"), str):
            details["from"] = message["from"]
        media = [k for k in _MEDIA_KEYS if message.get(k)]
        if media:
            details["media"] = message.get("media_type") or media[0]
        if isinstance(message.get("reply_to_message_id"), int):
            details["reply_to"] = f"telegram:{chat_id}:{message['reply_to_message_id']}"
        try:
            sender = message.get("from_id") or message.get("from")
            return Row(
                position,
                Message(
                    ref=fields.needed("ref", f"telegram:{chat_id}:{msg_id}"),
                    conversation=fields.needed("conversation", f"telegram:{chat_id}"),
                    at=self._at(message, options),
                    sender=fields.needed("sender", sender),
                    text=fields.text("text", plain_text(message.get("text")), limit=fields.MAX_TEXT)
                    or "",
                    platform="telegram",
                    details=fields.details(details),  # names: no NUL, no lone surrogate
                ),
            )
        except fields.FieldError as error:
            return RowError(position, f"{where}: {error.reason}")

    def _at(self, message: dict[str, Any], options: ParseOptions) -> datetime:
        stamp = message.get("date_unixtime")
        if isinstance(stamp, str | int) and not isinstance(stamp, bool) and str(stamp).isdigit():
            try:
                return datetime.fromtimestamp(int(stamp), UTC)
            except (OverflowError, ValueError, OSError):
                raise fields.FieldError(f"date_unixtime: out of range: {stamp!r}") from None
        return fields.moment("date", message.get("date"), zone=options.timezone)
