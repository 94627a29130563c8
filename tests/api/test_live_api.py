"""The live-stream API: push streams (frames and hashes), pulled streams, alerts and their
acknowledgement, the Server-Sent Events feed (against a real uvicorn server), dead-lettered
webhooks, permissions and bad input."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import audited
from vangnet.actions import webhooks
from vangnet.api import live
from vangnet.api.app import create_app
from vangnet.banks.bank import create_bank
from vangnet.banks.categories import Category
from vangnet.banks.contents import add_content
from vangnet.config import Settings, get_settings
from vangnet.live.clips import Shot, encode_clip
from vangnet.live.streams import create_stream
from vangnet.signals.hashing import hash_file, signal_values
from vangnet.store.db import make_engine, writer
from vangnet.store.models import WebhookDelivery

from .conftest import AppFactory, make_key, poll, refresh

PHOTOS = Path("photos/bsds500/train")
PDQ_OTHER = "0f0f0f0f33cc33cc55aa55aa0ff00ff0f0f0f0f0cc33cc33aa55aa55f00ff00f"
WAIT = 15.0  # bound on asynchronous processing (not a timing assertion)


@pytest.fixture
def photos(shared_data: Path) -> list[Path]:
    found = sorted((shared_data / PHOTOS).glob("*.jpg"))
    assert len(found) > 50
    return found


def bank_photo(db_url: str, photo: Path, *, name: str = "KNOWN") -> int:
    """A bank holding ``photo``; returns its content id."""
    engine = audited(make_engine(db_url))
    try:
        with Session(writer(engine)) as s:  # the running server writes too
            create_bank(s, name=name)
            content_id = add_content(
                s,
                bank=name,
                signals=signal_values(hash_file(photo, settings=get_settings())),
                category=Category.parse("vics:1"),
            )
            s.commit()
    finally:
        engine.dispose()
    return content_id


def start_push(client: Any, **fields: Any) -> int:
    r = client.post("/v1/streams", json={"url": None, **fields})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["kind"] == "push" and body["state"] == "live"
    stream_id: int = body["id"]
    return stream_id


def push_jpeg(client: Any, stream_id: int, data: bytes, stream_time: float | str) -> Any:
    return client.post(
        f"/v1/streams/{stream_id}/frames",
        params={"stream_time": stream_time},
        content=data,
        headers={"Content-Type": "image/jpeg"},
    )


def alerts_of(client: Any, stream_id: int) -> list[dict[str, Any]]:
    r = client.get("/v1/alerts", params={"stream_id": stream_id})
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["alerts"]
    return found


def wait_alert(client: Any, stream_id: int) -> dict[str, Any]:
    assert poll(lambda: bool(alerts_of(client, stream_id)), timeout=WAIT), "no alert"
    [alert] = alerts_of(client, stream_id)
    return alert


def samples_of(client: Any, stream_id: int) -> int:
    r = client.get(f"/v1/streams/{stream_id}")
    assert r.status_code == 200, r.text
    count: int = r.json()["live"]["samples"]
    return count


def test_pushed_frames_and_hashes_raise_alerts(
    client: TestClient, db_url: str, photos: list[Path]
) -> None:
    known, unrelated = photos[0], photos[40]
    content_id = bank_photo(db_url, known)
    refresh(client)

    stream = start_push(client, external_id="room-1", metadata={"account": "a1"}, fps=2)
    data = known.read_bytes()
    r = push_jpeg(client, stream, data, 1.0)
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 1}
    r = client.post(  # the same frame as a multipart upload, stream_time as a form field
        f"/v1/streams/{stream}/frames",
        files={"file": ("frame.jpg", data, "image/jpeg")},
        data={"stream_time": "2.0"},
    )
    assert r.status_code == 202, r.text
    assert push_jpeg(client, stream, unrelated.read_bytes(), 3.0).status_code == 202

    alert = wait_alert(client, stream)
    assert alert["content_id"] == content_id and alert["bank"] == "KNOWN"
    assert alert["stream_id"] == stream and alert["category"] == "vics:1"
    assert alert["status"] == "open" and alert["first_stream_time"] == 1.0
    assert poll(lambda: samples_of(client, stream) == 3, timeout=WAIT)
    shown = client.get(f"/v1/streams/{stream}").json()
    assert shown["external_id"] == "room-1" and shown["metadata"] == {"account": "a1"}
    assert shown["live"]["state"] == "live" and shown["live"]["dropped"] == 0

    # the alert with its frames and evidence (hashes and custody only, never media)
    def evidence() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = client.get(f"/v1/alerts/{alert['id']}").json()["evidence"]
        return found

    assert poll(lambda: len(evidence()) >= 2, timeout=WAIT)
    detail = client.get(f"/v1/alerts/{alert['id']}").json()
    assert [f["stream_time"] for f in detail["frames"]][:2] == [1.0, 2.0]
    matched = [e for e in detail["evidence"] if e["matched"]]
    assert len(matched) == 2 and all(e["media_type"] == "image/jpeg" for e in matched)
    assert all(len(e["sha256"]) == 64 and e["custody"][0]["action"] == "captured" for e in matched)
    assert "data" not in json.dumps(detail["evidence"])

    # acknowledge: the key's name by default; a second time keeps the first record
    r = client.post(f"/v1/alerts/{alert['id']}/acknowledge")
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["status"] == "acknowledged" and first["acknowledged_by"] == "test-admin"
    again = client.post(f"/v1/alerts/{alert['id']}/acknowledge", json={"by": "someone else"})
    assert again.status_code == 200
    assert again.json()["acknowledged_by"] == "test-admin"
    assert again.json()["acknowledged_at"] == first["acknowledged_at"]
    assert client.get("/v1/alerts", params={"status": "open"}).json()["alerts"] == []
    acked = client.get("/v1/alerts", params={"status": "acknowledged"}).json()["alerts"]
    assert [a["id"] for a in acked] == [alert["id"]]

    # stop: the stream ends and takes no more frames
    r = client.post(f"/v1/streams/{stream}/stop")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "ended"
    stopped = push_jpeg(client, stream, data, 4.0)
    assert stopped.status_code == 409, stopped.text
    assert stopped.json()["error"]["code"] == "conflict"
    assert client.post(f"/v1/streams/{stream}/stop").json()["state"] == "ended"  # idempotent

    # hash-only push: the platform hashes its frames itself
    pdq = hash_file(known, settings=get_settings())["pdq"]
    second = start_push(client)
    frames = [{"stream_time": t, "pdq": pdq, "quality": 100} for t in (5.0, 6.0)]
    r = client.post(f"/v1/streams/{second}/hashes", json={"frames": frames})
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 2}
    hashed = wait_alert(client, second)
    assert hashed["content_id"] == content_id and hashed["id"] != alert["id"]
    assert hashed["frames_matched"] == 2

    listed = client.get("/v1/streams").json()["streams"]
    assert [s["id"] for s in listed] == [second, stream]
    active = client.get("/v1/streams", params={"active": True}).json()["streams"]
    assert [s["id"] for s in active] == [second]
    page = client.get("/v1/alerts", params={"limit": 1}).json()
    assert [a["id"] for a in page["alerts"]] == [alert["id"]]
    rest = client.get("/v1/alerts", params={"after_id": page["next_after_id"]}).json()
    assert [a["id"] for a in rest["alerts"]] == [hashed["id"]]


def test_bad_pushes(client: TestClient, photos: list[Path]) -> None:
    stream = start_push(client)
    data = photos[1].read_bytes()
    url = f"/v1/streams/{stream}/frames"

    def error(r: Any, status: int) -> str:
        assert r.status_code == status, (status, r.status_code, r.text)
        body = r.json()
        assert set(body) == {"error"} and body["error"]["message"]
        code: str = body["error"]["code"]
        return code

    missing = push_jpeg(client, 999_999, data, 1.0)
    assert error(missing, 404) == "not_found"
    nope = client.post(
        "/v1/streams/999999/hashes",
        json={"frames": [{"stream_time": 0, "pdq": PDQ_OTHER, "quality": 90}]},
    )
    assert error(nope, 404) == "not_found"
    corrupt = push_jpeg(client, stream, b"\xff\xd8\xff\xe0" + b"\x00garbage" * 50, 1.0)
    assert corrupt.status_code in (415, 422), corrupt.text
    truncated = push_jpeg(client, stream, data[: len(data) // 3], 1.0)
    assert truncated.status_code in (415, 422), truncated.text
    error(push_jpeg(client, stream, b"", 1.0), 422)
    empty_file = client.post(
        url, files={"file": ("f.jpg", b"", "image/jpeg")}, data={"stream_time": "1"}
    )
    error(empty_file, 422)
    text = client.post(
        url, params={"stream_time": 1}, content=b"hello", headers={"Content-Type": "text/plain"}
    )
    assert error(text, 415) == "unsupported_media_type"
    no_type = client.post(url, params={"stream_time": 1}, content=data)
    error(no_type, 415)
    no_time = client.post(url, content=data, headers={"Content-Type": "image/jpeg"})
    assert "stream_time" in error(no_time, 400) + no_time.json()["error"]["message"]
    error(client.post(url, files={"file": ("f.jpg", data, "image/jpeg")}), 400)
    for bad in ("-1", "nan", "inf", "soon"):
        error(push_jpeg(client, stream, data, bad), 400)
        form = client.post(
            url, files={"file": ("f.jpg", data, "image/jpeg")}, data={"stream_time": bad}
        )
        error(form, 400)
    two = client.post(
        url,
        params={"stream_time": 1},
        files=[("file", ("a.jpg", data, "image/jpeg")), ("file", ("b.jpg", data, "image/jpeg"))],
    )
    error(two, 400)
    no_file = client.post(
        url, params={"stream_time": 1}, files={"other": ("a.jpg", data, "image/jpeg")}
    )
    error(no_file, 400)

    # hashes: every frame is checked before any is queued
    hashes = f"/v1/streams/{stream}/hashes"
    good = {"stream_time": 1.0, "pdq": PDQ_OTHER, "quality": 90}
    bad_hash = client.post(hashes, json={"frames": [good, {**good, "pdq": "xyz"}]})
    assert error(bad_hash, 400) == "invalid_hash"
    assert "frames[1]" in bad_hash.json()["error"]["message"]
    bodies: list[dict[str, Any]] = [
        {"frames": []},
        {"frames": [{**good, "quality": 101}]},
        {"frames": [{**good, "stream_time": -1}]},
        {"frames": [{"stream_time": 1.0, "pdq": PDQ_OTHER}]},
        {"frames": [{**good, "extra": 1}]},
        {"frames": [good], "extra": 1},
        {"frames": [good] * 1001},
    ]
    for body in bodies:
        error(client.post(hashes, json=body), 400)
    error(
        client.post(hashes, content=b"{not json", headers={"Content-Type": "application/json"}), 400
    )
    # nothing was queued by the refused requests: one good frame makes the first sample
    assert client.post(hashes, json={"frames": [{**good, "stream_time": 9.0}]}).status_code == 202
    assert poll(lambda: samples_of(client, stream) >= 1, timeout=WAIT)
    live_status = client.get(f"/v1/streams/{stream}").json()["live"]
    assert live_status["samples"] == 1 and live_status["stream_time"] == 9.0

    # streams: bad URLs, rates and bodies
    streams: list[dict[str, Any]] = [
        {"url": "gopher://example.org/stream"},
        {"url": ""},
        {"url": None, "fps": 0},
        {"url": None, "fps": -1},
        {"url": None, "fps": 31},
        {"url": None, "unknown": True},
        {"url": None, "metadata": "not an object"},
        {"url": None, "external_id": "x" * 256},
    ]
    for body in streams:
        error(client.post("/v1/streams", json=body), 400)

    for path in ("/v1/streams/999999", "/v1/alerts/999999"):
        error(client.get(path), 404)
    error(client.post("/v1/streams/999999/stop"), 404)
    error(client.post("/v1/alerts/999999/acknowledge"), 404)
    error(client.post("/v1/webhooks/999999/retry"), 404)
    error(client.get("/v1/alerts", params={"status": "closed"}), 400)
    error(client.get("/v1/alerts", params={"limit": 1001}), 400)
    error(client.get("/v1/alerts/feed", headers={"Last-Event-ID": "latest"}), 400)


def test_upload_limit(make_client: AppFactory, admin_key: str, photos: list[Path]) -> None:
    client = make_client(max_upload_bytes=2000)
    client.headers["X-API-Key"] = admin_key
    stream = start_push(client)
    data = photos[2].read_bytes()
    assert len(data) > 2000
    r = push_jpeg(client, stream, data, 1.0)
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "media_too_large"
    r = client.post(
        f"/v1/streams/{stream}/frames",
        files={"file": ("f.jpg", data, "image/jpeg")},
        data={"stream_time": "1"},
    )
    assert r.status_code == 413, r.text


LIVE_ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/v1/streams", {"url": None}),
    ("GET", "/v1/streams", None),
    ("GET", "/v1/streams/1", None),
    ("POST", "/v1/streams/1/stop", None),
    ("POST", "/v1/streams/1/frames?stream_time=1", None),
    (
        "POST",
        "/v1/streams/1/hashes",
        {"frames": [{"stream_time": 1, "pdq": PDQ_OTHER, "quality": 1}]},
    ),
    ("GET", "/v1/alerts", None),
    ("GET", "/v1/alerts/feed", None),
    ("GET", "/v1/alerts/1", None),
    ("POST", "/v1/alerts/1/acknowledge", None),
    ("GET", "/v1/webhooks/dead", None),
    ("POST", "/v1/webhooks/1/retry", None),
]


def test_keys_and_roles(make_client: AppFactory, db_url: str, admin_key: str) -> None:
    client = make_client()
    for method, path, body in LIVE_ROUTES:
        r = client.request(method, path, json=body)
        assert r.status_code == 401, (method, path, r.text)
        assert r.json()["error"]["code"] == "unauthorized"

    client.headers["X-API-Key"] = admin_key  # requests below with other keys override it
    stream = start_push(client)
    reviewer = {"X-API-Key": make_key(db_url, "reviewer")}
    r = client.post("/v1/streams", json={"url": None}, headers=reviewer)
    assert r.status_code == 403, r.text
    assert "may not start, stop or push to streams" in r.json()["error"]["message"]
    for method, path in (
        ("POST", f"/v1/streams/{stream}/stop"),
        ("POST", f"/v1/streams/{stream}/hashes"),
    ):
        assert client.request(method, path, json={}, headers=reviewer).status_code == 403
    assert client.get("/v1/alerts", headers=reviewer).status_code == 200
    assert client.get("/v1/webhooks/dead", headers=reviewer).status_code == 200
    assert client.get(f"/v1/streams/{stream}", headers=reviewer).status_code == 200

    matcher = {"X-API-Key": make_key(db_url, "matcher")}
    assert client.post("/v1/streams", json={"url": None}, headers=matcher).status_code == 201
    assert client.get("/v1/alerts", headers=matcher).status_code == 200

    curator = {"X-API-Key": make_key(db_url, "curator")}
    for method, path, body in LIVE_ROUTES:
        r = client.request(method, path, json=body, headers=curator)
        assert r.status_code == 403, (method, path, r.text)


def test_file_streams_are_refused_through_the_api_by_default(
    client: TestClient, tmp_path: Path
) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not even read")
    for url in (str(clip), f"file://{clip}", "/etc/passwd"):
        r = client.post("/v1/streams", json={"url": url})
        assert r.status_code == 403, r.text
        assert "VANGNET_LIVE_API_ALLOW_FILES" in r.json()["error"]["message"]
    assert client.get("/v1/streams").json()["streams"] == []


def test_pulled_stream(
    make_client: AppFactory, admin_key: str, db_url: str, photos: list[Path], tmp_path: Path
) -> None:
    client = make_client(live_api_allow_files=True)
    client.headers["X-API-Key"] = admin_key
    known = photos[3]
    content_id = bank_photo(db_url, known)
    refresh(client)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(encode_clip([Shot(Image.open(known), 3.0)]))

    r = client.post("/v1/streams", json={"url": str(clip), "fps": 2, "external_id": "vod"})
    assert r.status_code == 201, r.text
    stream = r.json()
    assert stream["kind"] == "pull" and stream["url"] == str(clip)
    pushed = push_jpeg(client, stream["id"], known.read_bytes(), 1.0)
    assert pushed.status_code == 409, pushed.text  # frames of a pulled stream come from its URL

    def state() -> str:
        found: str = client.get(f"/v1/streams/{stream['id']}").json()["state"]
        return found

    assert poll(lambda: state() == "ended", timeout=WAIT + 10)
    ended = client.get(f"/v1/streams/{stream['id']}").json()
    assert ended["samples"] >= 2 and ended["reason"] == "the stream ended"
    alert = wait_alert(client, stream["id"])
    assert alert["content_id"] == content_id

    # a stream that would run forever ends when stopped
    r = client.post("/v1/streams", json={"url": f"{clip}?loop=1"})
    assert r.status_code == 201, r.text
    looping = r.json()["id"]
    assert poll(lambda: samples_of(client, looping) >= 1, timeout=WAIT)
    r = client.post(f"/v1/streams/{looping}/stop")
    assert r.status_code == 200, r.text
    assert poll(
        lambda: client.get(f"/v1/streams/{looping}").json()["state"] == "ended", timeout=WAIT
    )
    assert client.get(f"/v1/streams/{looping}").json()["reason"] == "stopped by request"
    assert client.get("/openapi.json").status_code == 200


def test_streams_queued_elsewhere_are_taken_over(
    client: TestClient, db_url: str, photos: list[Path]
) -> None:
    """`vangnet serve` resumes streams created by another process (`vangnet streams start`)."""
    engine = audited(make_engine(db_url))
    try:
        with Session(engine) as s:
            stream_id = create_stream(
                s, url=None, external_id="elsewhere", settings=get_settings()
            ).id
            s.commit()
    finally:
        engine.dispose()

    def taken() -> bool:
        shown = client.get(f"/v1/streams/{stream_id}").json()
        return shown["state"] == "live" and "live" in shown

    assert poll(taken, timeout=WAIT)
    assert push_jpeg(client, stream_id, photos[4].read_bytes(), 0.0).status_code == 202


def test_dead_webhooks(client: TestClient, db_url: str) -> None:
    secret_url = "http://127.0.0.1:9/hook?token=s3cret"
    engine = audited(make_engine(db_url))
    try:
        with Session(writer(engine)) as s:  # the running monitor writes too (SQLite)
            delivery = webhooks.enqueue(
                s, event="alert.created", payload={"x": 1}, idempotency_key="k1", url=secret_url
            )
            row = s.get(WebhookDelivery, delivery)
            assert row is not None
            row.status, row.attempts, row.last_status = "dead", 8, None
            row.last_error = f"ConnectError: cannot reach {secret_url}"
            s.commit()
    finally:
        engine.dispose()

    r = client.get("/v1/webhooks/dead")
    assert r.status_code == 200, r.text
    [dead] = r.json()["deliveries"]
    assert dead["id"] == delivery and dead["event"] == "alert.created"
    assert dead["url"] == "http://127.0.0.1:9/hook" and "s3cret" not in json.dumps(dead)
    assert dead["attempts"] == 8 and dead["last_status"] is None
    assert {"created_at", "last_error"} <= set(dead)

    r = client.post(f"/v1/webhooks/{delivery}/retry")
    assert r.status_code == 200, r.text
    assert client.get("/v1/webhooks/dead").json()["deliveries"] == []
    engine = audited(make_engine(db_url))
    try:
        with Session(engine) as s:
            status = s.scalar(select(WebhookDelivery.status).where(WebhookDelivery.id == delivery))
    finally:
        engine.dispose()
    assert status == "pending"  # the deliverer is trying again (nothing listens on port 9)
    again = client.post(f"/v1/webhooks/{delivery}/retry")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"


# -- the Server-Sent Events feed, against a real server ---------------------------------------


@contextmanager
def serve(db_url: str) -> Iterator[tuple[str, Any]]:
    """The app under uvicorn on 127.0.0.1; yields its base URL and its FastAPI app."""
    app = create_app(Settings(database_url=db_url), start_background=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert poll(lambda: server.started or not thread.is_alive(), timeout=30)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        assert not thread.is_alive()


def read_events(response: httpx.Response, until: str) -> list[tuple[str, str, str | None]]:
    """(event, data, id) of the events and ("comment", text, None) of comments, up to and
    including the first of kind ``until``."""
    out: list[tuple[str, str, str | None]] = []
    event, data, event_id = "message", "", None
    for line in response.iter_lines():
        if line.startswith(":"):
            out.append(("comment", line[1:].strip(), None))
            if until == "comment" and out[-1][1] != "connected":
                return out
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line.startswith("id: "):
            event_id = line[4:]
        elif line == "" and data:
            out.append((event, data, event_id))
            if event == until:
                return out
            event, data, event_id = "message", "", None
    raise AssertionError(f"the feed ended before a {until!r} event: {out}")


def test_alert_feed(db_url: str, photos: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "KEEPALIVE_SECONDS", 0.3)
    known = photos[5]
    content_id = bank_photo(db_url, known)
    key = make_key(db_url, "reviewer", name="feed-reader")
    pusher = make_key(db_url, "matcher")
    with serve(db_url) as (base, app):
        hub = app.state.services.events
        timeout = httpx.Timeout(10.0)
        with (
            httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=timeout) as reader,
            httpx.Client(base_url=base, headers={"X-API-Key": pusher}, timeout=timeout) as writer,
        ):
            with reader.stream("GET", "/v1/alerts/feed") as feed:
                assert feed.status_code == 200
                assert feed.headers["content-type"].startswith("text/event-stream")
                assert poll(lambda: hub.subscribers == 1)
                stream = start_push(writer)
                for t in (1.0, 2.0):
                    assert push_jpeg(writer, stream, known.read_bytes(), t).status_code == 202
                events = read_events(feed, until="alert")
            states = [json.loads(d) for e, d, _ in events if e == "state"]
            assert {"stream": stream, "state": "live"}.items() <= states[0].items()
            _, data, event_id = events[-1]
            alert = json.loads(data)
            assert alert["content_id"] == content_id and alert["stream"] == stream
            assert alert["bank"] == "KNOWN" and event_id == str(alert["alert_id"])
            assert poll(lambda: hub.subscribers == 0)  # the client left: unsubscribed

            # replay from the database: ?after_id=0, then Last-Event-ID
            with reader.stream("GET", "/v1/alerts/feed", params={"after_id": 0}) as feed:
                replayed = read_events(feed, until="alert")[-1]
            assert replayed[2] == event_id
            assert json.loads(replayed[1])["replayed"] is True
            assert json.loads(replayed[1])["content_id"] == content_id
            with reader.stream(
                "GET", "/v1/alerts/feed", headers={"Last-Event-ID": event_id}
            ) as feed:
                quiet = read_events(feed, until="comment")  # keepalive, nothing replayed
            assert [e for e, _, _ in quiet] == ["comment", "comment"]
            assert quiet[-1][1] == "keepalive"
            assert poll(lambda: hub.subscribers == 0)
            assert writer.post(f"/v1/streams/{stream}/stop").status_code == 200


def test_prometheus_metrics(client: TestClient, db_url: str, photos: list[Path]) -> None:
    stream = client.post("/v1/streams", json={"url": None}).json()["id"]
    assert push_jpeg(client, stream, photos[0].read_bytes(), 1.0).status_code == 202
    assert poll(lambda: samples_of(client, stream) >= 1, timeout=WAIT)
    r = client.get("/v1/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert f'vangnet_stream_samples_total{{stream="{stream}"}} 1' in text
    assert f'vangnet_stream_dropped_samples_total{{stream="{stream}"}} 0' in text
    assert f'vangnet_stream_state{{stream="{stream}",state="live"}} 1' in text
    assert 'vangnet_webhook_deliveries{status="dead"} 0' in text
    assert 'vangnet_index_entries{signal_type="pdq"}' in text
    assert "# TYPE vangnet_stream_alerts_total counter" in text
    reviewer = {"X-API-Key": make_key(db_url, "reviewer")}
    assert client.get("/v1/metrics", headers=reviewer).status_code == 200
    assert client.get("/v1/metrics", headers={"X-API-Key": ""}).status_code == 401
