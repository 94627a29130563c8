"""Cases: every match and alert lands in one, grouped by what a reviewer decides on together.

Grouping (setting ``review_group_by``):

- ``account``: one case per platform account / uploader (the stream's or upload's
  ``account``, ``uploader`` or ``user`` metadata); without one, as ``stream``.
- ``stream``: one case per live stream; an upload without a stream is its own case.
- ``evidence``: one case per alert (live) or uploaded file.

Intake runs in the transaction that records the signal (the alert, the upload's match), so a
signal is never without its case. A decided case that receives a new signal is reopened; its
earlier decisions stay in its history.

`case_document` gives the whole case as plain JSON (the input of every report builder).
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from vangnet.banks import service as banks
from vangnet.config import Settings
from vangnet.errors import NotFoundError, ValidationError
from vangnet.investigate.records import triage_items, triage_runs
from vangnet.match.results import Match
from vangnet.net import display_url
from vangnet.review.outcomes import verdict
from vangnet.review.priority import BankFacts, MatchFacts, Priority, PriorityWeights, priority
from vangnet.signals.hashes import Hashes
from vangnet.signals.registry import signal_types
from vangnet.store.models import (
    Alert,
    AlertFrame,
    AuditEntry,
    Bank,
    BankContent,
    Case,
    CaseEvent,
    CaseMatch,
    CustodyEvent,
    Decision,
    EvidenceItem,
    EvidenceSignal,
    Report,
    Stream,
    utcnow,
)
from vangnet.store.vault import Vault, VaultEntry

SYSTEM = f"vangnet@{socket.gethostname()}"
OPEN_STATES = ("open", "escalated", "second_opinion", "pending_confirmation")
DECIDED_STATES = ("confirmed", "false_positive")
GROUPINGS = ("account", "stream", "evidence")
RUNNING = ("connecting", "live", "stalled", "reconnecting")
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


def _title(kind: str, subject: Mapping[str, Any], stream: Stream | None, name: str | None) -> str:
    who = subject.get("account")
    if kind == "live" and stream is not None:
        label = f"Stream {stream.external_id or stream.id}"
    else:
        label = f"Upload {name}" if name and name != "-" else "Upload"
    return (f"{label} ({who})" if who else label)[:255]


def _event(
    session: Session,
    case: Case,
    kind: str,
    summary: str,
    *,
    actor: str = SYSTEM,
    details: Mapping[str, Any] | None = None,
) -> None:
    session.add(
        CaseEvent(
            case_id=case.id, kind=kind, actor=actor, summary=summary, details=dict(details or {})
        )
    )


def _file(
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
        title=_title(kind, subject, stream, name),
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


def _reopen(session: Session, case: Case, why: str) -> None:
    if case.status in DECIDED_STATES:
        before = case.status
        case.status = "open"
        case.pending_by = case.pending_category = None
        _event(session, case, "note", f"reopened: {why} after the case was {before}")


def intake_alert(
    session: Session,
    alert: Alert,
    *,
    created: bool,
    times: Sequence[float],
    scores: Mapping[str, float] | None = None,
    settings: Settings,
) -> Case:
    """File an alert (new or extended by ``times``) in its case; caller's transaction.
    Classifier ``scores`` are kept on the case (the highest seen per classifier).

    The matched frames of one banked item are kept as time ranges (`add_to_ranges`): a
    looping or long stream extends a range instead of adding a row and a timeline line per
    frame; every frame stays in the alert (and its evidence in the vault)."""
    stream = session.get(Stream, alert.stream_id) if alert.stream_id is not None else None
    subject = clean_subject(stream.stream_metadata if stream is not None else {})
    if alert.case_id is not None:
        case = session.get_one(Case, alert.case_id)
    else:
        key = group_key(
            settings.review_group_by,
            subject=subject,
            stream_id=alert.stream_id,
            alert_id=alert.id,
        )
        case, _new = _file(
            session,
            key=key,
            kind="live",
            subject=subject,
            stream=stream,
            name=None,
            ip_at=stream.created_at if stream is not None else None,  # metadata came with it
        )
        alert.case_id = case.id
    frames = {
        f.stream_time: f
        for f in session.scalars(
            select(AlertFrame).where(
                AlertFrame.alert_id == alert.id, AlertFrame.stream_time.in_(list(times))
            )
        )
    }
    opened = add_to_ranges(
        session,
        case,
        alert,
        [(t, frames.get(t)) for t in times],
        gap=settings.review_live_range_gap_seconds,
        max_ranges=settings.review_live_max_ranges,
    )
    if created:
        _reopen(session, case, f"alert {alert.id}")
        _event(
            session,
            case,
            "alert",
            f"alert {alert.id}: stream {alert.stream_id} shows banked item {alert.bank}/"
            f"{alert.bank_content_id} ({alert.category or 'uncategorised'}) from "
            f"{alert.first_stream_time:.1f} s, best distance {alert.best_distance}",
            details={"alert_id": alert.id, "rule": alert.rule},
        )
    for start in opened if not created else opened[1:]:  # one timeline entry per range
        _event(
            session,
            case,
            "match",
            f"alert {alert.id}: banked item {alert.bank}/{alert.bank_content_id} seen again "
            f"from {start:.1f} s (a new time range)",
            details={"alert_id": alert.id, "stream_time": round(start, 3)},
        )
    if scores:
        subject = dict(case.subject or {})
        kept = dict(subject.get("scores") or {})
        for name, value in scores.items():
            if isinstance(value, int | float):
                kept[str(name)[:64]] = max(float(value), float(kept.get(name, 0.0)))
        subject["scores"] = kept
        case.subject = subject
    case.last_signal_at = utcnow()
    session.flush()
    return case


def _span(row: CaseMatch, default: float) -> tuple[float, float]:
    """A range's first and last stream time (``default`` for a row without one)."""
    start = row.stream_time if row.stream_time is not None else default
    return start, row.stream_time_end if row.stream_time_end is not None else start


