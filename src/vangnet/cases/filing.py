"""Filing: which case a signal belongs to, and the case row and timeline it writes.

Grouping (setting ``review_group_by``):

- ``account``: one case per platform account / uploader (the stream's or upload's
  ``account``, ``uploader`` or ``user`` metadata); without one, as ``stream``.
- ``stream``: one case per live stream; an upload without a stream is its own case.
- ``evidence``: one case per alert (live) or uploaded file.

An investigation case is named by the investigator (``investigation:<name>``).
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vangnet.errors import ValidationError
from vangnet.store.models import Case, CaseEvent, Stream

SYSTEM = f"vangnet@{socket.gethostname()}"
OPEN_STATES = ("open", "escalated", "second_opinion", "pending_confirmation")
DECIDED_STATES = ("confirmed", "false_positive")
GROUPINGS = ("account", "stream", "evidence")
GroupBy = Literal["account", "stream", "evidence"]
_SUBJECT_KEYS = (
    "platform",
    "account",
    "uploader",
    "user",
    "content_id",
    "ip",
    "email",
    "viewers",
    "country",
)
_MAX_SUBJECT_TEXT = 255


def iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat(timespec="milliseconds") if at else None


def clean_subject(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """The platform's facts about who and what: known keys only, short scalars."""
    out: dict[str, Any] = {}
    for key in _SUBJECT_KEYS:
        value = (raw or {}).get(key)
        if value is None or value == "":
            continue
        if key == "viewers":
            try:
                out[key] = max(0, int(value))
            except (TypeError, ValueError):
                continue
        elif isinstance(value, str | int | float):
            out[key] = str(value)[:_MAX_SUBJECT_TEXT]
    if "account" not in out:
        for alias in ("uploader", "user"):
            if alias in out:
                out["account"] = out[alias]
                break
    return out


def group_key(
    group_by: str,
    *,
    subject: Mapping[str, Any],
    stream_id: int | None = None,
    alert_id: int | None = None,
    sha256: str | None = None,
) -> str:
    if group_by not in GROUPINGS:
        raise ValidationError(f"unknown case grouping {group_by!r} (known: {', '.join(GROUPINGS)})")
    account = subject.get("account")
    if group_by == "account" and account:
        raw = f"account:{subject.get('platform', '-')}:{account}"
        if len(raw) > 255:  # keep the key indexable; the subject keeps the full name
            raw = "account:sha256:" + hashlib.sha256(raw.encode()).hexdigest()
        return raw
    if group_by in ("account", "stream") and stream_id is not None:
        return f"stream:{stream_id}"
    if stream_id is not None and alert_id is not None:
        return f"alert:{alert_id}"
    if sha256:
        return f"upload:{sha256}"
    raise ValidationError("a signal needs a stream, an alert or a file to be filed in a case")


def investigation_key(name: str) -> str:
    return f"investigation:{name}"


def investigation_name(raw: str) -> str:
    """An investigation case's name, as given (stripped): 1-200 printable characters."""
    name = raw.strip()
    if not name or len(name) > 200 or any(c in name for c in "\x00\r\n"):
        raise ValidationError("a case name is 1-200 printable characters")
    return name


def title(kind: str, subject: Mapping[str, Any], stream: Stream | None, name: str | None) -> str:
    """A new case's title: the stream or upload (and the account), or the investigation."""
    if kind == "investigation":
        return (name or "")[:255]
    if kind == "context":
        return f"Context: account {name or subject.get('account') or '-'}"[:255]
    who = subject.get("account")
    if kind == "live" and stream is not None:
        label = f"Stream {stream.external_id or stream.id}"
    else:
        label = f"Upload {name}" if name and name != "-" else "Upload"
    return (f"{label} ({who})" if who else label)[:255]


def record_event(
    session: Session,
    case: Case,
    kind: str,
    summary: str,
    *,
    actor: str = SYSTEM,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Append a line to the case's timeline (caller's transaction)."""
    session.add(
        CaseEvent(
            case_id=case.id, kind=kind, actor=actor, summary=summary, details=dict(details or {})
        )
    )


def file_case(
    session: Session,
    *,
    key: str,
    kind: str,
    subject: Mapping[str, Any],
    stream: Stream | None,
    name: str | None,
    ip_at: datetime | None = None,
) -> tuple[Case, bool]:
    """The case for ``key``, created (flushed) if new; locked for update where supported.

    ``ip_at`` is when the platform gave the subject's IP address (with the upload, or with
    the stream's registration): kept as ``ip_at`` whenever the IP is new or changed."""
    case = session.scalars(select(Case).where(Case.key == key).with_for_update()).one_or_none()
    if subject.get("ip") and ip_at is not None:
        old = (case.subject or {}) if case is not None else {}
        if old.get("ip") != subject["ip"] or not old.get("ip_at"):
            subject = {**subject, "ip_at": iso(ip_at)}
    if case is not None:
        merged = {**(case.subject or {}), **subject}
        if merged != case.subject:
            case.subject = merged
        return case, False
    case = Case(
        key=key,
        kind=kind,
        title=title(kind, subject, stream, name),
        subject=dict(subject),
        stream_id=stream.id if stream is not None else None,
    )
    try:
        with session.begin_nested():
            session.add(case)
    except IntegrityError:  # another worker filed the first signal of this case at the same time
        found = session.scalars(select(Case).where(Case.key == key)).one_or_none()
        if found is None:
            raise
        return found, False
    return case, True


def reopen(session: Session, case: Case, why: str) -> None:
    """A decided case that receives a new signal is open again (its decisions stay)."""
    if case.status in DECIDED_STATES:
        before = case.status
        case.status = "open"
        case.pending_by = case.pending_category = None
        record_event(session, case, "note", f"reopened: {why} after the case was {before}")
