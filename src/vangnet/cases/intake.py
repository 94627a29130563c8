"""One intake for every source: a typed `Intake` request, filed into a case by `file_intake`.

A source says what it saw (`Source`), about whom (``subject``: the platform's facts), with
which evidence (``items``, already sealed in the vault), which banked items it matched
(``matches``), which classifier ``scores`` it had, and the settings that decide grouping
(`Grouping`). `file_intake` finds the case by the grouping rule (`vangnet.cases.filing`) or
creates it, records the evidence items and their chain of custody (`vangnet.evidence`), the
case's matches (a live alert's as time ranges: `vangnet.cases.ranges`), its timeline, and
the highest score seen per classifier.

Intake runs in the transaction that records the signal (the alert, the upload's match): the
caller owns it, so a signal is never without its case. A decided case that receives a new
signal is reopened; its earlier decisions stay in its history.

Sources today: ``upload`` (the `/v1` upload API), ``live_alert`` (an alert of the live
monitor, new or extended), ``review_now`` (a live review-now alert: the classifiers' rule,
new or extended), ``triage`` (the investigation case a triage run fills) and
``classifier`` (an upload that matched nothing but whose priority signal is "likely": filed
as an upload is, with its scores and no match, so a person looks; never a verdict).
``context`` (an account whose payments, chats or call sessions crossed the context threshold:
`vangnet.context.filing`) files a `ContextSignal`: its case is the platform account's (shared
with that account's media and live cases) when grouping by account and the account's record
names its platform, else the account's own ``context:<ref>`` case; the case keeps the records
behind each reason (``case_context_rows``), a timeline line per new reason, and the risk (its
queue priority: ``review_priority_context``). Never a verdict.

Every intake with ``scores`` keeps the highest per classifier on the case and the case's
priority signal (``priority_signal``, ``signal_likely``: those scores fused by the
intake's ``fusion``), which the queue sorts and filters by.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vangnet.cases.context_signal import ContextReason, ContextSignal, context_key
from vangnet.cases.filing import (
    GROUPINGS,
    SYSTEM,
    GroupBy,
    clean_subject,
    file_case,
    group_key,
    investigation_key,
    investigation_name,
    record_event,
    reopen,
)
from vangnet.cases.found import describe, provenance
from vangnet.cases.ranges import add_to_ranges, banked_snapshot
from vangnet.config import Settings
from vangnet.errors import ValidationError
from vangnet.evidence.sealing import record_upload
from vangnet.match.results import Match
from vangnet.signals.classifiers.fusion import Fused, Fusion
from vangnet.store.models import (
    Alert,
    AlertFrame,
    Case,
    CaseContextRow,
    CaseMatch,
    EvidenceItem,
    Stream,
    utcnow,
)
from vangnet.store.vault import VaultEntry


class Source(StrEnum):
    """Where a signal comes from."""

    UPLOAD = "upload"
    LIVE_ALERT = "live_alert"
    TRIAGE = "triage"
    CLASSIFIER = "classifier"  # an unmatched upload whose priority signal is "likely"
    CONTEXT = "context"  # an account's payment, chat and call indicators (a ContextSignal)
    REVIEW_NOW = "review_now"  # a live review-now alert (classifier scores), new or extended


def _default(name: str) -> Any:
    return Settings.model_fields[name].default


@dataclass(frozen=True)
class Grouping:
    """The settings that decide which case a signal lands in, and how a live alert's
    matched frames are grouped into time ranges there."""

    group_by: GroupBy = field(default_factory=lambda: _default("review_group_by"))
    range_gap_seconds: float = field(
        default_factory=lambda: _default("review_live_range_gap_seconds")
    )
    max_ranges: int = field(default_factory=lambda: _default("review_live_max_ranges"))

    def __post_init__(self) -> None:
        if self.group_by not in GROUPINGS:
            known = ", ".join(GROUPINGS)
            raise ValidationError(f"unknown case grouping {self.group_by!r} (known: {known})")

    @classmethod
    def from_settings(cls, settings: Settings) -> Grouping:
        return cls(
            group_by=settings.review_group_by,
            range_gap_seconds=settings.review_live_range_gap_seconds,
            max_ranges=settings.review_live_max_ranges,
        )


@dataclass(frozen=True)
class SealedItem:
    """A piece of media already sealed in the vault (``entry``), with its values of every
    signal type (``md5``, ``sha1``, ``pdq``, plug-ins), as banks store them
    (`Hashes.signal_values`)."""

    entry: VaultEntry
    media_type: str
    filename: str | None
    hashes: Mapping[str, str]


@dataclass(frozen=True)
class AlertSignal:
    """A live alert, new (``created``) or extended by the matched frames at ``times``;
    ``matches``: each frame's match by its stream time (how it was found: `provenance`)."""

    alert: Alert
    created: bool
    times: Sequence[float] = ()
    matches: Mapping[float, Match] = field(default_factory=dict)