def add_to_ranges(
    session: Session,
    case: Case,
    alert: Alert,
    frames: Sequence[tuple[float, AlertFrame | None]],
    *,
    gap: float,
    max_ranges: int,
) -> list[float]:
    """Add matched frames (stream time, its alert frame) of ``alert`` to the case's time
    ranges: a frame within ``gap`` seconds of a range extends it; otherwise it opens a new
    range, or extends the nearest once the alert has ``max_ranges``. Returns the start times
    of the ranges opened (a new alert's first range included)."""
    ranges = list(
        session.scalars(
            select(CaseMatch)
            .where(CaseMatch.case_id == case.id, CaseMatch.alert_id == alert.id)
            .order_by(CaseMatch.stream_time)
        )
    )
    opened: list[float] = []
    snapshot: dict[str, Any] | None = None
    for t, frame in sorted(frames, key=lambda pair: pair[0]):
        distance = frame.distance if frame is not None else alert.best_distance
        at = frame.captured_at if frame is not None else utcnow()

        near = [r for r in ranges if _span(r, t)[0] - gap <= t <= _span(r, t)[1] + gap]
        if not near and len(ranges) >= max_ranges:
            near = [min(ranges, key=lambda r: min(abs(t - v) for v in _span(r, t)))]
        if near:
            row = near[0]
            start, end = _span(row, t)
            row.stream_time, row.stream_time_end = min(start, t), max(end, t)
            row.frames = (row.frames or 1) + 1
            row.distance = min(row.distance, distance)
            continue
        if snapshot is None:
            snapshot = banked_snapshot(session, alert.bank_content_id)
        row = CaseMatch(
            banked=snapshot,
            case_id=case.id,
            alert_id=alert.id,
            bank=alert.bank,
            content_id=alert.bank_content_id,
            signal_type=alert.signal_type,
            distance=distance,
            category=alert.category,
            stream_time=t,
            stream_time_end=t,
            frames=1,
            at=at,
        )
        session.add(row)
        ranges.append(row)
        opened.append(t)
    return opened


