"""WhatsApp's "Export chat" text file, as `Message` records.

Both layouts WhatsApp writes are read: iOS ``[03/11/2026, 22:41:05] Name: text`` and Android
``03/11/2026, 22:41 - Name: text`` (two- or four-digit years, with or without seconds, 24-hour
or ``AM``/``PM``; the day comes first, as in the exports of most of the world). A line that
does not start with a time continues the message before it (multi-line messages). A line
with a time but no ``Name:`` is a system line ("Messages and calls are end-to-end
encrypted", "Alice added Bob"): skipped and counted. ``<Media omitted>`` and iOS's
``<attached: file>`` / "image omitted" lines become a message with empty text and
``details.media`` saying so.

The export's times have no offset: the user names the zone (``--timezone``), else the file is
refused. The conversation is ``--conversation``, else the file's name without ``.txt``. A
message has no id of its own: its ``ref`` is a stable hash of (conversation, time, sender,
text, how many identical messages came before it), so importing the same export twice adds
nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import PurePath
from typing import Any, BinaryIO, ClassVar

from vangnet.sources.records import fields
from vangnet.sources.records.base import (
    InputEnded,
    Parsed,
    ParseOptions,
    RecordFormat,
    Row,
    RowError,
    Skipped,
    check_kind,
    text_lines,
)
from vangnet.sources.records.model import Message, RecordKind
from vangnet.sources.records.refs import content_ref

_MARKS = "\u200e\u200f\u202a\u202c\ufeff"
_DATE = r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{2,4}),? "
_TIME = r"(\d{1,2}):(\d{2})(?::(\d{2}))?(?:[\s\u202f]?([AaPp])\.?\s?[Mm]\.?)?"
_IOS = re.compile(r"^\[" + _DATE + _TIME + r"\] (.*)$")
_ANDROID = re.compile(r"^" + _DATE + _TIME + r" - (.*)$")
_SENDER = re.compile(r"^([^:]{1,255}?): (.*)$", re.DOTALL)
_MEDIA = {
    "<media omitted>": "omitted",
    "image omitted": "image",
    "video omitted": "video",
    "audio omitted": "audio",
    "sticker omitted": "sticker",
    "gif omitted": "gif",
    "document omitted": "document",
}
_ATTACHED = re.compile(r"^<attached: (.+)>$")


def _clean(line: str) -> str:
    return line.rstrip("\r\n").translate({ord(c): None for c in _MARKS})


def _time(m: re.Match[str]) -> datetime:
    day, month, year, hour, minute, second, half = m.groups()[:7]
    y = int(year) + (2000 if len(year) == 2 else 0)
    h = int(hour)
    if half:
        if not 1 <= h <= 12:
            raise fields.FieldError(f"not a 12-hour time: {hour}:{minute}")
        h = h % 12 + (12 if half.lower() == "p" else 0)
    try:
        return datetime(y, int(month), int(day), h, int(minute), int(second or 0))
    except ValueError:
        raise fields.FieldError(
            f"not a day/month/year date and time: {day}/{month}/{year} {hour}:{minute}"
        ) from None


class WhatsAppFormat(RecordFormat):
    """WhatsApp "Export chat" .txt, iOS and Android layouts."""

    name: ClassVar[str] = "whatsapp"
    kinds: ClassVar[frozenset[RecordKind]] = frozenset({RecordKind.MESSAGES})
    description: ClassVar[str] = (
        "WhatsApp 'Export chat' text (iOS and Android layouts); needs --timezone"
    )

    @classmethod
    def recognises(cls, head: bytes, kind: RecordKind) -> bool:
        first = _clean(head.decode("utf-8", "replace").lstrip("\ufeff").split("\n", 1)[0])
        return bool(_IOS.match(first) or _ANDROID.match(first))

    def parse(
        self, stream: BinaryIO, *, kind: RecordKind, options: ParseOptions
    ) -> Iterator[Parsed]:
        check_kind(self, kind)
        conversation = options.conversation or (
            PurePath(options.filename).stem if options.filename else None
        )
        pending: dict[str, Any] | None = None
        seen: Counter[bytes] = Counter()
        number = 0
        try:
            for number, raw in enumerate(text_lines(stream), 1):
                line = _clean(raw)
                m = _IOS.match(line) or _ANDROID.match(line)
                if m is None:
                    if pending is not None:
                        pending["text"] += "\n" + line
                    elif line.strip():
                        yield RowError(number, "not a WhatsApp chat line (no date and time)")
                    continue
                if pending is not None:
                    yield self._row(pending, conversation, seen)
                    pending = None
                if conversation is None:
                    yield RowError(number, "name the conversation (--conversation)")
                    return
                if options.timezone is None:
                    yield RowError(
                        number, "WhatsApp times have no offset: give the time zone (--timezone)"
                    )
                    return
                said = _SENDER.match(m.group(8))
                if said is None:
                    yield Skipped(number, "system line")
                    continue
                try:
                    at = fields.moment("at", _time(m), zone=options.timezone)
                except fields.FieldError as error:
                    yield RowError(number, error.reason)
                    continue
                pending = {
                    "line": number,
                    "at": at,
                    "sender": said.group(1).strip(),
                    "text": said.group(2),
                }
        except InputEnded as ended:
            yield RowError(ended.line, ended.reason)
            return
        if pending is not None:
            yield self._row(pending, conversation, seen)

    def _row(self, m: dict[str, Any], conversation: str | None, seen: Counter[bytes]) -> Parsed:
        assert conversation is not None  # checked before a message starts
        text: str = m["text"]
        details: dict[str, Any] = {}
        media = _MEDIA.get(text.strip().lower())
        attached = _ATTACHED.match(text.strip())
        if media:
            details["media"], text = media, ""
        elif attached:
            details["media"], details["attachment"], text = "attached", attached.group(1), ""
        try:
            at: datetime = m["at"]
            ref = content_ref("whatsapp", conversation, at, m["sender"], text, seen)
            return Row(
                m["line"],
                Message(
                    ref=ref,
                    conversation=fields.needed("conversation", conversation),
                    at=at,
                    sender=fields.needed("sender", m["sender"]),
                    text=fields.text("text", text, limit=fields.MAX_TEXT) or "",
                    platform="whatsapp",
                    details=details,
                ),
            )
        except fields.FieldError as error:
            return RowError(m["line"], error.reason)