@dataclass(frozen=True)
class Intake:
    """What a source hands to a case: one request type for every source.

    ``upload``: one item in ``items`` and its ``matches``. ``live_alert``: ``alert`` (its
    banked item and frames are on the alert; how each frame's match was found from the
    alert signal's ``matches`` by stream time, or from ``matches``, one per added frame in
    the order of its ``times``) and, as ``subject``, the stream's metadata.
    ``triage``: ``name``, the investigation's. ``classifier``: one item in ``items``, no
    ``matches``, and its ``scores`` (with their ``summaries``), fused by ``fusion`` (the
    deployment's: `Fusion.from_settings`; None: every installed classifier at its default
    threshold). ``context``: the account's `ContextSignal`. ``actor`` is who or what filed
    it; ``subject`` is cleaned on filing (known keys, short scalars: `clean_subject`)."""

    source: Source
    grouping: Grouping = field(default_factory=Grouping)
    subject: Mapping[str, Any] = field(default_factory=dict)
    items: Sequence[SealedItem] = ()
    matches: Sequence[Match] = ()
    scores: Mapping[str, float] = field(default_factory=dict)
    summaries: Mapping[str, str] = field(default_factory=dict)
    fusion: Fusion | None = None
    alert: AlertSignal | None = None
    context: ContextSignal | None = None
    name: str | None = None
    actor: str = SYSTEM
    received_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class Filed:
    """Where an intake landed: its case (``created`` if new), the evidence rows written, and
    for a context intake how many of its reasons were new to the case."""

    case: Case
    created: bool
    items: tuple[EvidenceItem, ...] = ()
    new_reasons: int = 0


def file_intake(session: Session, intake: Intake) -> Filed:
    """File ``intake`` into its case, new or existing by the grouping rule (caller's
    transaction; flushed, not committed)."""
    if intake.source is Source.UPLOAD:
        return _upload(session, intake)
    if intake.source is Source.LIVE_ALERT:
        return _live_alert(session, intake)
    if intake.source is Source.TRIAGE:
        return _triage(session, intake)
    if intake.source is Source.CLASSIFIER:
        return _classifier(session, intake)
    if intake.source is Source.REVIEW_NOW:
        return _review_now(session, intake)
    if intake.source is Source.CONTEXT:
        return _context(session, intake)
    raise ValidationError(f"no case intake for {intake.source.value} signals yet")


def _file_upload(session: Session, intake: Intake, detail: str) -> tuple[Case, bool, EvidenceItem]:
    """The case of an upload (by the intake's grouping) and its evidence row with its chain
    of custody (``detail``): what a matched upload and a likely-new one share."""
    upload = intake.items[0]
    facts = clean_subject(intake.subject)
    key = group_key(intake.grouping.group_by, subject=facts, sha256=upload.entry.sha256)
    case, created = file_case(
        session,
        key=key,
        kind="upload",
        subject=facts,
        stream=None,
        name=upload.filename,
        ip_at=intake.received_at,
    )
    item = record_upload(
        session,
        entry=upload.entry,
        case_id=case.id,
        media_type=upload.media_type,
        filename=upload.filename,
        hashes=upload.hashes,
        received_at=intake.received_at,
        details={"subject": facts},
        actor=intake.actor,
        detail=detail,
    )
    return case, created, item