def representative(
    session: Session, alert_id: int, stream_times: Sequence[float], *, gap: float, per_range: int
) -> set[float]:
    """Which of these newly preserved matched frames of ``alert_id`` are shown in its case:
    the first ``per_range`` of each time range (the rest stay in the alert and the vault)."""
    ranges = [
        (r.stream_time, r.stream_time_end if r.stream_time_end is not None else r.stream_time)
        for r in session.scalars(select(CaseMatch).where(CaseMatch.alert_id == alert_id))
        if r.stream_time is not None
    ]
    shown = [
        t
        for t in session.scalars(
            select(EvidenceItem.stream_time).where(
                EvidenceItem.alert_id == alert_id,
                EvidenceItem.case_id.is_not(None),
                EvidenceItem.matched.is_(True),
            )
        )
        if t is not None
    ]

    def which(t: float) -> int | None:
        for index, (start, end) in enumerate(ranges):
            if start - gap <= t <= end + gap:
                return index
        return None

    counts: dict[int | None, int] = {}
    for t in shown:
        key = which(t)
        counts[key] = counts.get(key, 0) + 1
    keep = set()
    for t in sorted(stream_times):
        key = which(t)
        if counts.get(key, 0) < per_range:
            counts[key] = counts.get(key, 0) + 1
            keep.add(t)
    return keep


def intake_upload(
    session: Session,
    *,
    entry: VaultEntry,
    media_type: str,
    filename: str | None,
    hashes: Hashes | Mapping[str, str],
    matches: Iterable[Match],
    subject: Mapping[str, Any] | None,
    actor: str,
    group_by: str,
) -> Case:
    """File an upload that matched: its bytes are already sealed in the vault (``entry``);
    here its evidence row, custody, the case and its matches are written (no commit).
    ``hashes``: the upload's `Hashes`, or its signal values by type (as banks store them)."""
    signals = hashes.signal_values() if isinstance(hashes, Hashes) else dict(hashes)
    facts = clean_subject(subject)
    found = list(matches)
    key = group_key(group_by, subject=facts, sha256=entry.sha256)
    received = utcnow()
    case, _new = _file(
        session, key=key, kind="upload", subject=facts, stream=None, name=filename, ip_at=received
    )
    item = EvidenceItem(
        case_id=case.id,
        kind="upload",
        media_type=media_type,
        filename=(filename or "upload")[:255],
        captured_at=received,
        sha256=entry.sha256,
        md5=signals.get("md5") or None,
        sha1=signals.get("sha1") or None,
        pdq=signals.get("pdq") or None,
        size=entry.size,
        vault_name=entry.name,
        matched=True,
        details={"subject": facts},
    )
    session.add(item)
    session.flush()
    add_item_signals(session, item, signals)
    session.add(
        CustodyEvent(
            evidence_id=item.id,
            actor=actor,
            action="captured",
            detail=f"upload {filename or '-'} matched {len(found)} banked items",
        )
    )
    for m in found:
        session.add(
            CaseMatch(
                banked=banked_snapshot(session, m.content_id),
                case_id=case.id,
                evidence_id=item.id,
                bank=m.bank,
                content_id=m.content_id,
                signal_type=m.signal_type,
                distance=m.distance,
                category=m.category,
            )
        )
    _reopen(session, case, f"upload {filename or item.id}")
    best = min(found, key=lambda m: m.distance) if found else None
    _event(
        session,
        case,
        "match",
        f"upload {filename or '-'} matched {len(found)} banked items"
        + (
            f"; best {best.bank}/{best.content_id} {best.signal_type} d={best.distance}"
            if best
            else ""
        ),
        actor=actor,
        details={"evidence_id": item.id},
    )
    case.last_signal_at = utcnow()
    session.flush()
    return case


