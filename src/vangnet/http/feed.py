"""The live event feed: monitor events, from its worker threads, fanned out to the queues of
Server-Sent Events subscribers (``/v1/alerts/feed``). Each event is serialised once."""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from vangnet.errors import ConflictError

FEED_QUEUE = 1000  # events waiting per subscriber; the oldest is dropped beyond
#: events the feed carries (not "match")
FEED_KINDS = frozenset(
    {"alert", "review_now", "state", "falling_behind", "caught_up", "evidence_lost"}
)
#: events whose ``id:`` is their alert's id (a reconnecting client resumes after it)
ALERT_KINDS = frozenset({"alert", "review_now"})


@dataclass(frozen=True)
class FeedItem:
    """One event, serialised once for every subscriber."""

    kind: str
    alert_id: int | None
    data: str

    def encode(self) -> bytes:
        head = f"id: {self.alert_id}\n" if self.alert_id is not None else ""
        return f"{head}event: {self.kind}\ndata: {self.data}\n\n".encode()


CLOSED = FeedItem("closed", None, "")


@dataclass(eq=False)
class Subscriber:
    """A feed client: a bounded queue read on ``loop``; `offer` runs on that loop."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[FeedItem] = field(default_factory=lambda: asyncio.Queue(FEED_QUEUE))
    lost: int = 0  # events dropped because the client read too slowly

    def offer(self, item: FeedItem) -> None:
        if self.queue.full():
            try:
                self.queue.get_nowait()  # the oldest
                self.lost += 1
            except asyncio.QueueEmpty:
                pass
        self.queue.put_nowait(item)


class EventHub:
    """Hands monitor events (from its worker threads) to the feed subscribers' queues."""

    def __init__(self) -> None:
        self._subscribers: set[Subscriber] = set()
        self._lock = threading.Lock()
        self._closed = False

    def subscribe(self) -> Subscriber:
        """A new subscriber on the running event loop."""
        subscriber = Subscriber(asyncio.get_running_loop())
        with self._lock:
            if self._closed:
                raise ConflictError("the server is shutting down")
            self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(subscriber)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def _send(self, item: FeedItem) -> None:
        with self._lock:
            targets = list(self._subscribers)
        for subscriber in targets:
            try:
                subscriber.loop.call_soon_threadsafe(subscriber.offer, item)
            except RuntimeError:  # its event loop is closed: the client is long gone
                self.unsubscribe(subscriber)

    def publish(self, event: dict[str, Any]) -> None:
        """The monitor's ``on_event``: called from any thread, never blocks."""
        kind = event.get("event")
        if kind not in FEED_KINDS:
            return
        alert_id = event.get("alert_id") if kind in ALERT_KINDS else None
        data = json.dumps(event, default=str, separators=(",", ":"))
        self._send(FeedItem(str(kind), alert_id if isinstance(alert_id, int) else None, data))

    def close(self) -> None:
        """End every open feed (server shutdown); later subscriptions are refused."""
        with self._lock:
            self._closed = True
        self._send(CLOSED)