def _upload(session: Session, intake: Intake) -> Filed:
    if len(intake.items) != 1:
        raise ValidationError("an upload is filed with exactly one evidence item")
    found = list(intake.matches)
    filename = intake.items[0].filename
    case, created, item = _file_upload(
        session, intake, f"upload {filename or '-'} matched {len(found)} banked items"
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
                found=provenance(m),
            )
        )
    reopen(session, case, f"upload {filename or item.id}")
    best = min(found, key=lambda m: m.distance) if found else None
    record_event(
        session,
        case,
        "match",
        f"upload {filename or '-'} matched {len(found)} banked items"
        + (
            f"; best {best.bank}/{best.content_id} {best.signal_type} d={best.distance}"
            + (f" ({describe(provenance(best))})" if provenance(best) else "")
            if best
            else ""
        ),
        actor=intake.actor,
        details={"evidence_id": item.id},
    )
    _keep_scores(case, intake)
    case.last_signal_at = utcnow()
    session.flush()
    return Filed(case, created, (item,))


def _classifier(session: Session, intake: Intake) -> Filed:
    """An upload no bank knows whose priority signal is "likely": its case (by the same
    grouping as a matched upload's), evidence row and custody as an upload's, a timeline
    line with the fused summary, and its scores. Refused unless the scores are likely by
    the intake's fusion: this source files what a person should look at, nothing else."""
    if len(intake.items) != 1:
        raise ValidationError("a classifier intake is filed with exactly one evidence item")
    if intake.matches:
        raise ValidationError("an upload that matched is filed as an upload, not a classifier")
    fused = _fused(intake.scores, intake)
    if not fused.likely:
        raise ValidationError("a classifier intake needs scores that are likely new material")
    filename = intake.items[0].filename
    case, created, item = _file_upload(
        session, intake, f"upload {filename or '-'} matched no banked item; likely new material"
    )
    reopen(session, case, f"upload {filename or item.id}")
    record_event(
        session,
        case,
        "classifier",
        f"upload {filename or '-'} matched no banked item; likely new material: {fused.summary}",
        actor=intake.actor,
        details={"evidence_id": item.id, "priority": fused.as_json()},
    )
    _keep_scores(case, intake)
    case.last_signal_at = utcnow()
    session.flush()
    return Filed(case, created, (item,))


def _live_alert(session: Session, intake: Intake) -> Filed:
    """The matched frames of one banked item are kept as time ranges (`add_to_ranges`): a
    looping or long stream extends a range instead of adding a row and a timeline line per
    frame; every frame stays in the alert (and its evidence in the vault)."""
    if intake.alert is None:
        raise ValidationError("a live intake needs its alert")
    alert, times = intake.alert.alert, intake.alert.times
    stream = session.get(Stream, alert.stream_id) if alert.stream_id is not None else None
    subject = clean_subject(intake.subject)
    created_case = False
    if alert.case_id is not None:
        case = session.get_one(Case, alert.case_id)
    else:
        key = group_key(
            intake.grouping.group_by,
            subject=subject,
            stream_id=alert.stream_id,
            alert_id=alert.id,
        )
        case, created_case = file_case(
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
        gap=intake.grouping.range_gap_seconds,
        max_ranges=intake.grouping.max_ranges,
        found={t: provenance(m) for t, m in _frame_matches(intake).items()},
    )
    if intake.alert.created:
        reopen(session, case, f"alert {alert.id}")
        record_event(
            session,
            case,
            "alert",
            f"alert {alert.id}: stream {alert.stream_id} shows banked item {alert.bank}/"
            f"{alert.bank_content_id} ({alert.category or 'uncategorised'}) from "
            f"{alert.first_stream_time:.1f} s, best distance {alert.best_distance}",
            details={"alert_id": alert.id, "rule": alert.rule},
        )
    for start in opened if not intake.alert.created else opened[1:]:  # one entry per range
        record_event(
            session,
            case,
            "match",
            f"alert {alert.id}: banked item {alert.bank}/{alert.bank_content_id} seen again "
            f"from {start:.1f} s (a new time range)",
            details={"alert_id": alert.id, "stream_time": round(start, 3)},
        )
    _keep_scores(case, intake)
    case.last_signal_at = utcnow()
    session.flush()
    return Filed(case, created_case)