def seal_upload(vault: Vault, data: bytes, sha256: str) -> VaultEntry:
    """Encrypt an upload into the vault (before the database transaction that files it)."""
    return vault.put(data, context=f"evidence:upload:{sha256}")


# -- reading -------------------------------------------------------------------------------


def _bank_facts(session: Session) -> dict[str, BankFacts]:
    return {
        b.name: BankFacts(b.high_confidence, b.thresholds or {})
        for b in session.scalars(select(Bank))
    }


def _priority(
    case: Case,
    matches: Sequence[CaseMatch],
    bank_facts: Mapping[str, BankFacts],
    stream: Stream | None,
    weights: PriorityWeights,
) -> Priority:
    live = stream is not None and stream.desired == "run" and stream.state in RUNNING
    viewers = (case.subject or {}).get("viewers")
    if stream is not None:
        viewers = clean_subject(stream.stream_metadata).get("viewers", viewers)
    raw_scores = (case.subject or {}).get("scores")
    scores = raw_scores if isinstance(raw_scores, dict) else None
    return priority(
        matches=[MatchFacts(m.bank, m.signal_type, m.distance, m.category) for m in matches],
        banks=bank_facts,
        live=live,
        viewers=viewers if isinstance(viewers, int) else None,
        scores=scores,
        escalated=case.status == "escalated",
        weights=weights,
    )


def case_summary(
    case: Case,
    matches: Sequence[CaseMatch],
    bank_facts: Mapping[str, BankFacts],
    stream: Stream | None,
    items: int,
    weights: PriorityWeights,
) -> dict[str, Any]:
    prio = _priority(case, matches, bank_facts, stream, weights)
    categories = sorted({m.category for m in matches if m.category})
    return {
        "id": case.id,
        "key": case.key,
        "kind": case.kind,
        "title": case.title,
        "status": case.status,
        "category": case.category,
        "verdict": _verdict(case),
        "matched_categories": categories,
        "matches": len(matches),
        "items": items,
        "live": stream is not None and stream.desired == "run" and stream.state in RUNNING,
        "priority": prio.to_dict(),
        "pending_by": case.pending_by,
        "created_at": iso(case.created_at),
        "last_signal_at": iso(case.last_signal_at),
        "decided_at": iso(case.decided_at),
    }


def _verdict(case: Case) -> str | None:
    found = verdict(case.status, case.category)
    return found.value if found else None


def list_cases(
    session: Session,
    *,
    status: str | Sequence[str] | None = "open",
    limit: int = 200,
    investigations: bool = False,
    weights: PriorityWeights,
) -> list[dict[str, Any]]:
    """Cases in queue order: highest priority (scored with ``weights``) first, then the
    longest waiting.

    ``status``: one status, several, ``"open"`` (every undecided state) or None (all).
    Investigation cases (worked in the investigation workbench) only with ``investigations``.
    """
    stmt = select(Case)
    if not investigations:
        stmt = stmt.where(Case.kind != "investigation")
    if status == "open":
        stmt = stmt.where(Case.status.in_(OPEN_STATES))
    elif isinstance(status, str):
        stmt = stmt.where(Case.status == status)
    elif status is not None:
        stmt = stmt.where(Case.status.in_(list(status)))
    cases = list(session.scalars(stmt.order_by(Case.last_signal_at.desc()).limit(5000)))
    if not cases:
        return []
    ids = [c.id for c in cases]
    by_case: dict[int, list[CaseMatch]] = {}
    for chunk in range(0, len(ids), 1000):
        for m in session.scalars(
            select(CaseMatch).where(CaseMatch.case_id.in_(ids[chunk : chunk + 1000]))
        ):
            by_case.setdefault(m.case_id, []).append(m)
    items = dict(
        session.execute(
            select(EvidenceItem.case_id, func.count())
            .where(EvidenceItem.case_id.in_(ids[:1000]))
            .group_by(EvidenceItem.case_id)
        ).all()
    )
    stream_ids = {c.stream_id for c in cases if c.stream_id is not None}
    streams = {s.id: s for s in session.scalars(select(Stream).where(Stream.id.in_(stream_ids)))}
    facts = _bank_facts(session)
    out = [
        case_summary(
            c,
            by_case.get(c.id, []),
            facts,
            streams.get(c.stream_id) if c.stream_id is not None else None,
            int(items.get(c.id, 0)),
            weights,
        )
        for c in cases
    ]
    out.sort(key=lambda s: (-s["priority"]["score"], s["last_signal_at"] or ""))
    return out[: max(1, limit)]


