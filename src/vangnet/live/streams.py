"""Stream records: create, list, show, stop. The caller owns the transaction.

A stream created here (by the CLI or the API) is wanted (``desired = run``) and held by no
worker; the next `vangnet.live.monitor.Monitor.resume` (in ``vangnet serve`` or
``vangnet worker``) takes it. Stopping sets ``desired = stop``; the worker holding the
stream notices within a second and ends it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vangnet.config import Settings
from vangnet.egress.policy import EgressPolicy
from vangnet.errors import ForbiddenError, NotFoundError, ValidationError
from vangnet.jsonlimits import check_json, check_text, shown
from vangnet.live.quotas import check_stream_quota
from vangnet.net import display_url
from vangnet.sources.streams import FileSource, PolicedSource, source_for
from vangnet.store.models import Stream, utcnow

MAX_METADATA_BYTES = 16_384


def _check_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    data = dict(metadata or {})
    check_json(data, what="stream metadata", max_bytes=MAX_METADATA_BYTES)
    return data


def create_stream(
    session: Session,
    *,
    url: str | None,
    settings: Settings,
    external_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    fps: float | None = None,
    allow_files: bool = True,
    egress: EgressPolicy | None = None,
    api_key_id: int | None = None,
    max_streams: int = 0,
) -> Stream:
    """A new wanted stream: pulled from ``url``, or pushed by the platform when None.
    ``allow_files`` off refuses local files (for streams started through the API). A network
    URL must pass the egress policy (``egress``, default from ``settings``) now: its options
    and the addresses its host resolves to (`DestinationRefused` otherwise); the stream
    checks again on every connect. A stream started with an API key (``api_key_id``) counts
    against its quota of ``max_streams`` active streams (0: no limit)."""
    if url is not None:
        policy = egress or EgressPolicy.from_settings(settings)
        source = source_for(
            url,
            connect_timeout=1,
            stall_timeout=1,
            egress=policy,
            max_pixels=settings.live_max_pixels,
            rtsp_transport=settings.live_rtsp_transport,
        )
        if isinstance(source, FileSource) and not allow_files:
            raise ForbiddenError(
                "streams from local files cannot be started through the API "
                "(VANGNET_LIVE_API_ALLOW_FILES)"
            )
        if isinstance(source, PolicedSource):
            policy.check_url(url)  # DestinationRefused: 422 destination_refused
    rate = settings.live_sample_fps if fps is None else float(fps)
    if not 0 < rate <= 30:
        raise ValidationError("the sample rate must be above 0 and at most 30 per second")
    check_text(external_id, what="external_id", max_chars=255)
    metadata = _check_metadata(metadata)
    if api_key_id is not None:
        check_stream_quota(session, api_key_id, max_streams)
    row = Stream(
        api_key_id=api_key_id,
        kind="pull" if url else "push",
        url=url,
        external_id=external_id,
        stream_metadata=metadata,
        sample_fps=rate,
        state="connecting",
        desired="run",
    )
    session.add(row)
    session.flush()
    return row


def get_stream(session: Session, stream_id: int) -> Stream:
    row = session.get(Stream, stream_id)
    if row is None:
        raise NotFoundError(f"no stream {stream_id}")
    return row


def list_streams(session: Session, *, active_only: bool = False, limit: int = 500) -> list[Stream]:
    query = select(Stream).order_by(Stream.id.desc()).limit(limit)
    if active_only:
        query = query.where(Stream.state.not_in(["ended", "failed"]))
    return list(session.scalars(query))


def request_stop(session: Session, stream_id: int) -> Stream:
    """Ask for a stream to be stopped; a stream no worker holds is ended at once."""
    row = get_stream(session, stream_id)
    row.desired = "stop"
    if row.state not in ("ended", "failed") and (
        row.lease_until is None or row.lease_until < utcnow()
    ):
        row.state, row.state_reason, row.ended_at = "ended", "stopped by request", utcnow()
    session.flush()
    return row


def stream_dict(row: Stream) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "url": display_url(row.url),
        "external_id": row.external_id,
        "metadata": shown(row.stream_metadata, what="stream metadata"),
        "state": row.state,
        "reason": row.state_reason,
        "sample_fps": row.sample_fps,
        "samples": row.samples,
        "matches": row.matches,
        "dropped": row.dropped,
        "alerts": row.alerts,
        "stream_time": round(row.stream_time, 3),
        "behind_live_s": round(row.behind_live_seconds, 3),
        "falling_behind": row.falling_behind,
        "input_lost_seconds": round(row.input_lost_seconds, 3),
        "input_discontinuities": row.input_discontinuities,
        "alerts_pending": row.alerts_pending,
        "evidence_lost": row.evidence_lost,
        "regions_skipped": row.regions_skipped,
        "regions_failed": row.regions_failed,
        "classify_skipped": row.classify_skipped,
        "classifier_failures": row.classifier_failures,
        "review_now_alerts": row.review_now_alerts,
        "review_now_samples": row.review_now_samples,
        "worker": row.worker,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "ended_at": row.ended_at.isoformat() if row.ended_at else None,
    }
