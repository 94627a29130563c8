"""Alerts: written durably before anything else happens, never duplicated.

`record` turns a `Decision` into an ``alerts`` row (one per stream and banked item; a later
decision on the same item extends it) plus its matched frames, and in the same transaction
queues the bank's webhooks in the outbox (`vangnet.actions.webhooks.enqueue`) and files the
alert in its case (`vangnet.cases.intake`). The caller commits; only then are actions
delivered and evidence preserved. A worker that restarts and sees the same item again finds
the existing row: no second alert, no second webhook.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vangnet.actions import webhooks
from vangnet.cases.intake import AlertSignal, Grouping, Intake, Source, file_intake
from vangnet.config import Settings
from vangnet.errors import NotFoundError
from vangnet.jsonlimits import shown
from vangnet.live.decision import Decision, found_keys
from vangnet.review.classifier_calibration import calibrated_thresholds
from vangnet.signals.classifiers.fusion import Fusion
from vangnet.store.models import Alert, AlertFrame, Stream, utcnow

#: ``alerts.kind`` of a match alert and of a review-now alert
MATCH = "match"
REVIEW_NOW = "review_now"
KINDS = (MATCH, REVIEW_NOW)


@dataclass(frozen=True)
class Recorded:
    alert_id: int
    created: bool
    new_frames: tuple[float, ...]  # stream times of frames added by this decision


def _stream_summary(stream: Stream | None) -> dict[str, Any]:
    if stream is None:
        return {}
    metadata = shown(stream.stream_metadata, what="stream metadata")
    return {"id": stream.id, "external_id": stream.external_id, "metadata": metadata}


def alert_dict(alert: Alert, frames: list[AlertFrame] | None = None) -> dict[str, Any]:
    """The JSON shape of an alert (API, CLI, webhooks): a match alert's fields (a contract:
    unchanged since before review-now alerts; ``kind`` "match" was added), or a review-now
    alert's (`review_now_dict`)."""
    if alert.kind == REVIEW_NOW:
        return review_now_dict(alert, frames)
    out: dict[str, Any] = {
        "id": alert.id,
        "kind": alert.kind,
        "stream_id": alert.stream_id,
        "bank": alert.bank,
        "content_id": alert.bank_content_id,
        "category": alert.category,
        "signal_type": alert.signal_type,
        "rule": alert.rule,
        "first_stream_time": round(alert.first_stream_time, 3),
        "last_stream_time": round(alert.last_stream_time, 3),
        "best_distance": alert.best_distance,
        "frames_matched": alert.frames_matched,
        "status": alert.status,
        "created_at": alert.created_at.isoformat(),
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
        "acknowledged_by": alert.acknowledged_by,
        "case_id": alert.case_id,
    }
    if frames is not None:
        out["frames"] = [
            {
                "stream_time": round(f.stream_time, 3),
                "captured_at": f.captured_at.isoformat(),
                "pdq": f.pdq,
                "quality": f.quality,
                "distance": f.distance,
                **({"found": f.found} if f.found else {}),
            }
            for f in sorted(frames, key=lambda f: f.stream_time)
        ]
    return out


def review_now_dict(alert: Alert, frames: list[AlertFrame] | None = None) -> dict[str, Any]:
    """The JSON shape of a review-now alert: the classifiers' rule fired on a stream (a
    person should look now; never a verdict). ``samples``: the likely samples the rule
    counted when it fired (each qualifying sample and the likely ones before it in its
    window); ``best_value`` and ``summary``: the highest priority signal among them and its
    explanation; ``video_call``: their highest video-call likelihood (image clues) and
    ``video_call_reasons`` its clues; ``frames``: each such sample's reading."""
    details = dict(alert.details or {})
    out: dict[str, Any] = {
        "id": alert.id,
        "kind": alert.kind,
        "stream_id": alert.stream_id,
        "rule": alert.rule,
        "first_stream_time": round(alert.first_stream_time, 3),
        "last_stream_time": round(alert.last_stream_time, 3),
        "samples": alert.frames_matched,
        "best_value": round(alert.best_value or 0.0, 4),
        "summary": alert.summary or "",
        "parts": list(details.get("parts") or []),
        "video_call": round(float(details.get("video_call") or 0.0), 4),
        "video_call_reasons": list(details.get("video_call_reasons") or []),
        "status": alert.status,
        "created_at": alert.created_at.isoformat(),
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
        "acknowledged_by": alert.acknowledged_by,
        "case_id": alert.case_id,
    }
    if frames is not None:
        out["frames"] = [
            {
                "stream_time": round(f.stream_time, 3),
                "captured_at": f.captured_at.isoformat(),
                "pdq": f.pdq,
                "quality": f.quality,
                **dict(f.found or {}),
            }
            for f in sorted(frames, key=lambda f: f.stream_time)
        ]
    return out


