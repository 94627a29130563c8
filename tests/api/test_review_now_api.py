"""Live review-now alerts through the user's path: two streams published with ffmpeg on
127.0.0.1 and scored by a registered test classifier (controlled scores: brightness read as
sexual content); the bright one raises a review-now alert (API ``kind`` "review_now", its
frames kept in the vault, metrics, a signed ``stream.review_now`` webhook received by a real
HTTP server, its case first in the review queue, the CLI), the dark one, below the rule,
raises none; neither stream is stopped (never a verdict)."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cli_invoke import invoke, json_lines
from live.streaming import free_port, publish
from live.test_review_now import Bright, _entry, _sample
from vangnet.actions.webhooks import verify
from vangnet.api import live as live_api
from vangnet.config import get_settings
from vangnet.errors import ExitCode
from vangnet.http.feed import EventHub, FeedItem
from vangnet.live import review_now_alerts
from vangnet.live.clips import Shot, encode_clip
from vangnet.signals.classifiers import base
from vangnet.signals.classifiers.enabled import forget_instances
from vangnet.store.models import Alert, Stream

from .conftest import AppFactory, poll
from .test_review_api import _persons_key

SECRET = "review-now-secret-5e2a"
WAIT = 30.0  # bound on asynchronous processing (not a timing assertion)


# -- the user's path: ffmpeg on 127.0.0.1, the API, the webhook, the queue, the CLI ------------


@pytest.fixture
def bright_classifier(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    base.REGISTRY.register(Bright)
    forget_instances()
    monkeypatch.setenv("VANGNET_CLASSIFIERS", Bright.name)
    try:
        yield
    finally:
        base.REGISTRY.unregister(Bright.name)
        forget_instances()


@pytest.fixture
def clips(tmp_path: Path, shared_data: Path) -> tuple[Path, Path]:
    """A bright clip (every scored sample likely) and a dark one (none), 20 s each."""
    photo = Image.open(sorted((shared_data / "photos/bsds500/train").glob("*.jpg"))[0])
    bright = Image.eval(photo.convert("L"), lambda v: 200 + v // 5).convert("RGB")
    dark = Image.eval(photo.convert("L"), lambda v: v // 5).convert("RGB")
    out = []
    for name, picture in (("bright", bright), ("dark", dark)):
        path = tmp_path / f"{name}.ts"
        path.write_bytes(
            encode_clip([Shot(picture, 20.0)], width=640, height=360, container="mpegts")
        )
        out.append(path)
    return out[0], out[1]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_stream_that_meets_the_rule_raises_a_review_now_alert_end_to_end(
    make_client: AppFactory,
    admin_key: str,
    db_url: str,
    receiver: Any,
    clips: tuple[Path, Path],
    bright_classifier: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg is not None, "ffmpeg is missing: run scripts/system-packages"
    client: TestClient = make_client(
        live_review_now_webhook_url=receiver.url, webhook_secret=SECRET
    )
    client.headers["X-API-Key"] = admin_key
    ports = [free_port(), free_port()]
    ids = []
    for port, name in zip(ports, ("bright", "dark"), strict=True):
        r = client.post("/v1/streams", json={"url": f"udp://127.0.0.1:{port}", "external_id": name})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    bright, dark = ids
    outputs = [["-f", "mpegts", f"udp://127.0.0.1:{p}?pkt_size=1316"] for p in ports]

    def listed(**params: Any) -> list[dict[str, Any]]:
        r = client.get("/v1/alerts", params=params)
        assert r.status_code == 200, r.text
        found: list[dict[str, Any]] = r.json()["alerts"]
        return found

    with publish(ffmpeg, clips[0], outputs[0]), publish(ffmpeg, clips[1], outputs[1]):
        assert poll(lambda: bool(listed(stream_id=bright, kind="review_now")), timeout=WAIT)
        assert poll(lambda: client.get(f"/v1/streams/{dark}").json()["samples"] >= 5, timeout=WAIT)
        metrics = client.get("/v1/metrics").text
    [alert] = listed(stream_id=bright)
    assert alert["kind"] == "review_now" and alert["samples"] >= 2
    # the priority signal keeps half a sexual-content score with no face read as a minor
    assert alert["best_value"] >= 0.25 and "bright" in alert["summary"]
    assert listed(stream_id=bright, kind="match") == []
    assert listed(stream_id=dark) == []  # below the rule: nothing
    shown = client.get(f"/v1/alerts/{alert['id']}").json()
    assert len(shown["frames"]) == shown["samples"] >= 2  # one per qualifying sample
    assert poll(lambda: len(client.get(f"/v1/alerts/{alert['id']}").json()["evidence"]) >= 2)
    # never a verdict: the stream still runs
    assert client.get(f"/v1/streams/{bright}").json()["state"] in ("live", "connecting", "stalled")
    assert f'vangnet_stream_review_now_alerts_total{{stream="{bright}"}} 1' in metrics
    assert f'vangnet_stream_review_now_alerts_total{{stream="{dark}"}} 0' in metrics
    assert f'vangnet_stream_review_now_samples_total{{stream="{dark}"}} 0' in metrics
    # the signed webhook at the deployment's review-now destination
    assert poll(lambda: bool(receiver.requests), timeout=WAIT)
    (got,) = receiver.requests
    verify(got.body, got.headers, secret=SECRET.encode())
    body = json.loads(got.body)
    assert body["event"] == "stream.review_now"
    assert body["data"]["alert"]["id"] == alert["id"]
    assert body["data"]["stream"]["external_id"] == "bright"
    # the case, first in the review queue, the summary as its reason
    cases = client.get("/v1/cases").json()["cases"]
    assert cases and cases[0]["id"] == alert["case_id"]
    assert cases[0]["priority"]["reasons"][0].startswith("review now: bright")
    # the CLI lists it as its own kind
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    rows = json_lines("alerts", "list", "--json", "--kind", "review_now")
    assert [r["id"] for r in rows] == [alert["id"]]
    # a terminal wide enough for the whole summary (the CLI's console reads COLUMNS only
    # when it is made, which may be before this test in the same process)
    from vangnet.cli.output import console

    monkeypatch.setattr(console, "width", 200)
    listed_text = invoke("alerts", "list").stdout
    assert "review_now" in listed_text and alert["summary"] in listed_text
    shown_text = invoke("alerts", "show", str(alert["id"])).stdout
    assert "qualifying samples" in shown_text and "never a verdict" in shown_text
    (stream_row,) = json_lines("streams", "show", str(bright), "--json")
    assert stream_row["review_now_alerts"] == 1


def test_bad_alert_kinds_are_refused_and_nothing_changes(
    make_client: AppFactory, admin_key: str, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client()
    client.headers["X-API-Key"] = admin_key
    r = client.get("/v1/alerts", params={"kind": "verdict"})
    assert r.status_code == 400, r.text
    assert "'match' or 'review_now'" in r.json()["error"]["message"]
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    out = invoke("alerts", "list", "--kind", "verdict", code=ExitCode.INVALID_DATA)
    assert "unknown alert kind 'verdict'" in out.output
    assert client.get("/v1/alerts").json()["alerts"] == []


def test_the_feed_carries_review_now_events_with_their_alert_id(db_engine: Engine) -> None:
    """Live (`EventHub.publish`) and replayed from the database (`_alert_event`), a
    review-now alert is a ``review_now`` event whose ``id:`` is its alert id (a reconnecting
    client resumes after it)."""
    with Session(db_engine) as s:
        stream = Stream(kind="push", sample_fps=1.0, stream_metadata={})
        s.add(stream)
        s.flush()
        recorded = review_now_alerts.record(
            s, _entry(stream.id, _sample(14), _sample(28)), settings=get_settings()
        )
        s.commit()
        replayed = live_api._alert_event(s.get_one(Alert, recorded.alert_id))
    assert replayed.kind == "review_now" and replayed.alert_id == recorded.alert_id
    data = json.loads(replayed.data)
    assert data["priority"] == 0.8 and data["samples"] == 2 and "bank" not in data

    async def publish() -> FeedItem:
        hub = EventHub()
        subscriber = hub.subscribe()
        hub.publish({"event": "review_now", "alert_id": 7, "stream": 1, "summary": "x"})
        return await asyncio.wait_for(subscriber.queue.get(), 5)

    item = asyncio.run(publish())
    assert (item.kind, item.alert_id) == ("review_now", 7)
    assert item.encode().startswith(b"id: 7\nevent: review_now\n")


def test_a_reviewers_decision_on_a_review_now_case_closes_its_alert(
    client: TestClient, db_engine: Engine
) -> None:
    """The case document shows the review-now alert's timeline line; a reviewer's
    false-positive decision acknowledges the alert, and samples that qualify within
    ``live_review_now_quiet_seconds`` extend it without reopening the case."""
    with Session(db_engine) as s:
        stream = Stream(kind="push", sample_fps=1.0, stream_metadata={"account": "a9"})
        s.add(stream)
        s.flush()
        recorded = review_now_alerts.record(
            s, _entry(stream.id, _sample(14), _sample(28)), settings=get_settings()
        )
        s.commit()
        case_id = s.get_one(Alert, recorded.alert_id).case_id
    document = client.get(f"/v1/cases/{case_id}")
    assert document.status_code == 200, document.text
    timeline = [e["summary"] for e in document.json()["timeline"]]
    assert any(f"review-now alert {recorded.alert_id}" in t for t in timeline), timeline
    person = {"X-API-Key": _persons_key(client, "reviewer")}  # deciding keys are a person's
    r = client.post(
        f"/v1/cases/{case_id}/decisions", json={"decision": "false_positive"}, headers=person
    )
    assert r.status_code == 200, r.text
    shown = client.get(f"/v1/alerts/{recorded.alert_id}").json()
    assert shown["status"] == "acknowledged" and shown["kind"] == "review_now"
    with Session(db_engine) as s:
        quiet = review_now_alerts.record(
            s, _entry(shown["stream_id"], _sample(42)), settings=get_settings()
        )
        s.commit()
    assert (quiet.alert_id, quiet.created) == (recorded.alert_id, False)
    assert client.get(f"/v1/cases/{case_id}").json()["status"] == "false_positive"
    assert [a["id"] for a in client.get("/v1/alerts").json()["alerts"]] == [recorded.alert_id]
