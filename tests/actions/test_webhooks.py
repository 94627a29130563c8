"""Webhook signing, the outbox and its deliverer, against a real HTTP receiver and both
databases. Time is driven through ``run_once(now=...)``; nothing sleeps to wait for backoff."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from vangnet.actions.webhooks import (
    EVENT_HEADER,
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Deliverer,
    WebhookSignatureError,
    claim_seconds,
    dead_letters,
    enqueue,
    retry,
    sign,
    signing_secret,
    verify,
)
from vangnet.config import Settings, get_settings, reset_settings
from vangnet.errors import ConflictError, NotFoundError, VangnetError
from vangnet.store.db import session_scope
from vangnet.store.models import Alert, WebhookDelivery, utcnow
from webhook_receiver import Receiver

SECRET = "correct-horse-battery-staple-5f3a"


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Any:
    def set_env(**values: object) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"VANGNET_{name.upper()}", str(value))
        reset_settings()

    return set_env


@pytest.fixture
def deliverers(db_engine: Engine) -> Iterator[list[Deliverer]]:
    """Deliverers made by `make`, all stopped (their HTTP clients closed) afterwards."""
    made: list[Deliverer] = []
    yield made
    for deliverer in made:
        deliverer.stop()


def make(deliverers: list[Deliverer], engine: Engine) -> Deliverer:
    deliverer = Deliverer(engine, settings=get_settings())
    deliverers.append(deliverer)
    return deliverer


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def queue(engine: Engine, key: str = "alert-1:stream.terminate", **kwargs: Any) -> int:
    with session_scope(engine) as session:
        delivery_id = enqueue(
            session,
            event=kwargs.pop("event", "stream.terminate"),
            payload=kwargs.pop("payload", {"stream": "abc", "alert": 1}),
            idempotency_key=key,
            **{"url": get_settings().webhook_url, **kwargs},
        )
    assert delivery_id is not None
    return delivery_id


def load(engine: Engine, delivery_id: int) -> WebhookDelivery:
    with Session(engine) as session:
        row = session.get(WebhookDelivery, delivery_id)
        assert row is not None
        return row


def signed(body: bytes, timestamp: int, key: str = "k-1") -> dict[str, str]:
    return {
        SIGNATURE_HEADER: sign(body, secret=SECRET.encode(), timestamp=timestamp),
        TIMESTAMP_HEADER: str(timestamp),
        IDEMPOTENCY_HEADER: key,
    }


# -- signing ------------------------------------------------------------------------------------


def test_sign_matches_the_documented_scheme() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"k", b"1700000000." + b'{"a":1}', hashlib.sha256).hexdigest()
    assert sign(b'{"a":1}', secret=b"k", timestamp=1700000000) == "v1=" + expected


def test_verify_accepts_a_signed_body_with_any_header_case() -> None:
    body, now = b'{"event":"alert.created"}', time.time()
    headers = {name.lower(): value for name, value in signed(body, int(now)).items()}
    seen: set[str] = set()
    verify(body, headers, secret=SECRET.encode(), now=now, seen=seen)
    assert seen == {"k-1"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("secret", "does not match"),
        ("body", "does not match"),
        ("old", "tolerance"),
        ("future", "tolerance"),
        ("no-signature", "missing"),
        ("no-timestamp", "missing"),
        ("bad-timestamp", "malformed"),
    ],
)
def test_verify_rejects(change: str, message: str) -> None:
    body, now = b'{"event":"alert.created"}', 1_800_000_000
    timestamp = now - 301 if change == "old" else now + 301 if change == "future" else now
    headers = signed(body, timestamp)
    secret = b"wrong" if change == "secret" else SECRET.encode()
    if change == "body":
        body = body.replace(b"alert", b"alarm")
    if change == "no-signature":
        del headers[SIGNATURE_HEADER]
    if change == "no-timestamp":
        del headers[TIMESTAMP_HEADER]
    if change == "bad-timestamp":
        headers[TIMESTAMP_HEADER] = "yesterday"
    with pytest.raises(WebhookSignatureError, match=message) as raised:
        verify(body, headers, secret=secret, now=now)
    assert isinstance(raised.value, VangnetError)


def test_verify_rejects_a_replayed_idempotency_key() -> None:
    body, now = b"{}", 1_800_000_000
    seen: set[str] = set()
    verify(body, signed(body, now), secret=SECRET.encode(), now=now, seen=seen)
    with pytest.raises(WebhookSignatureError, match="already seen"):
        verify(body, signed(body, now + 5), secret=SECRET.encode(), now=now + 5, seen=seen)


def test_signing_secret_sources(configure: Any, tmp_path: Path) -> None:
    assert signing_secret(get_settings()) is None
    secret_file = tmp_path / "webhook.key"
    secret_file.write_text(f"  {SECRET}\n")
    configure(webhook_secret_file=secret_file)
    assert signing_secret(get_settings()) == SECRET.encode()
    configure(webhook_secret="inline")
    assert signing_secret(get_settings()) == b"inline"  # the inline secret wins


# -- the outbox ---------------------------------------------------------------------------------


def count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(WebhookDelivery)) or 0


def test_enqueue_without_a_url_writes_nothing(db_engine: Engine) -> None:
    with session_scope(db_engine) as session:
        assert (
            enqueue(
                session,
                event="alert.created",
                payload={},
                idempotency_key="k",
                url=get_settings().webhook_url,
            )
            is None
        )
    assert count(db_engine) == 0


def test_enqueue_is_idempotent_on_the_key(db_engine: Engine, configure: Any) -> None:
    configure(webhook_url="https://platform.example/hooks")
    first = queue(db_engine, "same-key")
    assert queue(db_engine, "same-key", payload={"other": True}) == first
    with session_scope(db_engine) as session:  # twice in one transaction, too
        a = enqueue(
            session,
            event="alert.created",
            payload={},
            idempotency_key="k2",
            url=get_settings().webhook_url,
        )
        assert (
            enqueue(
                session,
                event="alert.created",
                payload={},
                idempotency_key="k2",
                url=get_settings().webhook_url,
            )
            == a
        )
    assert count(db_engine) == 2
    row = load(db_engine, first)
    assert (row.status, row.attempts, row.url) == ("pending", 0, "https://platform.example/hooks")
    document = json.loads(row.body)
    assert document["event"] == "stream.terminate"
    assert document["id"] == "same-key"
    assert document["data"] == {"stream": "abc", "alert": 1}
    assert document["created_at"].endswith("Z")
    assert row.body == json.dumps(document, sort_keys=True, separators=(",", ":"))


def test_enqueue_belongs_to_the_callers_transaction(db_engine: Engine, configure: Any) -> None:
    configure(webhook_url="https://platform.example/hooks")
    with Session(db_engine) as session:
        alert = Alert(
            bank="known", bank_content_id=1, signal_type="pdq", rule="r", first_stream_time=0,
            last_stream_time=1, best_distance=0,
        )  # fmt: skip
        session.add(alert)
        session.flush()
        assert enqueue(
            session,
            event="alert.created",
            payload={},
            idempotency_key="a",
            alert_id=alert.id,
            url=get_settings().webhook_url,
        )
        session.rollback()  # the alert's transaction failed: no webhook either
    assert count(db_engine) == 0


# -- delivery -----------------------------------------------------------------------------------


def test_delivery_is_signed_and_sends_the_stored_body(
    db_engine: Engine, receiver: Receiver, configure: Any, deliverers: list[Deliverer]
) -> None:
    configure(webhook_url=receiver.url, webhook_secret=SECRET)
    delivery_id = queue(db_engine)
    before = int(time.time())
    assert make(deliverers, db_engine).run_once() == 1
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    row = load(db_engine, delivery_id)
    assert request.path == "/hooks/vangnet"
    assert request.body == row.body.encode()
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers[EVENT_HEADER] == "stream.terminate"
    assert request.headers[IDEMPOTENCY_HEADER] == "alert-1:stream.terminate"
    assert int(request.headers[TIMESTAMP_HEADER]) >= before
    verify(request.body, request.headers, secret=SECRET.encode(), seen=set())
    assert (row.status, row.last_status, row.attempts, row.last_error) == (
        "delivered",
        200,
        0,
        None,
    )
    assert row.delivered_at is not None
    assert make(deliverers, db_engine).run_once() == 0  # delivered rows are not sent again


def test_retries_with_backoff_then_delivers(
    db_engine: Engine, receiver: Receiver, configure: Any, deliverers: list[Deliverer]
) -> None:
    configure(webhook_url=receiver.url, webhook_secret=SECRET, webhook_backoff_seconds=10)
    receiver.fail = 2
    delivery_id = queue(db_engine)
    deliverer = make(deliverers, db_engine)
    t0 = load(db_engine, delivery_id).next_attempt_at
    assert deliverer.run_once(now=t0) == 1
    row = load(db_engine, delivery_id)
    assert (row.status, row.attempts, row.last_status, row.last_error) == (
        "pending", 1, 500, "HTTP 500",
    )  # fmt: skip
    assert row.next_attempt_at == t0 + timedelta(seconds=10)
    assert deliverer.run_once(now=t0 + timedelta(seconds=9.9)) == 0  # not due yet
    t1 = t0 + timedelta(seconds=10)
    assert deliverer.run_once(now=t1) == 1
    assert load(db_engine, delivery_id).next_attempt_at == t1 + timedelta(seconds=20)
    assert deliverer.run_once(now=t1 + timedelta(seconds=19)) == 0
    assert deliverer.run_once(now=t1 + timedelta(seconds=20)) == 1
    row = load(db_engine, delivery_id)
    assert (row.status, row.attempts, row.last_status) == ("delivered", 2, 200)
    assert len(receiver.requests) == 3
    assert {r.body for r in receiver.requests} == {row.body.encode()}
    assert {r.headers[IDEMPOTENCY_HEADER] for r in receiver.requests} == {row.idempotency_key}
    for request in receiver.requests:  # each attempt is signed with its own timestamp
        verify(request.body, request.headers, secret=SECRET.encode())


def test_dead_letter_after_max_attempts_then_retry(
    db_engine: Engine, receiver: Receiver, configure: Any, deliverers: list[Deliverer]
) -> None:
    configure(
        webhook_url=receiver.url, webhook_secret=SECRET, webhook_max_attempts=4,
        webhook_backoff_seconds=100,
    )  # fmt: skip
    receiver.fail = 1000
    delivery_id = queue(db_engine)
    deliverer = make(deliverers, db_engine)
    at = utcnow()
    delays = []
    for _ in range(4):
        assert deliverer.run_once(now=at) == 1
        row = load(db_engine, delivery_id)
        delays.append((row.next_attempt_at - at).total_seconds())
        at = row.next_attempt_at
    assert delays[:3] == [100, 200, 300]  # doubling, capped at five minutes
    row = load(db_engine, delivery_id)
    assert (row.status, row.attempts, row.last_status) == ("dead", 4, 500)
    assert deliverer.run_once(now=at + timedelta(days=1)) == 0
    assert len(receiver.requests) == 4

    with Session(db_engine) as session:
        assert [d.id for d in dead_letters(session)] == [delivery_id]
        with pytest.raises(NotFoundError):
            retry(session, delivery_id + 1000)
        retry(session, delivery_id)
        session.commit()
        assert dead_letters(session) == []
        with pytest.raises(ConflictError):
            retry(session, delivery_id)  # pending, not dead
    row = load(db_engine, delivery_id)
    assert (row.status, row.attempts) == ("pending", 0)

    receiver.fail = 0
    assert deliverer.run_once(now=utcnow() + timedelta(seconds=1)) == 1
    assert load(db_engine, delivery_id).status == "delivered"
    assert len(receiver.requests) == 5


def test_the_backoff_cap_is_the_setting_passed_in(
    db_engine: Engine, receiver: Receiver, deliverers: list[Deliverer]
) -> None:
    settings = Settings(
        webhook_backoff_seconds=100, webhook_backoff_max_seconds=150, webhook_max_attempts=4
    )
    receiver.fail = 1000
    delivery_id = queue(db_engine, url=receiver.url)
    deliverer = Deliverer(db_engine, settings=settings)
    deliverers.append(deliverer)
    at = utcnow()
    delays = []
    for _ in range(3):
        assert deliverer.run_once(now=at) == 1
        row = load(db_engine, delivery_id)
        delays.append((row.next_attempt_at - at).total_seconds())
        at = row.next_attempt_at
    assert delays == [100, 150, 150]  # doubling, capped at webhook_backoff_max_seconds


def test_timeout_is_a_failed_attempt(
    db_engine: Engine, receiver: Receiver, configure: Any, deliverers: list[Deliverer]
) -> None:
    configure(webhook_url=receiver.url, webhook_secret=SECRET, webhook_timeout_seconds=0.2)
    receiver.hang = 30
    delivery_id = queue(db_engine)
    assert make(deliverers, db_engine).run_once() == 1
    row = load(db_engine, delivery_id)
    assert (row.status, row.attempts, row.last_status) == ("pending", 1, None)
    assert row.last_error is not None and "Timeout" in row.last_error
    assert len(receiver.requests) == 1


def test_connection_refused_is_a_failed_attempt(
    db_engine: Engine, configure: Any, deliverers: list[Deliverer]
) -> None:
    configure(webhook_url=closed_port_url(), webhook_secret=SECRET)
    delivery_id = queue(db_engine)
    assert make(deliverers, db_engine).run_once() == 1
    row = load(db_engine, delivery_id)
    assert (row.status, row.attempts, row.last_status) == ("pending", 1, None)
    assert row.last_error is not None and "ConnectError" in row.last_error


def test_redirects_are_not_followed(
    db_engine: Engine, receiver: Receiver, configure: Any, deliverers: list[Deliverer]
) -> None:
    configure(webhook_url=receiver.url, webhook_secret=SECRET)
    receiver.redirect_to = receiver.url + "/elsewhere"
    delivery_id = queue(db_engine)
    assert make(deliverers, db_engine).run_once() == 1
    row = load(db_engine, delivery_id)
    assert (row.status, row.attempts, row.last_status) == ("pending", 1, 302)
    assert [r.path for r in receiver.requests] == ["/hooks/vangnet"]


def test_secret_from_file_signs_deliveries(
    db_engine: Engine,
    receiver: Receiver,
    configure: Any,
    deliverers: list[Deliverer],
    tmp_path: Path,
) -> None:
    secret_file = tmp_path / "webhook.key"
    secret_file.write_text(SECRET + "\n")
    configure(webhook_url=receiver.url, webhook_secret_file=secret_file)
    queue(db_engine)
    assert make(deliverers, db_engine).run_once() == 1
    request = receiver.requests[0]
    verify(request.body, request.headers, secret=SECRET.encode())
    with pytest.raises(WebhookSignatureError):
        verify(request.body, request.headers, secret=(SECRET + "\n").encode())


def test_the_secret_never_reaches_last_error(
    db_engine: Engine, receiver: Receiver, configure: Any, deliverers: list[Deliverer]
) -> None:
    configure(webhook_url=receiver.url, webhook_secret=SECRET, webhook_timeout_seconds=0.2)
    receiver.fail, receiver.answer_body = 1, f"bad signature, expected key {SECRET}".encode()
    answered = queue(db_engine, "answered")
    refused = queue(db_engine, "refused", url=closed_port_url() + f"?token={SECRET}")
    bad = queue(db_engine, "bad-url", url=f"http://127.0.0.1:{SECRET}/")  # httpx quotes it
    assert make(deliverers, db_engine).run_once() == 3
    for delivery_id in (answered, refused, bad):
        row = load(db_engine, delivery_id)
        assert row.attempts == 1
        assert row.last_error
        assert SECRET not in row.last_error
    assert load(db_engine, bad).last_error == "InvalidURL: Invalid port: '***'"


def test_unsigned_without_a_secret_and_warns_once(
    db_engine: Engine,
    receiver: Receiver,
    configure: Any,
    deliverers: list[Deliverer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    configure(webhook_url=receiver.url)
    queue(db_engine, "one")
    deliverer = make(deliverers, db_engine)
    with caplog.at_level(logging.WARNING, logger="vangnet.actions.webhooks"):
        assert deliverer.run_once() == 1
        queue(db_engine, "two")
        assert deliverer.run_once() == 1
    assert [r.headers.get(SIGNATURE_HEADER) for r in receiver.requests] == [None, None]
    assert sum("unsigned" in r.getMessage() for r in caplog.records) == 1


def test_two_deliverers_send_each_row_once(
    db_engine: Engine, receiver: Receiver, configure: Any, deliverers: list[Deliverer]
) -> None:
    configure(webhook_url=receiver.url, webhook_secret=SECRET)
    ids = [queue(db_engine, f"k-{n}") for n in range(20)]
    first, second = make(deliverers, db_engine), make(deliverers, db_engine)
    counts: list[int] = []
    barrier = threading.Barrier(2)

    def run(deliverer: Deliverer) -> None:
        barrier.wait()
        counts.append(deliverer.run_once())

    threads = [threading.Thread(target=run, args=(d,)) for d in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 20
    keys = [r.headers[IDEMPOTENCY_HEADER] for r in receiver.requests]
    assert sorted(keys) == sorted(f"k-{n}" for n in range(20))
    assert {load(db_engine, i).status for i in ids} == {"delivered"}


def test_background_thread_delivers(
    db_engine: Engine, receiver: Receiver, configure: Any, deliverers: list[Deliverer]
) -> None:
    configure(webhook_url=receiver.url, webhook_secret=SECRET)
    deliverer = make(deliverers, db_engine)
    deliverer.start(poll_seconds=0.02)
    delivery_id = queue(db_engine)
    deadline = time.monotonic() + 10
    while load(db_engine, delivery_id).status != "delivered" and time.monotonic() < deadline:
        time.sleep(0.02)
    deliverer.stop()
    assert load(db_engine, delivery_id).status == "delivered"
    assert len(receiver.requests) == 1


def test_run_once_takes_an_aware_now(db_engine: Engine, deliverers: list[Deliverer]) -> None:
    assert make(deliverers, db_engine).run_once(now=datetime.now().astimezone()) == 0


# -- claims: a dead sender's deliveries come back soon, a slow live one keeps its own -----------

_CLAIM_AND_DIE = """
import sys
from vangnet.actions.webhooks import Deliverer
from vangnet.config import get_settings
from vangnet.store.db import make_engine

