"""The live part of the demo: a generated stream, a webhook receiver, an alert printer.

`vangnet demo` queues a clip of drawn pictures (banked picture #7 shown for 3 s in the
middle, looped) as a stream for the server's monitor, receives the signed webhooks on a
loopback HTTP server of its own (checking each signature), and prints each alert with its
evidence as it lands, so a new user sees the whole loop within a minute.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from vangnet.cli.demo.prepare import draw_picture
from vangnet.config import Settings
from vangnet.store.db import make_engine

DEMO_STREAM_ID = "demo-room"
#: Drawn pictures shown before and after the banked one (not in the bank).
DEMO_NEGATIVE_SEEDS = (101, 102, 103, 104, 105, 106)
DEMO_KNOWN_SEED = 7


def write_demo_clip(settings: Settings) -> Path:
    """A 720p clip of drawn pictures with banked picture #7 shown for 3 s in the middle."""
    from vangnet.live.clips import Shot, encode_clip

    path = settings.home / "demo" / "stream.mp4"
    if path.exists():
        return path
    half = len(DEMO_NEGATIVE_SEEDS) // 2
    shots = [Shot(draw_picture(s), 1.5) for s in DEMO_NEGATIVE_SEEDS[:half]]
    shots.append(Shot(draw_picture(DEMO_KNOWN_SEED), 3.0))
    shots += [Shot(draw_picture(s), 1.5) for s in DEMO_NEGATIVE_SEEDS[half:]]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(encode_clip(shots))
    tmp.replace(path)
    return path


def queue_demo_stream(settings: Settings, clip: Path) -> int:
    """Queue the demo clip (looped, played at real time) as a stream for the server's
    monitor; streams left by an earlier demo run are stopped first."""
    from sqlalchemy import select

    from vangnet.live.streams import create_stream, request_stop
    from vangnet.store.models import Stream

    engine = make_engine(settings.effective_database_url)
    try:
        with Session(engine) as session:
            old = session.scalars(
                select(Stream.id).where(
                    Stream.external_id == DEMO_STREAM_ID, Stream.desired == "run"
                )
            ).all()
            for stream_id in old:
                request_stop(session, stream_id)
            row = create_stream(
                session,
                url=f"file://{clip}?loop=1",
                settings=settings,
                external_id=DEMO_STREAM_ID,
                metadata={"account": "demo-streamer", "viewers": 3},
            )
            session.commit()
            return row.id
    finally:
        engine.dispose()


class DemoReceiver:
    """The demo's webhook endpoint (`vangnet.actions.receiver.WebhookReceiver`) with a fresh
    secret, reporting each delivery through ``say``."""

    def __init__(self, say: Callable[[str], None]) -> None:
        from vangnet.actions.receiver import WebhookReceiver

        def report(item: dict[str, Any]) -> None:
            if not item["ok"]:
                say(f"webhook rejected: {item['error']}")
            elif item.get("event"):
                alert = item["data"].get("alert", {})
                say(
                    f"webhook {item['event']} received, signature verified: alert "
                    f"{alert.get('id')} on stream {alert.get('stream_id')}"
                )

        self.receiver = WebhookReceiver(secrets.token_hex(16), report)
        self.secret = self.receiver.secret
        self.url = self.receiver.url


def print_alerts(settings: Settings, say: Callable[[str], None], stop: threading.Event) -> None:
    """Print every new alert, then its evidence once preserved (runs until ``stop``)."""
    from vangnet.evidence.reading import list_evidence
    from vangnet.live.alerts import list_alerts

    engine = make_engine(settings.effective_database_url)
    last = 0
    pending: dict[int, float] = {}
    try:
        with Session(engine) as session:
            found = list_alerts(session, after_id=0, limit=100_000)
            last = found[-1].id if found else 0
        while not stop.wait(1.0):
            with Session(engine) as session:
                for alert in list_alerts(session, after_id=last):
                    last = alert.id
                    pending[alert.id] = 0
                    say(
                        f"ALERT {alert.id}: stream {alert.stream_id} shows {alert.bank} item "
                        f"{alert.bank_content_id} ({alert.category}) from "
                        f"{alert.first_stream_time:.1f} s, distance {alert.best_distance}, "
                        f"rule: {alert.rule}"
                    )
                for alert_id in list(pending):
                    items = list_evidence(session, alert_id=alert_id)
                    pending[alert_id] += 1
                    if len(items) >= 3 or pending[alert_id] > 10:
                        del pending[alert_id]
                        say(
                            f"evidence for alert {alert_id}: {len(items)} frames encrypted in "
                            f"{settings.vault_dir} (see: vangnet alerts show {alert_id})"
                        )
    finally:
        engine.dispose()
