"""The live-stream API under /v1: streams (pulled from a URL or pushed frame by frame or
hash by hash), alerts, their Server-Sent Events feed, and dead-lettered webhooks.

Streams started here run in this process's `Monitor` (``Services.monitor``); streams queued
elsewhere (``vangnet streams start``) are taken over by `vangnet serve` within two seconds.
Pushed frames are decoded in memory and never written to disk unencrypted.

Permissions: ``streams`` to start, stop and push; ``alerts`` to read and acknowledge alerts,
follow the feed and see dead-lettered webhooks; reading streams takes either.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from vangnet.actions import webhooks
from vangnet.api.uploads import read_body, read_multipart
from vangnet.audit import chain as audit_chain
from vangnet.auth.keys import Permission
from vangnet.errors import (
    ConflictError,
    EmptyInputError,
    NotFoundError,
    UnsupportedMediaError,
    ValidationError,
    VangnetError,
)
from vangnet.evidence.reading import list_evidence
from vangnet.http.buckets import Buckets, LocalBuckets, SharedBuckets
from vangnet.http.deps import (
    MAX_ID,
    AfterId,
    Caller,
    IdFilter,
    RowId,
    Services,
    db_session,
    require,
    services,
    writer_session,
)
from vangnet.http.feed import CLOSED, EventHub, FeedItem, Subscriber
from vangnet.http.redis_buckets import RedisBuckets
from vangnet.jsonlimits import depth
from vangnet.live import alerts as alert_service
from vangnet.live.runtime import StreamRuntime
from vangnet.live.samples import Sample, pushed_frame_sample, pushed_hash_sample
from vangnet.live.states import StreamState
from vangnet.live.streams import get_stream, list_streams, request_stop, stream_dict
from vangnet.net import display_url
from vangnet.signals.classifiers.enabled import start_failures
from vangnet.signals.classifiers.scoring import failure_counts
from vangnet.store.models import Alert, Stream, WebhookDelivery

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["live"])
#: Deepest JSON a listing renders (the serializer fails at about 255 levels).
RENDER_DEPTH = 128

Streams = Annotated[Caller, Depends(require(Permission.STREAMS))]
Alerts = Annotated[Caller, Depends(require(Permission.ALERTS))]
Watch = Annotated[Caller, Depends(require(Permission.STREAMS, Permission.ALERTS))]
Db = Annotated[Session, Depends(db_session)]
WriteDb = Annotated[Session, Depends(writer_session)]
Svc = Annotated[Services, Depends(services)]

MAX_PUSHED_HASHES = 1000
#: Longest a hash push waits for room in its stream's sample queue before pushing anyway
#: (and letting the monitor drop the oldest waiting samples).
PUSH_WAIT_SECONDS = 10.0
#: How long `stop` waits for a pulled stream's reader to finish.
STOP_WAIT_SECONDS = 2.0

# -- the alert feed: monitor events fanned out to Server-Sent Events subscribers -------------

KEEPALIVE_SECONDS = 15.0
#: The feed also looks in the database this often, for alerts raised by other processes.
FEED_POLL_SECONDS = 2.0
FEED_PAGE = 500  # alerts read from the database at a time


def _alert_event(alert: Alert) -> FeedItem:
    """An alert read from the database, shaped like the monitor's ``alert`` event (a
    review-now alert like its ``review_now`` event)."""
    if alert.kind == alert_service.REVIEW_NOW:
        shown = alert_service.review_now_dict(alert)
        event = {
            "event": "review_now",
            "stream": alert.stream_id,
            "time": alert.created_at.isoformat(),
            "stream_time": round(alert.last_stream_time, 3),
            "alert_id": alert.id,
            "rule": alert.rule,
            "samples": shown["samples"],
            "first_stream_time": shown["first_stream_time"],
            "priority": shown["best_value"],
            "summary": shown["summary"],
            "video_call": shown["video_call"],
            "status": alert.status,
            "replayed": True,
        }
        return FeedItem("review_now", alert.id, json.dumps(event, separators=(",", ":")))
    data = {
        "event": "alert",
        "stream": alert.stream_id,
        "time": alert.created_at.isoformat(),
        "stream_time": round(alert.last_stream_time, 3),
        "alert_id": alert.id,
        "bank": alert.bank,
        "content_id": alert.bank_content_id,
        "category": alert.category,
        "distance": alert.best_distance,
        "rule": alert.rule,
        "first_stream_time": round(alert.first_stream_time, 3),
        "last_stream_time": round(alert.last_stream_time, 3),
        "status": alert.status,
        "replayed": True,
    }
    return FeedItem("alert", alert.id, json.dumps(data, separators=(",", ":")))


def _alerts_after(engine: Engine, after_id: int) -> list[FeedItem]:
    with Session(engine) as session:
        found = alert_service.list_alerts(session, after_id=after_id, limit=FEED_PAGE)
        return [_alert_event(a) for a in found]


def _last_alert_id(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.max(Alert.id))) or 0)


class _Seen:
    """Alert ids already sent on one feed (the most recent ones)."""

    def __init__(self, size: int = 10_000) -> None:
        self._order: deque[int] = deque()
        self._ids: set[int] = set()
        self._size = size

    def add(self, alert_id: int) -> bool:
        """True if ``alert_id`` is new (and remember it)."""
        if alert_id in self._ids:
            return False
        self._ids.add(alert_id)
        self._order.append(alert_id)
        if len(self._order) > self._size:
            self._ids.discard(self._order.popleft())
        return True


async def _feed(
    engine: Engine, hub: EventHub, subscriber: Subscriber, after_id: int | None
) -> AsyncIterator[bytes]:
    """The event stream of one client: replayed alerts, then live events, keepalives."""
    try:
        yield b": connected\n\n"
        floor = (
            after_id if after_id is not None else await run_in_threadpool(_last_alert_id, engine)
        )
        cursor, seen = floor, _Seen()

        async def catch_up() -> AsyncIterator[bytes]:
            """Alerts in the database after ``cursor``: a replay, or raised elsewhere."""
            nonlocal cursor
            while True:
                page = await run_in_threadpool(_alerts_after, engine, cursor)
                for item in page:
                    assert item.alert_id is not None
                    cursor = max(cursor, item.alert_id)
                    if seen.add(item.alert_id):
                        yield item.encode()
                if len(page) < FEED_PAGE:
                    return

        if after_id is not None:
            async for chunk in catch_up():
                yield chunk
        now = time.monotonic()
        next_poll, next_keepalive = now + FEED_POLL_SECONDS, now + KEEPALIVE_SECONDS
        while True:
            wait = max(0.0, min(next_poll, next_keepalive) - time.monotonic())
            try:
                item: FeedItem | None = await asyncio.wait_for(subscriber.queue.get(), wait)
            except TimeoutError:
                item = None
            if item is CLOSED:
                return
            if item is not None and (
                item.alert_id is None or (item.alert_id > floor and seen.add(item.alert_id))
            ):
                yield item.encode()
            now = time.monotonic()
            if now >= next_poll or subscriber.lost:
                subscriber.lost = 0  # alerts dropped from the queue come back from the database
                async for chunk in catch_up():
                    yield chunk
                next_poll = now + FEED_POLL_SECONDS
            if now >= next_keepalive:
                yield b": keepalive\n\n"
                next_keepalive = now + KEEPALIVE_SECONDS
    finally:
        hub.unsubscribe(subscriber)


# -- request bodies --------------------------------------------------------------------------


class StreamCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        default=None,
        description="rtmp://, rtsp://, srt://, udp://, HLS http(s)://...m3u8 or a file; "
        "null for a push stream (frames or hashes posted to this API).",
    )
    external_id: str | None = Field(default=None, max_length=255)
    metadata: dict[str, Any] = Field(default_factory=dict)
    fps: float | None = Field(default=None, description="Base sample rate (default setting).")


class PushedHash(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stream_time: float = Field(ge=0, allow_inf_nan=False, description="Seconds from the start.")
    pdq: str = Field(description="64 hex characters.")
    quality: int = Field(ge=0, le=100)


class HashPush(BaseModel):
    model_config = ConfigDict(extra="forbid")

    frames: list[PushedHash] = Field(min_length=1, max_length=MAX_PUSHED_HASHES)


class Acknowledge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(default=None, min_length=1, max_length=255)


# -- streams ---------------------------------------------------------------------------------


def _stream_json(svc: Services, row: Stream) -> dict[str, Any]:
    out = stream_dict(row)
    runtime = svc.monitor.runtimes.get(row.id)
    if runtime is not None:  # run by this process: its live figures
        out["live"] = runtime.status()
    return out


def _listed(svc: Services, row: Stream) -> dict[str, Any]:
    """A stream in a listing; one that cannot be rendered is listed with an error marker
    instead of failing the listing for everyone."""
    try:
        shown = _stream_json(svc, row)
        if depth(shown, stop_after=RENDER_DEPTH) <= RENDER_DEPTH:
            return shown
    except Exception:
        log.exception("stream %s cannot be rendered", row.id)
    return {"id": row.id, "error": {"code": "unrenderable", "message": "stream not shown"}}


@router.post("/streams", status_code=201)
def start_stream(body: StreamCreate, svc: Svc, session: Db, who: Streams) -> dict[str, Any]:
    """Watch a stream in this server: pulled from ``url``, or pushed when ``url`` is null.
    A key may have at most VANGNET_KEY_MAX_STREAMS active streams (429 quota_exceeded)."""
    stream_id = svc.monitor.add_stream(
        body.url,
        external_id=body.external_id,
        metadata=body.metadata,
        fps=body.fps,
        allow_files=svc.settings.live_api_allow_files,
        api_key_id=who.key.id if who.key is not None else None,
    )
    out = _stream_json(svc, get_stream(session, stream_id))
    audit_chain.record_now(
        svc.engine,
        actor=who.actor,
        action="stream.start",
        target=f"stream:{stream_id}",
        after={
            "url": display_url(body.url) if body.url else None,
            "external_id": body.external_id,
        },
    )
    return out


@router.get("/streams")
def streams(
    svc: Svc,
    session: Db,
    _: Watch,
    active: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> dict[str, Any]:
    rows = list_streams(session, active_only=active, limit=limit)
    return {"streams": [_listed(svc, r) for r in rows]}


@router.get("/streams/{stream_id}")
def show_stream(stream_id: RowId, svc: Svc, session: Db, _: Watch) -> dict[str, Any]:
    return _stream_json(svc, get_stream(session, stream_id))


@router.post("/streams/{stream_id}/stop")
def stop_stream(stream_id: RowId, svc: Svc, session: WriteDb, who: Streams) -> dict[str, Any]:
    """Stop watching; a stream run by another process is ended by it within a second."""
    row = request_stop(session, stream_id)
    audit_chain.record(session, actor=who.actor, action="stream.stop", target=f"stream:{stream_id}")
    session.commit()
    runtime = svc.monitor.runtimes.get(stream_id)
    if runtime is not None and not runtime.state.finished:
        svc.monitor.stop_stream(stream_id, "stopped by request")
        puller = svc.monitor.sessions.get(stream_id)
        if puller is not None:
            puller.thread.join(timeout=STOP_WAIT_SECONDS)
    session.refresh(row)
    return _stream_json(svc, row)


def _not_pushable(engine: Engine, stream_id: int) -> VangnetError:
    """Why a stream this process does not run cannot take pushes (NotFoundError if none)."""
    with Session(engine) as session:
        row = get_stream(session, stream_id)
        if row.kind != "push":
            return ConflictError(f"stream {stream_id} is pulled from a URL, not pushed")
        if row.state in ("ended", "failed") or row.desired == "stop":
            return ConflictError(f"stream {stream_id} is {row.state}")
        holder = f"worker {row.worker}" if row.worker else "no worker yet"
        return ConflictError(
            f"stream {stream_id} is not run by this server ({holder}); push to the server "
            "that started it, or retry once this server has taken it over"
        )


async def _push_target(svc: Services, stream_id: int) -> StreamRuntime:
    """The running push stream ``stream_id``: 404 if unknown, 409 if it takes no pushes."""
    runtime = svc.monitor.runtimes.get(stream_id)
    if runtime is None:
        raise await run_in_threadpool(_not_pushable, svc.engine, stream_id)
    if runtime.kind != "push":
        raise ConflictError(f"stream {stream_id} is pulled from a URL, not pushed")
    if runtime.state is not StreamState.LIVE:
        raise ConflictError(f"stream {stream_id} is {runtime.state.value}")
    return runtime


def _submit(svc: Services, stream_id: int, sample: Sample) -> None:
    try:
        svc.monitor.push_sample(stream_id, sample)
    except (NotFoundError, ValidationError) as error:  # stopped meanwhile
        raise ConflictError(error.message) from None


def _stream_time(value: float | str | None) -> float:
    if value is None:
        raise ValidationError("stream_time is required (seconds from the start of the stream)")
    try:
        seconds = float(value)
    except ValueError:
        raise ValidationError("stream_time must be a number of seconds") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValidationError("stream_time must be a finite number of seconds, at least 0")
    return seconds


@router.post("/streams/{stream_id}/frames", status_code=202)
async def push_frame(
    stream_id: RowId,
    request: Request,
    svc: Svc,
    _: Streams,
    stream_time: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
) -> dict[str, Any]:
    """One frame of a push stream: the image bytes (``Content-Type: image/...``) or a
    multipart upload with the field ``file`` (and ``stream_time`` as a query or form field)."""
    await _push_target(svc, stream_id)
    limit = svc.settings.max_upload_bytes
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    when: float | str | None = stream_time
    if content_type == "multipart/form-data":
        parts = await read_multipart(request, limit=limit)
        files = [p for p in parts if p.name == "file"]
        if len(files) != 1:
            raise ValidationError("send exactly one frame, in the multipart field 'file'")
        data = bytes(files[0].data)
        if when is None:
            form = [p for p in parts if p.name == "stream_time" and p.filename is None]
            when = form[0].data.decode("ascii", "replace").strip() if form else None
        seconds = _stream_time(when)
        if not data:
            raise EmptyInputError("the uploaded frame is empty")
    elif content_type.startswith("image/"):
        seconds = _stream_time(when)
        data = await read_body(request, limit=limit)
    else:
        raise UnsupportedMediaError(
            "send the frame as image bytes (Content-Type: image/jpeg, image/png...) or as "
            "multipart/form-data with the field 'file'"
        )
    received = time.time()
    sample = await run_in_threadpool(
        partial(pushed_frame_sample, max_pixels=svc.settings.live_max_pixels),
        stream_id,
        seconds,
        received,
        data,
    )
    _submit(svc, stream_id, sample)
    return {"accepted": 1}


@router.post("/streams/{stream_id}/hashes", status_code=202)
async def push_hashes(stream_id: RowId, body: HashPush, svc: Svc, _: Streams) -> dict[str, Any]:
    """PDQ hashes of a push stream's frames, computed by the platform (no media sent).

    All are checked before any is queued; a batch is fed to the stream as fast as it is
    processed (waiting up to ten seconds for room), so a batch is not dropped as lag."""
    runtime = await _push_target(svc, stream_id)
    received = time.time()
    samples = []
    for position, frame in enumerate(body.frames):
        try:
            samples.append(
                pushed_hash_sample(stream_id, frame.stream_time, received, frame.pdq, frame.quality)
            )
        except VangnetError as error:
            raise type(error)(f"frames[{position}]: {error.message}") from None
    room = svc.settings.live_queue_samples
    deadline = time.monotonic() + PUSH_WAIT_SECONDS
    for done, sample in enumerate(samples):
        while (
            len(runtime.queue) >= room
            and runtime.state is StreamState.LIVE
            and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.005)
        try:
            _submit(svc, stream_id, sample)
        except ConflictError as error:
            if done == 0:
                raise
            raise ConflictError(f"{error.message}; {done} of {len(samples)} were queued") from None
    return {"accepted": len(samples)}


# -- alerts ----------------------------------------------------------------------------------


@router.get("/alerts")
def alerts(
    session: Db,
    _: Alerts,
    after_id: AfterId = 0,
    stream_id: IdFilter = None,
    status: Literal["open", "acknowledged"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    kind: Literal["match", "review_now"] | None = None,
) -> dict[str, Any]:
    """Alerts in id order (page with ``after_id``): match alerts (``kind`` "match": a
    stream shows banked material) and review-now alerts (``kind`` "review_now": the
    classifiers' rule says a person should look now; never a verdict); ``kind`` filters."""
    found = alert_service.list_alerts(
        session, after_id=after_id, stream_id=stream_id, status=status, limit=limit, kind=kind
    )
    return {
        "alerts": [alert_service.alert_dict(a) for a in found],
        "next_after_id": found[-1].id if len(found) == limit else None,
    }


# Declared before /alerts/{alert_id}, which would otherwise take "feed" for an id.
@router.get(
    "/alerts/feed",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def alert_feed(
    svc: Svc,
    _: Alerts,
    after_id: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-Sent Events: ``alert`` events (a match alert) and ``review_now`` events (a
    review-now alert; ``id:`` is the alert id of both) and stream ``state`` events as they
    happen, a ``: keepalive`` comment every 15 s.

    With ``Last-Event-ID`` (a reconnecting EventSource sends it) or ``?after_id=``, alerts
    after that id are replayed from the database first. Delivery is at least once: tell
    alerts apart by ``alert_id``. Alerts raised by other processes arrive within seconds."""
    start = after_id
    if last_event_id is not None and last_event_id.strip():
        try:
            start = int(last_event_id.strip())
        except ValueError:
            raise ValidationError("Last-Event-ID must be an alert id") from None
        if not 0 <= start <= MAX_ID:
            raise ValidationError(f"Last-Event-ID must be an alert id (0 to {MAX_ID})")
    subscriber = svc.events.subscribe()
    return StreamingResponse(
        _feed(svc.engine, svc.events, subscriber, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/alerts/{alert_id}")
def show_alert(alert_id: RowId, session: Db, _: Alerts) -> dict[str, Any]:
    """An alert with its matched frames and its evidence (hashes and custody, no media)."""
    alert, frames = alert_service.get_alert(session, alert_id)
    return {
        **alert_service.alert_dict(alert, frames),
        "evidence": list_evidence(session, alert_id=alert_id),
    }


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge_alert(
    alert_id: RowId, session: WriteDb, who: Alerts, body: Acknowledge | None = None
) -> dict[str, Any]:
    """Mark an alert seen (by ``by``, else the API key's name); again keeps the first."""
    by = body.by if body is not None and body.by is not None else None
    if by is None:
        by = who.key.name if who.key is not None else "local"
    alert = alert_service.acknowledge(session, alert_id, by=by)
    audit_chain.record(
        session,
        actor=who.actor,
        action="alert.acknowledge",
        target=f"alert:{alert_id}",
        after={"status": alert.status, "acknowledged_by": alert.acknowledged_by},
    )
    session.commit()
    alert, frames = alert_service.get_alert(session, alert_id)
    return alert_service.alert_dict(alert, frames)


# -- webhooks --------------------------------------------------------------------------------


def _delivery_json(row: WebhookDelivery) -> dict[str, Any]:
    shown = display_url(row.url) or ""
    error = row.last_error.replace(row.url, shown) if row.last_error else None
    return {
        "id": row.id,
        "event": row.event,
        "url": shown,
        "alert_id": row.alert_id,
        "attempts": row.attempts,
        "last_status": row.last_status,
        "last_error": error,
        "created_at": row.created_at.isoformat(),
    }


@router.get("/webhooks/dead")
def dead_webhooks(
    session: Db, _: Alerts, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    """Deliveries that failed every attempt, oldest first."""
    return {"deliveries": [_delivery_json(r) for r in webhooks.dead_letters(session, limit=limit)]}


@router.post("/webhooks/{delivery_id}/retry")
def retry_webhook(delivery_id: RowId, svc: Svc, session: WriteDb, who: Alerts) -> dict[str, Any]:
    """Queue a dead delivery again, due now (404 if unknown, 409 if it is not dead)."""
    webhooks.retry(session, delivery_id)
    audit_chain.record(
        session, actor=who.actor, action="webhook.retry", target=f"webhook:{delivery_id}"
    )
    session.commit()
    svc.monitor.wake_deliverer()
    return {"id": delivery_id, "status": "pending"}


# -- Prometheus metrics -----------------------------------------------------------------------

_STREAM_COUNTERS = (
    ("samples", "vangnet_stream_samples_total", "Samples hashed and looked up."),
    ("matches", "vangnet_stream_matching_samples_total", "Samples that matched a bank."),
    ("dropped", "vangnet_stream_dropped_samples_total", "Samples dropped to keep up with live."),
    ("alerts", "vangnet_stream_alerts_total", "Match alerts raised (banked material seen)."),
    (
        "review_now_alerts",
        "vangnet_stream_review_now_alerts_total",
        "Review-now alerts raised (the classifiers' rule; never a verdict).",
    ),
    (
        "review_now_samples",
        "vangnet_stream_review_now_samples_total",
        "Scored samples that met the review-now rule (each raised or extended an alert).",
    ),
    (
        "input_discontinuities",
        "vangnet_stream_input_discontinuities_total",
        "Gaps in the stream's timestamps (input lost before decoding).",
    ),
    ("corrupt_frames", "vangnet_stream_corrupt_frames_total", "Frames the decoder flagged."),
    (
        "regions_skipped",
        "vangnet_stream_regions_skipped_samples_total",
        "Samples matched on their whole frame only: the stream was over its region budget.",
    ),
    (
        "regions_failed",
        "vangnet_stream_regions_failed_samples_total",
        "Samples matched on their whole frame only: their region work failed.",
    ),
    (
        "classify_skipped",
        "vangnet_stream_classify_skipped_samples_total",
        "Samples the classifiers did not score: the stream was over its classifier budget.",
    ),
    (
        "classifier_failures",
        "vangnet_stream_classifier_failed_samples_total",
        "Samples one or more enabled classifiers failed to score (logged; no score).",
    ),
    (
        "evidence_lost",
        "vangnet_stream_evidence_frames_lost_total",
        "Frames of alerts not kept as evidence (queue full, or failed after retries).",
    ),
)
_STREAM_GAUGES = (
    (
        "behind_live_s",
        "vangnet_stream_behind_live_seconds",
        "How far behind live the last sample was processed.",
    ),
    (
        "falling_behind",
        "vangnet_stream_falling_behind",
        "1 while the stream is more than live_behind_limit_seconds behind.",
    ),
    (
        "input_lost_seconds",
        "vangnet_stream_input_lost_seconds",
        "Seconds of the stream lost before decoding.",
    ),
    (
        "alerts_pending",
        "vangnet_stream_alert_writes_pending",
        "Alert writes waiting to be retried (journaled).",
    ),
)


def _label(value: object) -> str:
    """A Prometheus label value: quoted, with backslash, quote and newline escaped."""
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(svc: Svc, session: Db, _: Watch) -> str:
    """Prometheus text exposition: per-stream counters and lag of the streams this process
    runs, index sizes, and the webhook outbox (pending and dead deliveries)."""
    lines: list[str] = []
    streams = [rt.status() for rt in list(svc.monitor.runtimes.values())]
    for key, name, text in _STREAM_COUNTERS:
        lines += [f"# HELP {name} {text}", f"# TYPE {name} counter"]
        lines += [f"{name}{{stream={_label(s['id'])}}} {s[key]}" for s in streams]
    for key, name, text in _STREAM_GAUGES:
        lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge"]
        lines += [
            f"{name}{{stream={_label(s['id'])}}} {float(s[key]):g}"
            for s in streams
            if s[key] is not None
        ]
    pending = "vangnet_alert_writes_pending"
    lines += [
        f"# HELP {pending} Alert writes of this process waiting for the database (journaled).",
        f"# TYPE {pending} gauge",
        f"{pending} {svc.monitor.alerts_pending}",
    ]
    lag = "vangnet_stream_behind_live_p95_seconds"
    lines += [
        f"# HELP {lag} How far behind live samples are processed (p95).",
        f"# TYPE {lag} gauge",
    ]
    for s in streams:
        if s["behind_live_p95_ms"] is not None:
            lines.append(f"{lag}{{stream={_label(s['id'])}}} {s['behind_live_p95_ms'] / 1000:.3f}")
    state = "vangnet_stream_state"
    lines += [f"# HELP {state} 1 for the state each stream is in.", f"# TYPE {state} gauge"]
    lines += [f"{state}{{stream={_label(s['id'])},state={_label(s['state'])}}} 1" for s in streams]
    lines += _classifier_metrics()
    size = "vangnet_index_entries"
    lines += [f"# HELP {size} Entries in each matching index.", f"# TYPE {size} gauge"]
    index_status = svc.indexes.status_dict()
    for signal_type, info in index_status.items():
        lines.append(f"{size}{{signal_type={_label(signal_type)}}} {info['size']}")
    featured = "vangnet_index_featured_entries"
    lines += [
        f"# HELP {featured} Entries in the feature index of a signal type (its banked items "
        "with local features: the wider net's candidates).",
        f"# TYPE {featured} gauge",
    ]
    for signal_type, count in svc.indexes.featured_sizes().items():
        lines.append(f"{featured}{{signal_type={_label(signal_type)}}} {count}")
    for metric, text, value in (
        (
            "vangnet_match_unverified_candidates_total",
            "Banked items within the wider net left unverified because match_verify_max was "
            "spent (they might have matched).",
            svc.matcher.unverified_total,
        ),
        (
            "vangnet_match_over_verify_budget_total",
            "Query photos that left wider-net candidates unverified (match_verify_max spent).",
            svc.matcher.over_budget_total,
        ),
    ):
        lines += [f"# HELP {metric} {text}", f"# TYPE {metric} counter", f"{metric} {value}"]
    failed = "vangnet_index_failed"
    lines += [
        f"# HELP {failed} 1 when the index of a signal type is not serving (plug-in failed).",
        f"# TYPE {failed} gauge",
    ]
    for signal_type, info in index_status.items():
        lines.append(f"{failed}{{signal_type={_label(signal_type)}}} {int('error' in info)}")
    outbox = "vangnet_webhook_deliveries"
    lines += [f"# HELP {outbox} Webhook deliveries by status.", f"# TYPE {outbox} gauge"]
    counts = dict(
        session.execute(
            select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
        ).all()
    )
    for status in ("pending", "delivered", "dead"):
        lines.append(f"{outbox}{{status={_label(status)}}} {counts.get(status, 0)}")
    return "\n".join(lines + _rate_limit_metrics(svc.rates.buckets)) + "\n"


def _classifier_metrics() -> list[str]:
    """Pictures each classifier failed to score in this process (live samples, uploads to
    ``POST /v1/classify``), and the classifiers whose model could not be started."""
    failed = "vangnet_classifier_failed_pictures_total"
    lines = [
        f"# HELP {failed} Pictures a classifier failed to score in this process (logged; "
        "the reading names the classifier under errors).",
        f"# TYPE {failed} counter",
    ]
    lines += [
        f"{failed}{{classifier={_label(name)}}} {count}"
        for name, count in sorted(failure_counts().items())
    ]
    unstarted = "vangnet_classifier_unstarted"
    lines += [
        f"# HELP {unstarted} 1 for an enabled classifier whose model could not be started "
        "(it fails every picture).",
        f"# TYPE {unstarted} gauge",
    ]
    lines += [f"{unstarted}{{classifier={_label(name)}}} 1" for name in sorted(start_failures())]
    return lines


def _rate_limit_metrics(buckets: Buckets) -> list[str]:
    """Where this process's rate limits are kept, and (Redis) how often it had to do without."""
    own = buckets.fallback if isinstance(buckets, RedisBuckets) else buckets
    backend = "redis" if isinstance(buckets, RedisBuckets) else _BACKENDS.get(type(own), "other")
    name = "vangnet_rate_limit_backend"
    lines = [
        f"# HELP {name} 1 for where the rate limits keep their token buckets.",
        f"# TYPE {name} gauge",
        f"{name}{{backend={_label(backend)}}} 1",
    ]
    crowded = "vangnet_rate_limit_crowded_total"
    lines += [
        f"# HELP {crowded} New clients refused because every bucket near theirs was in use "
        "(this process's or this server's buckets).",
        f"# TYPE {crowded} counter",
        f"{crowded} {own.crowded if isinstance(own, LocalBuckets | SharedBuckets) else 0}",
    ]
    if isinstance(buckets, RedisBuckets):
        for metric, text, value in (
            (
                "vangnet_rate_limit_redis_fallbacks_total",
                "Rate-limit checks (one or two a request) this process answered with its own "
                "buckets because Redis failed or was in a back-off.",
                buckets.fallbacks,
            ),
            (
                "vangnet_rate_limit_redis_errors_total",
                "Calls to Redis that failed or timed out (each starts a back-off).",
                buckets.errors,
            ),
        ):
            lines += [f"# HELP {metric} {text}", f"# TYPE {metric} counter", f"{metric} {value}"]
        up = "vangnet_rate_limit_redis_available"
        lines += [
            f"# HELP {up} 0 while this process does without Redis (back-off after a failure).",
            f"# TYPE {up} gauge",
            f"{up} {int(buckets.available)}",
        ]
    return lines


_BACKENDS: dict[type, str] = {LocalBuckets: "local", SharedBuckets: "shared"}