def queue_counts(session: Session) -> dict[str, int]:
    """Review cases per status (investigation cases are not in the review queue)."""
    rows = session.execute(
        select(Case.status, func.count()).where(Case.kind != "investigation").group_by(Case.status)
    ).all()
    return {str(status): int(n) for status, n in rows}


def get_case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFoundError(f"no case {case_id}")
    return case


def resolve_case(session: Session, ref: str | int) -> Case:
    """A case by id or by its key (``stream:3``, ``account:platform:name``)."""
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        return get_case(session, int(ref))
    case = session.scalars(select(Case).where(Case.key == ref)).one_or_none()
    if case is None:  # an investigation case by its name
        case = session.scalars(select(Case).where(Case.key == f"investigation:{ref}")).one_or_none()
    if case is None:
        raise NotFoundError(f"no case {ref!r}")
    return case


def banked_snapshot(session: Session, content_id: int) -> dict[str, Any]:
    """The banked item's details as they are now (bank, category, note, series, source,
    provenance), kept with a case match so the case still shows them when the bank changes
    or is deleted; ``{}`` if the item is gone already."""
    row = session.get(BankContent, content_id)
    if row is None:
        return {}
    bank = session.get(Bank, row.bank_id)
    return {
        "bank": bank.name if bank is not None else None,
        "content_id": row.id,
        "category": f"{row.category_profile}:{row.category_code}" if row.category_code else None,
        "note": row.note,
        "series": row.series,
        "source": row.source,
        "external_id": row.external_id,
        "banked_at": iso(row.created_at),
    }