def _review_now(session: Session, intake: Intake) -> Filed:
    """A live review-now alert (``alert``, of kind ``review_now``; ``times``: the stream
    times of the samples it gained) lands in the stream's case like a match alert, with no
    banked item: the case keeps the alert's best priority signal and its summary under
    ``subject["review_now"]`` (the queue gives it ``review_priority_review_now`` points, the
    summary as the reason) and the highest classifier scores. Never a verdict."""
    if intake.alert is None:
        raise ValidationError("a review-now intake needs its alert")
    alert, created = intake.alert.alert, intake.alert.created
    stream = session.get(Stream, alert.stream_id) if alert.stream_id is not None else None
    subject = clean_subject(intake.subject)
    created_case = False
    if alert.case_id is not None:
        case = session.get_one(Case, alert.case_id)
    else:
        key = group_key(
            intake.grouping.group_by, subject=subject, stream_id=alert.stream_id, alert_id=alert.id
        )
        case, created_case = file_case(
            session,
            key=key,
            kind="live",
            subject=subject,
            stream=stream,
            name=None,
            ip_at=stream.created_at if stream is not None else None,
        )
        alert.case_id = case.id
    details = dict(alert.details or {})
    kept = dict(case.subject or {})
    kept["review_now"] = {
        "alert_id": alert.id,
        "value": round(float(alert.best_value or 0.0), 4),
        "summary": (alert.summary or "")[:500],
        "video_call": round(float(details.get("video_call") or 0.0), 4),
        "video_call_likely": bool(details.get("video_call_likely")),
    }
    case.subject = kept
    if created:
        reopen(session, case, f"review-now alert {alert.id}")
        record_event(
            session,
            case,
            "review_now",
            f"review-now alert {alert.id}: stream {alert.stream_id} from "
            f"{alert.first_stream_time:.1f} s ({alert.rule}): {alert.summary or '-'}; "
            "classifier scores, not a match: look now",
            details={"alert_id": alert.id, "rule": alert.rule},
        )
    _keep_scores(case, intake)
    case.last_signal_at = utcnow()
    session.flush()
    return Filed(case, created_case)