def _frames(session: Session, alert_id: int) -> list[AlertFrame]:
    return list(session.scalars(select(AlertFrame).where(AlertFrame.alert_id == alert_id)))


def record(
    session: Session,
    *,
    stream_id: int,
    decision: Decision,
    pdq_by_time: dict[float, tuple[str, int]],
    captured_at: dict[float, datetime],
    actions: list[str],
    scores: dict[str, float] | None = None,
    settings: Settings,
) -> Recorded:
    """Write or extend the alert for ``decision`` (no commit: the caller owns the transaction).

    ``pdq_by_time`` gives each sample's (PDQ, quality) and ``captured_at`` its wall time.
    ``actions`` are the bank's webhook events besides ``alert.created``; ``scores`` are the
    classifier scores of the deciding sample (they raise the case's priority).
    """
    first = decision.samples[0]
    best = min(s.match.distance for s in decision.samples)
    query = select(Alert).where(
        Alert.stream_id == stream_id, Alert.bank_content_id == decision.content_id
    )
    alert = session.scalar(query)
    created = False
    if alert is None:
        alert = Alert(
            stream_id=stream_id,
            bank=decision.bank,
            bank_content_id=decision.content_id,
            category=first.match.category,
            signal_type=first.match.signal_type,
            rule=decision.rule.describe(),
            first_stream_time=first.stream_time,
            last_stream_time=decision.samples[-1].stream_time,
            best_distance=best,
            frames_matched=0,
        )
        try:
            with session.begin_nested():
                session.add(alert)
            created = True
        except IntegrityError:  # another worker wrote it first
            alert = session.scalar(query)
            if alert is None:
                raise
    have = {f.stream_time for f in _frames(session, alert.id)}
    added = []
    for s in decision.samples:
        if s.stream_time in have:
            continue
        pdq, quality = pdq_by_time.get(s.stream_time, ("0" * 64, 0))
        session.add(
            AlertFrame(
                alert_id=alert.id,
                stream_time=s.stream_time,
                captured_at=captured_at.get(s.stream_time, utcnow()),
                pdq=pdq,
                quality=quality,
                distance=s.match.distance,
                found=found_keys(s.match),
            )
        )
        added.append(s.stream_time)
        have.add(s.stream_time)
    alert.frames_matched = len(have)
    alert.last_stream_time = max(alert.last_stream_time, decision.samples[-1].stream_time)
    alert.first_stream_time = min(alert.first_stream_time, first.stream_time)
    alert.best_distance = min(alert.best_distance, best)
    session.flush()
    stream = session.get(Stream, stream_id)
    if created or added:  # every alert lands in a case, in this same transaction
        intake = Intake(
            source=Source.LIVE_ALERT,
            grouping=Grouping.from_settings(settings),
            subject=stream.stream_metadata if stream is not None else {},
            alert=AlertSignal(
                alert,
                created,
                tuple(added),
                matches={s.stream_time: s.match for s in decision.samples},
            ),
            scores=dict(scores or {}),
            # the case's priority signal, with the deployment's stored calibration
            fusion=Fusion.from_settings(
                settings, calibrated=calibrated_thresholds(session, settings)
            ),
        )
        file_intake(session, intake)
    if created:
        if stream is not None:
            stream.alerts += 1
        payload = {"alert": alert_dict(alert, _frames(session, alert.id))}
        payload["stream"] = _stream_summary(stream)
        for event in ["alert.created", *actions]:
            webhooks.enqueue(
                session,
                event=event,
                payload=payload,
                idempotency_key=f"alert-{alert.id}-{event}",
                url=settings.webhook_url,
                alert_id=alert.id,
            )
    return Recorded(alert.id, created, tuple(added))


def list_alerts(
    session: Session,
    *,
    stream_id: int | None = None,
    status: str | None = None,
    after_id: int = 0,
    limit: int = 100,
    kind: str | None = None,
) -> list[Alert]:
    """Alerts in id order; ``kind`` "match" or "review_now" (None: both)."""
    query = select(Alert).where(Alert.id > after_id).order_by(Alert.id).limit(limit)
    if kind is not None:
        query = query.where(Alert.kind == kind)
    if stream_id is not None:
        query = query.where(Alert.stream_id == stream_id)
    if status is not None:
        query = query.where(Alert.status == status)
    return list(session.scalars(query))


def get_alert(session: Session, alert_id: int) -> tuple[Alert, list[AlertFrame]]:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFoundError(f"no alert {alert_id}")
    return alert, _frames(session, alert_id)


def acknowledge(session: Session, alert_id: int, *, by: str) -> Alert:
    """Mark an alert seen by a person; acknowledging twice keeps the first record."""
    alert, _ = get_alert(session, alert_id)
    if alert.status != "acknowledged":
        alert.status = "acknowledged"
        alert.acknowledged_at = datetime.now(UTC)
        alert.acknowledged_by = by
        session.flush()
    return alert