def _with_snapshot(match: CaseMatch, current: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """What a case shows of a match's banked item: the snapshot taken when it matched, with
    whether the item is still in its bank (and enabled) now."""
    now = current.get(match.content_id)
    if not match.banked:  # matched before snapshots were kept: only what is there now
        return now or {}
    shown = dict(match.banked)
    shown["enabled"] = now["enabled"] if now is not None else None
    shown["in_bank"] = now is not None
    return shown


def _banked(session: Session, content_ids: set[int]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    ids = list(content_ids)
    for start in range(0, len(ids), 1000):
        for row in session.scalars(
            select(BankContent).where(BankContent.id.in_(ids[start : start + 1000]))
        ):
            out[row.id] = {
                "note": row.note,
                "series": row.series,
                "source": row.source,
                "external_id": row.external_id,
                "category": f"{row.category_profile}:{row.category_code}"
                if row.category_code
                else None,
                "enabled": row.enabled,
            }
    return out


#: signal types an evidence item keeps in columns of its own; every other one is a row
ITEM_COLUMNS = ("md5", "sha1", "sha256", "pdq")


def add_item_signals(session: Session, item: EvidenceItem, signals: Mapping[str, str]) -> None:
    """Store the item's values (``signals``: by signal type, as `Hashes.signal_values` gives
    them) of every registered signal type that has no column of its own (plug-ins included)
    as `EvidenceSignal` rows."""
    installed = signal_types()
    for name, value in signals.items():
        if name in installed and name not in ITEM_COLUMNS:
            session.add(EvidenceSignal(evidence_id=item.id, signal_type=name, value=value))


def item_signals(item: EvidenceItem) -> dict[str, str]:
    """Every hash of an item by signal type: its columns, then its typed rows."""
    columns = {"md5": item.md5, "sha1": item.sha1, "sha256": item.sha256, "pdq": item.pdq}
    out = {n: v for n, v in columns.items() if v}
    session = object_session(item)
    if session is not None and item.id is not None:
        rows = session.execute(
            select(EvidenceSignal.signal_type, EvidenceSignal.value)
            .where(EvidenceSignal.evidence_id == item.id)
            .order_by(EvidenceSignal.signal_type)
        )
        out.update({str(name): str(value) for name, value in rows})
    return out


def item_dict(item: EvidenceItem, viewed_by: Sequence[str] = ()) -> dict[str, Any]:
    """An item as plain JSON. ``viewed_by``: who saw it in the clear (recorded reveals)."""
    facts = (item.details or {}).get("subject") if item.kind == "upload" else None
    return {
        "id": item.id,
        "kind": item.kind,
        "media_type": item.media_type,
        "filename": item.filename,
        "size": item.size,
        "sha256": item.sha256,
        "md5": item.md5,
        "sha1": item.sha1,
        "pdq": item.pdq,
        "signals": item_signals(item),
        "captured_at": iso(item.captured_at),
        "stream_time": round(item.stream_time, 3) if item.stream_time is not None else None,
        "matched": item.matched,
        "alert_id": item.alert_id,
        "ip": facts.get("ip") if isinstance(facts, dict) else None,
        "viewed_by": list(viewed_by),
    }


def viewed_in_clear(session: Session, item_ids: Sequence[int]) -> dict[int, list[str]]:
    """Who saw each item in the clear, from the audit log: a reveal (``media.reveal`` of
    ``item:N``) or a case report with clear previews that read it."""
    out: dict[int, set[str]] = {}
    wanted = set(item_ids)
    if not wanted:
        return {}
    targets = [f"item:{i}" for i in wanted]
    for start in range(0, len(targets), 1000):
        for actor, target in session.execute(
            select(AuditEntry.actor, AuditEntry.target).where(
                AuditEntry.action == "media.reveal",
                AuditEntry.target.in_(targets[start : start + 1000]),
            )
        ):
            out.setdefault(int(str(target).removeprefix("item:")), set()).add(actor)
    case_ids = set(
        session.scalars(select(EvidenceItem.case_id).where(EvidenceItem.id.in_(list(wanted))))
    )
    for actor, details in session.execute(
        select(AuditEntry.actor, AuditEntry.details).where(
            AuditEntry.action.in_(("report.html", "report.pdf")),
            AuditEntry.target.in_([f"case:{c}" for c in case_ids if c is not None]),
        )
    ):
        if isinstance(details, dict) and details.get("include_clear") is True:
            for item_id in details.get("items") or []:
                if item_id in wanted:
                    out.setdefault(int(item_id), set()).add(actor)
    return {item_id: sorted(actors) for item_id, actors in out.items()}


def case_items(session: Session, case_id: int) -> list[EvidenceItem]:
    return list(
        session.scalars(
            select(EvidenceItem)
            .where(EvidenceItem.case_id == case_id)
            .order_by(EvidenceItem.captured_at, EvidenceItem.id)
        )
    )


def case_document(session: Session, case_id: int, *, weights: PriorityWeights) -> dict[str, Any]:
    """The whole case as plain JSON: subject, priority (scored with ``weights``), items,
    matches with the banked items' metadata, timeline, decisions, chain of custody, reports."""
    case = get_case(session, case_id)
    matches = list(
        session.scalars(
            select(CaseMatch).where(CaseMatch.case_id == case.id).order_by(CaseMatch.at)
        )
    )
    items = case_items(session, case.id)
    viewed = viewed_in_clear(session, [i.id for i in items])
    stream = session.get(Stream, case.stream_id) if case.stream_id is not None else None
    subject = dict(case.subject or {})
    if stream is not None:
        subject.update(
            {
                "stream_id": stream.id,
                "stream_external_id": stream.external_id,
                "stream_url_display": display_url(stream.url) if stream.url else None,
                "stream_state": stream.state,
                "live": stream.desired == "run" and stream.state in RUNNING,
            }
        )
    summary = case_summary(case, matches, _bank_facts(session), stream, len(items), weights)
    item_by_frame: dict[tuple[int | None, float | None], int] = {
        (i.alert_id, i.stream_time): i.id for i in items if i.alert_id is not None
    }
    banked = _banked(session, {m.content_id for m in matches})
    custody = []
    if items:
        for c in session.scalars(
            select(CustodyEvent)
            .where(CustodyEvent.evidence_id.in_([i.id for i in items]))
            .order_by(CustodyEvent.at, CustodyEvent.id)
        ):
            custody.append(
                {
                    "item_id": c.evidence_id,
                    "at": iso(c.at),
                    "actor": c.actor,
                    "action": c.action,
                    "detail": c.detail,
                }
            )
    extra: dict[str, Any] = {}
    if case.kind == "investigation":
        extra = {
            "triage_runs": triage_runs(session, case.id),
            "triage_items": triage_items(session, case.id),
        }
    return {
        **extra,
        **{k: summary[k] for k in ("id", "key", "kind", "title", "status", "category", "verdict")},
        "priority": summary["priority"],
        "live": summary["live"],
        "pending_by": case.pending_by,
        "pending_category": case.pending_category,
        "subject": subject,
        "created_at": iso(case.created_at),
        "updated_at": iso(case.updated_at),
        "decided_at": iso(case.decided_at),
        "items": [item_dict(i, viewed.get(i.id, ())) for i in items],
        "matches": [
            {
                "id": m.id,
                "item_id": m.evidence_id
                if m.evidence_id is not None
                else item_by_frame.get((m.alert_id, m.stream_time)),
                "alert_id": m.alert_id,
                "bank": m.bank,
                "content_id": m.content_id,
                "signal_type": m.signal_type,
                "distance": m.distance,
                "category": m.category,
                "stream_time": round(m.stream_time, 3) if m.stream_time is not None else None,
                "stream_time_end": round(m.stream_time_end, 3)
                if m.stream_time_end is not None
                else None,
                "frames": m.frames,
                "at": iso(m.at),
                "banked": _with_snapshot(m, banked),
            }
            for m in matches
        ],
        "timeline": [
            {
                "at": iso(e.at),
                "kind": e.kind,
                "actor": e.actor,
                "summary": e.summary,
                "details": e.details or {},
            }
            for e in session.scalars(
                select(CaseEvent)
                .where(CaseEvent.case_id == case.id)
                .order_by(CaseEvent.at, CaseEvent.id)
            )
        ],
        "decisions": [
            {
                "id": d.id,
                "at": iso(d.at),
                "actor": d.actor,
                "decision": d.decision,
                "category": d.category,
                "note": d.note,
                "details": d.details or {},
            }
            for d in session.scalars(
                select(Decision).where(Decision.case_id == case.id).order_by(Decision.id)
            )
        ],
        "custody": custody,
        "reports": [
            {
                "id": r.id,
                "kind": r.kind,
                "status": r.status,
                "remote_id": r.remote_id,
                "at": iso(r.at),
                "actor": r.actor,
                "details": r.details or {},
            }
            for r in session.scalars(
                select(Report).where(Report.case_id == case.id).order_by(Report.id)
            )
        ],
    }


def case_profiles(session: Session, case_id: int) -> list[str]:
    """The category profiles of the banks a case matched (what a confirmation may use)."""
    names = set(session.scalars(select(CaseMatch.bank).where(CaseMatch.case_id == case_id)))
    profiles = []
    for name in sorted(names):
        try:
            profile = banks.get_bank(session, name).category_profile
        except NotFoundError:
            continue
        if profile not in profiles:
            profiles.append(profile)
    return profiles