Deliverer(make_engine(sys.argv[1]), settings=get_settings()).run_once()
"""


def test_a_killed_senders_claim_runs_out_within_two_timeouts(
    db_url: str,
    db_engine: Engine,
    receiver: Receiver,
    configure: Any,
    deliverers: list[Deliverer],
) -> None:
    """A process killed (kill -9) while its request is under way leaves its claim behind;
    another deliverer sends the row once the claim runs out (2 timeouts + 2 s, not the
    4 timeouts + 30 s it once was), and not before."""
    configure(webhook_url=receiver.url, webhook_secret=SECRET, webhook_timeout_seconds=1)
    receiver.hang = 60  # the doomed sender's request hangs until it is killed
    delivery_id = queue(db_engine)
    doomed = subprocess.Popen([sys.executable, "-c", _CLAIM_AND_DIE, db_url])
    try:
        deadline = time.monotonic() + 60  # a bound for start-up on a loaded machine
        while not receiver.requests:
            assert doomed.poll() is None, "the sender ended before sending"
            assert time.monotonic() < deadline, "the sender never sent"
            time.sleep(0.02)
        sent_at = time.monotonic()
    finally:
        doomed.kill()
        doomed.wait()
    receiver.hang = 0
    receiver.release.set()
    survivor = make(deliverers, db_engine)
    claim = 2 * 1 + 2.0  # two timeouts and a margin
    assert claim_seconds(1) == claim
    while survivor.run_once() == 0:
        assert time.monotonic() - sent_at < claim + 3, "the dead sender's claim never ran out"
        time.sleep(0.05)
    waited = time.monotonic() - sent_at
    assert waited >= claim - 0.5  # not before the claim ran out
    row = load(db_engine, delivery_id)
    assert (row.status, row.attempts) == ("delivered", 0)
    keys = [r.headers[IDEMPOTENCY_HEADER] for r in receiver.requests]
    assert keys == ["alert-1:stream.terminate"] * 2  # at least once, with one key


def test_a_slow_live_sender_keeps_its_claim_past_its_length(
    db_engine: Engine, receiver: Receiver, configure: Any, deliverers: list[Deliverer]
) -> None:
    """An endpoint that answers slowly (a byte at a time, each within the timeout) keeps the
    request going longer than a claim lasts: the sender renews its claim meanwhile, so a
    second deliverer polling all along never sends the row a second time."""
    configure(webhook_url=receiver.url, webhook_secret=SECRET, webhook_timeout_seconds=0.5)
    claim = claim_seconds(0.5)
    receiver.trickle = claim + 1.5  # the answer takes longer than a claim lasts
    delivery_id = queue(db_engine)
    slow, other = make(deliverers, db_engine), make(deliverers, db_engine)
    done: list[int] = []
    sender = threading.Thread(target=lambda: done.append(slow.run_once()))
    started = time.monotonic()
    sender.start()
    while not receiver.requests:
        assert time.monotonic() - started < 10, "the first sender never sent"
        time.sleep(0.01)
    while sender.is_alive():
        assert other.run_once() == 0  # the row stays claimed while the request lasts
        time.sleep(0.05)
    sender.join()
    assert time.monotonic() - started > claim  # the request did outlast one claim
    assert done == [1]
    row = load(db_engine, delivery_id)
    assert (row.status, row.attempts, row.last_status) == ("delivered", 0, 200)
    assert len(receiver.requests) == 1
    assert other.run_once() == 0
