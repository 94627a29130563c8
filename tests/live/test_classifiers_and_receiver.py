"""Classifiers on live samples (scores, summaries and failures on the sample's events,
failures contained and counted on the stream) and the webhook receiver behind `vangnet
webhooks listen`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import Engine

from live.streaming import bank_known, wait_for
from vangnet.actions.receiver import WebhookReceiver
from vangnet.actions.webhooks import (
    EVENT_HEADER,
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)
from vangnet.config import get_settings
from vangnet.live.monitor import Monitor
from vangnet.live.samples import pushed_frame_sample
from vangnet.signals.classifiers.base import Classifier, Evidence, Pixels, Score
from vangnet.signals.classifiers.enabled import enabled_classifiers
from vangnet.signals.classifiers.scoring import score_pictures


class Brightness(Classifier):
    name = "brightness"
    version = "1"
    measures = "brightness"
    description = "mean brightness (a stand-in for a real model)"

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        return [self._one(float(p.mean() / 255)) for p in pictures]

    def _one(self, value: float) -> Score:
        return Score(
            self.name,
            self.version,
            self.measures,
            value,
            (Evidence("bright", value),),
            summary=f"brightness {value:.2f}",
        )


class Broken(Brightness):
    name = "broken"

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        raise RuntimeError("model file missing")


class OutOfRange(Brightness):
    name = "out_of_range"

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        return [self._one(7.0) for _ in pictures]


def test_scoring_keeps_good_scores_and_contains_failures(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pixels = np.full((8, 8, 3), 255, dtype=np.uint8)
    (reading,) = score_pictures([pixels], (Brightness(), Broken(), OutOfRange()))
    assert reading.values() == {"brightness": 1.0}
    assert set(reading.errors) == {"broken", "out_of_range"}
    monkeypatch.delenv("VANGNET_CLASSIFIERS")  # the deployment's default set
    assert "opennsfw" in [c.name for c in enabled_classifiers(get_settings())]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_scores_ride_on_match_and_alert_events(db_engine: Engine, shared_data: Path) -> None:
    photo = sorted((shared_data / "photos/bsds500/train").glob("*.jpg"))[0]
    bank_known(db_engine, photo)
    events: list[dict[str, Any]] = []
    monitor = Monitor(
        db_engine,
        on_event=events.append,
        classifiers=(Brightness(), Broken()),
        settings=get_settings(),
    ).start()
    try:
        stream = monitor.add_stream(None)
        data = photo.read_bytes()
        for t in (1.0, 2.0):
            monitor.push_sample(
                stream,
                pushed_frame_sample(
                    stream, t, time.time(), data, max_pixels=get_settings().live_max_pixels
                ),
            )
        assert wait_for(lambda: any(e["event"] == "alert" for e in events), 10)
        status = monitor.runtimes[stream].status()
    finally:
        monitor.close(end_streams=True)
    checked = [e for e in events if e["event"] in ("match", "alert")]
    assert {e["event"] for e in checked} == {"match", "alert"}
    for event in checked:
        assert set(event["scores"]) == {"brightness"}
        assert 0 < event["scores"]["brightness"] < 1
        value = event["scores"]["brightness"]
        assert event["score_summaries"] == {"brightness": f"brightness {value:.2f}"}
        assert "model file missing" in event["classifier_errors"]["broken"]
    assert status["classifier_failures"] == 2  # both samples, logged and counted
    assert status["cpu_seconds"]["classify"] > 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_enabled_model_scores_every_sample(
    db_engine: Engine, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deployment that enables open-nsfw (setting ``classifiers``) gets its score and
    summary on a benign sample's match event: low, never an alert of its own."""
    monkeypatch.setenv("VANGNET_CLASSIFIERS", "opennsfw")
    get_settings.cache_clear()
    photo = sorted((shared_data / "photos/bsds500/train").glob("*.jpg"))[0]
    bank_known(db_engine, photo)
    events: list[dict[str, Any]] = []
    monitor = Monitor(db_engine, on_event=events.append, settings=get_settings()).start()
    try:
        assert [c.name for c in monitor.classifiers] == ["opennsfw"]
        stream = monitor.add_stream(None)
        sample = pushed_frame_sample(
            stream, 1.0, time.time(), photo.read_bytes(), max_pixels=get_settings().live_max_pixels
        )
        monitor.push_sample(stream, sample)
        assert wait_for(lambda: any(e["event"] == "match" for e in events), 10)
    finally:
        monitor.close(end_streams=True)
    match = next(e for e in events if e["event"] == "match")
    value = match["scores"]["opennsfw"]
    assert 0 <= value < 0.5
    assert match["score_summaries"] == {"opennsfw": f"nudity {value:.2f} (open-nsfw)"}
    assert "classifier_errors" not in match


def test_receiver_verifies_and_ignores_repeats() -> None:
    got: list[dict[str, Any]] = []
    receiver = WebhookReceiver("s3cret", got.append)
    try:
        body = b'{"event":"alert.created","id":"alert-1-alert.created","data":{"alert":{"id":1}}}'
        now = int(time.time())
        headers = {
            EVENT_HEADER: "alert.created",
            IDEMPOTENCY_HEADER: "alert-1-alert.created",
            TIMESTAMP_HEADER: str(now),
            SIGNATURE_HEADER: sign(body, secret=b"s3cret", timestamp=now),
        }
        with httpx.Client(timeout=5) as client:
            assert client.post(receiver.url, content=body, headers=headers).status_code == 200
            assert client.post(receiver.url, content=body, headers=headers).status_code == 200
            forged = {**headers, IDEMPOTENCY_HEADER: "other", SIGNATURE_HEADER: "v1=00"}
            assert client.post(receiver.url, content=body, headers=forged).status_code == 401
    finally:
        receiver.close()
    assert [g["ok"] for g in got] == [True, True, False]
    assert got[0]["event"] == "alert.created" and got[0]["data"]["alert"]["id"] == 1
    assert got[1].get("repeat") is True
