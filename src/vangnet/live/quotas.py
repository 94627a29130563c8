"""Per-API-key stream quotas: how many streams one key may have active at once.

Checked when a key starts a stream (`check_stream_quota`) and when streams resume after a
restart (`over_quota`), so streams started before a lower quota, or queued while a server
was away, never exceed it once running.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vangnet.errors import VangnetError
from vangnet.store.models import ApiKey, Stream

FINISHED = ("ended", "failed")


class QuotaExceededError(VangnetError):
    """The API key already has as many active streams as it may."""

    code = "quota_exceeded"
    status = 429


def active_streams(session: Session, api_key_id: int) -> int:
    """Streams of the key that are wanted and not finished."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Stream)
            .where(
                Stream.api_key_id == api_key_id,
                Stream.desired == "run",
                Stream.state.not_in(FINISHED),
            )
        )
        or 0
    )


def check_stream_quota(session: Session, api_key_id: int, limit: int) -> None:
    """Raise `QuotaExceededError` if the key may not start another stream (``limit`` 0: no
    limit). Locks the key's row on PostgreSQL so concurrent starts are counted one by one
    (SQLite writers are serialised already)."""
    if limit <= 0:
        return
    session.execute(select(ApiKey.id).where(ApiKey.id == api_key_id).with_for_update())
    running = active_streams(session, api_key_id)
    if running >= limit:
        raise QuotaExceededError(
            f"this API key already has {running} active streams (at most {limit}, "
            "VANGNET_KEY_MAX_STREAMS); stop one first"
        )


def over_quota(session: Session, candidates: Iterable[Stream], limit: int) -> list[Stream]:
    """Those of ``candidates`` (streams about to be resumed, oldest first) that would take
    their key beyond ``limit`` active streams: the newest of each key's excess."""
    if limit <= 0:
        return []
    by_key: dict[int, list[Stream]] = {}
    for row in candidates:
        if row.api_key_id is not None:
            by_key.setdefault(row.api_key_id, []).append(row)
    excess: list[Stream] = []
    for key_id, rows in by_key.items():
        running = active_streams(session, key_id) - len(rows)  # held elsewhere, still running
        room = max(0, limit - running)
        excess.extend(sorted(rows, key=lambda r: r.id)[room:])
    return excess
