"""Review-now alerts, written durably: one open per stream, extended by later qualifying
samples, filed into the stream's case, announced by a signed webhook.

`record` writes or extends the stream's open review-now alert (an ``alerts`` row of kind
``review_now``, `vangnet.live.alerts.review_now_dict`) from the likely samples the rule
counted (`vangnet.live.review_now`): each qualifying sample is an ``alert_frames`` row
holding its reading (priority, video-call likelihood, summary), the alert keeps the best
priority signal and the highest video-call likelihood. In the same transaction it files
the alert into its case (intake source ``review_now``) and, when the alert is new, queues
the ``stream.review_now`` webhook in the outbox (to ``live_review_now_webhook_url``, else
``webhook_url``). The caller commits. Replaying the same samples (a restart) adds nothing.

Once a person acknowledged the stream's alert (or decided its case), qualifying samples
within ``live_review_now_quiet_seconds`` extend that acknowledged alert (kept, no new alert,
webhook or reopened case); later ones open a new alert.

A review-now alert is never a verdict: nothing here stops the stream, banks or reports.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vangnet.actions import webhooks
from vangnet.cases.intake import AlertSignal, Grouping, Intake, Source, file_intake
from vangnet.config import Settings
from vangnet.live.alerts import REVIEW_NOW, Recorded, _frames, _stream_summary, review_now_dict
from vangnet.live.journal import PendingReviewNow, ReviewSample
from vangnet.store.models import Alert, AlertFrame, Stream, utcnow

#: The webhook event of a new review-now alert (match alerts send ``alert.created``).
EVENT = "stream.review_now"


def _reading(sample: ReviewSample) -> dict[str, object]:
    return {
        "priority": round(sample.value, 4),
        "video_call": round(sample.video_call, 4),
        "summary": sample.summary[:500],
        "scores": dict(sample.scores),
    }


def _open(stream_id: int) -> Select[Any]:
    return (
        select(Alert)
        .where(Alert.stream_id == stream_id, Alert.kind == REVIEW_NOW, Alert.status == "open")
        .order_by(Alert.id.desc())
        .limit(1)
    )


def _quiet(session: Session, entry: PendingReviewNow, settings: Settings) -> Alert | None:
    """The stream's review-now alert acknowledged less than ``live_review_now_quiet_seconds``
    ago, if any: it is extended instead of a new alert being opened."""
    quiet = settings.live_review_now_quiet_seconds
    if quiet <= 0:
        return None
    latest: Alert | None = session.scalar(
        select(Alert)
        .where(
            Alert.stream_id == entry.stream_id,
            Alert.kind == REVIEW_NOW,
            Alert.status == "acknowledged",
        )
        .order_by(Alert.id.desc())
        .limit(1)
    )
    if latest is None or latest.acknowledged_at is None:
        return None
    since = (utcnow() - latest.acknowledged_at).total_seconds()
    return latest if since < quiet else None


def record(session: Session, entry: PendingReviewNow, *, settings: Settings) -> Recorded:
    """Write or extend the open review-now alert of ``entry``'s stream (no commit)."""
    samples = sorted(entry.samples, key=lambda s: s.stream_time)
    if not samples:
        raise ValueError("a review-now alert needs its qualifying samples")
    best = max(samples, key=lambda s: s.value)
    call = max(samples, key=lambda s: s.video_call)
    alert = session.scalar(_open(entry.stream_id)) or _quiet(session, entry, settings)
    created = False
    if alert is None:
        earlier = session.scalar(
            select(func.count())
            .select_from(Alert)
            .where(Alert.stream_id == entry.stream_id, Alert.kind == REVIEW_NOW)
        )
        alert = Alert(
            kind=REVIEW_NOW,
            stream_id=entry.stream_id,
            bank="",
            bank_content_id=-(int(earlier or 0) + 1),  # see `Alert`: no banked item
            category=None,
            signal_type="classifiers",
            rule=entry.rule,
            first_stream_time=samples[0].stream_time,
            last_stream_time=samples[-1].stream_time,
            best_distance=0,
            frames_matched=0,
            best_value=best.value,
            summary=best.summary[:1000],
            details={},
        )
        try:
            with session.begin_nested():
                session.add(alert)
            created = True
        except IntegrityError:  # another worker opened it first
            alert = session.scalar(_open(entry.stream_id))
            if alert is None:
                raise
    have = {f.stream_time for f in _frames(session, alert.id)}
    added = []
    for s in samples:
        if s.stream_time in have:
            continue
        session.add(
            AlertFrame(
                alert_id=alert.id,
                stream_time=s.stream_time,
                captured_at=s.captured_at,
                pdq=s.pdq,
                quality=s.quality,
                distance=0,
                found=_reading(s),
            )
        )
        added.append(s.stream_time)
        have.add(s.stream_time)
    alert.frames_matched = len(have)
    alert.first_stream_time = min(alert.first_stream_time, samples[0].stream_time)
    alert.last_stream_time = max(alert.last_stream_time, samples[-1].stream_time)
    details = dict(alert.details or {})
    if alert.best_value is None or best.value >= alert.best_value or created:
        alert.best_value, alert.summary = best.value, best.summary[:1000]
        details["parts"] = list(best.parts)
        details["scores"] = dict(best.scores)
    if call.video_call >= float(details.get("video_call") or 0.0):
        details["video_call"] = call.video_call
        details["video_call_reasons"] = list(call.video_call_reasons)
    details["video_call_likely"] = (
        float(details.get("video_call") or 0.0) >= settings.live_review_now_video_call_threshold
    )
    alert.details = details
    session.flush()
    stream = session.get(Stream, entry.stream_id)
    if created or added:  # every review-now alert lands in a case, in this transaction
        file_intake(
            session,
            Intake(
                source=Source.REVIEW_NOW,
                grouping=Grouping.from_settings(settings),
                subject=stream.stream_metadata if stream is not None else {},
                alert=AlertSignal(alert, created, tuple(added)),
                scores=dict(best.scores),
            ),
        )
    if created:
        if stream is not None:
            stream.review_now_alerts += 1
        payload = {
            "alert": review_now_dict(alert, _frames(session, alert.id)),
            "stream": _stream_summary(stream),
        }
        webhooks.enqueue(
            session,
            event=EVENT,
            payload=payload,
            idempotency_key=f"alert-{alert.id}-{EVENT}",
            url=settings.live_review_now_webhook_url or settings.webhook_url,
            alert_id=alert.id,
        )
    return Recorded(alert.id, created, tuple(added))