def _context(session: Session, intake: Intake) -> Filed:
    """An account's context risk. Its case: under ``account`` grouping, when the account's
    record names its platform, the platform account's case (``account:<platform>:<ref>``,
    the one its uploads and streams are filed in: a case groups everything about one
    account); otherwise the account's own context case (``context:<ref>``). A reason is new
    when it brings a record (or, without records, an indicator) the case does not hold: each
    new reason adds its records and one timeline line and reopens a decided case; a re-scan
    that finds nothing new adds nothing. The latest risk (score, role, indicators) is kept
    under ``subject["context"]`` and gives the case its queue priority."""
    signal = intake.context
    if signal is None:
        raise ValidationError("a context intake needs its context signal")
    facts: dict[str, Any] = {"account": signal.account}
    if signal.platform:
        facts["platform"] = signal.platform
    subject = clean_subject(facts)
    if intake.grouping.group_by == "account" and signal.platform:
        key = group_key("account", subject=subject)
    else:
        key = context_key(signal.account)
    case, created = file_case(
        session, key=key, kind="context", subject=subject, stream=None, name=signal.account
    )
    held: set[tuple[str, str, str]] = {
        (kind, ref, indicator)
        for kind, ref, indicator in session.execute(
            select(CaseContextRow.kind, CaseContextRow.ref, CaseContextRow.indicator).where(
                CaseContextRow.case_id == case.id
            )
        )
    }
    before = dict((case.subject or {}).get("context") or {})
    known = set(before.get("indicators") or ()) | {i for _, _, i in held}
    fresh = [r for r in signal.reasons if _is_new(r, held, known)]
    for reason in fresh:
        for kind, ref in dict.fromkeys(reason.rows):
            if (kind.value, ref, reason.indicator) not in held:
                held.add((kind.value, ref, reason.indicator))
                session.add(
                    CaseContextRow(
                        case_id=case.id, kind=kind.value, ref=ref, indicator=reason.indicator
                    )
                )
        known.add(reason.indicator)
    if fresh:
        reopen(session, case, f"new context reasons for account {signal.account}")
    for reason in fresh:
        record_event(
            session,
            case,
            "context",
            f"{signal.account}: {reason.summary} [{reason.indicator}, weight "
            f"{reason.weight:.2f}; {len(reason.rows)} records]"[:2000],
            actor=intake.actor,
            details={**reason.as_json(), "account": signal.account, "score": signal.score},
        )
    subject_now = dict(case.subject or {})
    subject_now["context"] = {
        "account": signal.account,
        "platform": signal.platform,
        "score": round(max(signal.score, 0.0), 4),
        "role": signal.role,
        "indicators": sorted(known),
        "assessment": signal.assessment,
        "scored_at": intake.received_at.isoformat(),
        "reasons": [{k: v for k, v in r.as_json().items() if k != "rows"} for r in signal.reasons],
    }
    case.subject = subject_now
    if fresh:
        case.last_signal_at = utcnow()
    session.flush()
    return Filed(case, created, new_reasons=len(fresh))


def _is_new(reason: ContextReason, held: set[tuple[str, str, str]], known: set[str]) -> bool:
    if not reason.rows:
        return reason.indicator not in known
    return any((k.value, ref, reason.indicator) not in held for k, ref in reason.rows)


def _frame_matches(intake: Intake) -> dict[float, Match]:
    """Each added frame's match by its stream time: the alert signal's ``matches``, or else
    the intake's ``matches`` given one per added frame, in the order of ``times``."""
    assert intake.alert is not None
    if intake.alert.matches:
        return dict(intake.alert.matches)
    times = list(intake.alert.times)
    if len(intake.matches) == len(times):
        return dict(zip(times, intake.matches, strict=True))
    return {}


def _triage(session: Session, intake: Intake) -> Filed:
    """The investigation case a triage run fills, by its name (no signal yet: its items are
    triage rows, written by the run)."""
    name = investigation_name(intake.name or "")
    case, created = file_case(
        session,
        key=investigation_key(name),
        kind="investigation",
        subject={},
        stream=None,
        name=name,
    )
    session.flush()
    return Filed(case, created)


def _fused(scores: Mapping[str, float], intake: Intake) -> Fused:
    fusion = intake.fusion if intake.fusion is not None else Fusion.of()
    return fusion.fuse(scores, intake.summaries)


def _keep_scores(case: Case, intake: Intake) -> None:
    """Keep the highest score seen per classifier on the case, and the case's priority
    signal of them (``priority_signal``, ``signal_likely``): they order the queue."""
    if not intake.scores:
        return
    subject = dict(case.subject or {})
    kept = dict(subject.get("scores") or {})
    for name, value in intake.scores.items():
        if isinstance(value, int | float):
            kept[str(name)[:64]] = max(float(value), float(kept.get(name, 0.0)))
    subject["scores"] = kept
    case.subject = subject
    fused = _fused(kept, intake)
    case.priority_signal = round(fused.value, 4)
    case.signal_likely = fused.likely
