"""The states a watched stream goes through."""

from __future__ import annotations

import enum


class StreamState(enum.StrEnum):
    CONNECTING = "connecting"  # opening the source for the first time
    LIVE = "live"  # frames are arriving
    STALLED = "stalled"  # connected, but no frame within live_stall_seconds
    RECONNECTING = "reconnecting"  # the connection broke; trying again with backoff
    ENDED = "ended"  # the stream finished, or was stopped
    FAILED = "failed"  # unusable (no video, undecodable, too large) or gave up reconnecting

    @property
    def finished(self) -> bool:
        return self in (StreamState.ENDED, StreamState.FAILED)
