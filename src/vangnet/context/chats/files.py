"""Chat files the chat commands read: JSON Lines of messages, one object a line, in the
documented record schema (``ref``, ``conversation``, ``at``, ``sender``, ``text``, and
optionally ``recipients``, ``platform``, ``language``, ``details``), and the same with a
per-conversation ``label`` for training and evaluation.

Labelled data: ``label`` (1: the conversation arranges paid abuse, 0: it does not) on any
message of a conversation — on one, some or all of them; every label given for one
conversation must agree. A conversation without any label is counted and left out of
training and evaluation. ``ref`` may be left out of labelled data (the line's number stands
in). A bad line (not a JSON object, a required field missing or of the wrong type, a time
without a UTC offset when no time zone is given for such times, a label other than 0/1, a
conflicting label, a repeated ref) makes the whole file bad: every bad line is reported with
its number and reason, nothing is used.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from vangnet.errors import ImportFormatError
from vangnet.sources.records.model import Message

#: Bad lines named in the error message (all are counted).
SHOWN_PROBLEMS = 20


@dataclass
class ChatFile:
    """Messages by conversation (each in time order), the labels and languages of the
    conversations, and the file's SHA-256."""

    conversations: dict[str, list[Message]]
    labels: dict[str, int]
    languages: dict[str, str]
    sha256: str
    unlabelled: list[str] = field(default_factory=list)

    @property
    def messages(self) -> list[Message]:
        return [m for ms in self.conversations.values() for m in ms]


def _text(obj: dict[str, Any], key: str, *, required: bool) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise ValueError(f"missing {key!r}")
        return None
    if not isinstance(value, str) or (required and key != "text" and not value.strip()):
        raise ValueError(f"{key!r} must be a non-empty string")
    return value


def _when(value: Any, timezone: tzinfo | None) -> datetime:
    if not isinstance(value, str):
        raise ValueError("missing 'at' (an ISO 8601 time with offset)")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'at' is not an ISO 8601 time: {value[:40]!r}") from None
    if at.tzinfo is None:
        if timezone is None:
            raise ValueError(f"'at' has no UTC offset (and no --timezone given): {value[:40]!r}")
        at = at.replace(tzinfo=timezone)
    return at


def _message(obj: dict[str, Any], default_ref: str, timezone: tzinfo | None) -> Message:
    recipients = obj.get("recipients", [])
    if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
        raise ValueError("'recipients' must be a list of strings")
    details = obj.get("details", {})
    if not isinstance(details, dict):
        raise ValueError("'details' must be an object")
    return Message(
        ref=_text(obj, "ref", required=False) or default_ref,
        conversation=str(_text(obj, "conversation", required=True)),
        at=_when(obj.get("at"), timezone),
        sender=str(_text(obj, "sender", required=True)),
        text=str(_text(obj, "text", required=True)),
        recipients=tuple(recipients),
        platform=_text(obj, "platform", required=False),
        language=_text(obj, "language", required=False),
        details=details,
    )


def read_chat_file(path: Path, *, labelled: bool, timezone: tzinfo | None = None) -> ChatFile:
    """The conversations of a chat JSON Lines file; `ImportFormatError` (exit 6) naming every
    bad line when any line is bad. ``labelled``: read ``label`` and allow a missing ``ref``.
    ``timezone``: the zone of times written without an offset (else such a time is bad)."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ImportFormatError(f"{path}: {error.strerror or error}") from None
    problems: list[tuple[int, str]] = []
    conversations: dict[str, list[Message]] = {}
    labels: dict[str, int] = {}
    refs: set[str] = set()
    languages: dict[str, Counter[str]] = {}
    try:
        # only "\n" ends a line: splitlines() would also split on U+2028, U+0085, \x1c...,
        # which JSON allows unescaped inside a message's text
        lines = raw.decode("utf-8").split("\n")
    except UnicodeDecodeError as error:
        raise ImportFormatError(f"{path}: not UTF-8 text ({error.reason})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
            if not labelled and not isinstance(obj.get("ref"), str):
                raise ValueError("missing 'ref'")
            message = _message(obj, f"{path.name}:{number}", timezone)
            if message.ref in refs:
                raise ValueError(f"ref {message.ref[:60]!r} repeated")
            label = obj.get("label") if labelled else None
            if label is not None:
                if isinstance(label, bool) or label not in (0, 1):
                    raise ValueError("'label' must be 0 or 1")
                if labels.get(message.conversation, label) != label:
                    raise ValueError(f"label {label} contradicts this conversation's other label")
                labels[message.conversation] = int(label)
        except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
            problems.append((number, str(error).splitlines()[0][:200]))
            continue
        refs.add(message.ref)
        conversations.setdefault(message.conversation, []).append(message)
        if message.language:
            languages.setdefault(message.conversation, Counter())[message.language.lower()] += 1
    if problems:
        shown = "; ".join(f"line {n}: {why}" for n, why in problems[:SHOWN_PROBLEMS])
        more = len(problems) - SHOWN_PROBLEMS
        raise ImportFormatError(
            f"{path}: {len(problems)} bad line(s), nothing used: {shown}"
            + (f"; and {more} more" if more > 0 else "")
        )
    for messages in conversations.values():
        messages.sort(key=lambda m: m.at)
    return ChatFile(
        conversations=conversations,
        labels=labels if labelled else {},
        languages={c: n.most_common(1)[0][0] for c, n in languages.items()},
        sha256=hashlib.sha256(raw).hexdigest(),
        unlabelled=[c for c in conversations if c not in labels] if labelled else [],
    )
