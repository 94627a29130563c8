"""The classifier hook (interface and registry: scores on events, failures contained) and the
webhook receiver behind `vangnet webhooks listen`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
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
from vangnet.live.classifiers import FrameClassifier, classify, installed_classifiers
from vangnet.live.monitor import Monitor
from vangnet.live.samples import pushed_frame_sample


class Brightness(FrameClassifier):
    name = "brightness"
    description = "mean brightness (a stand-in for a real model)"

    def score(self, pixels: npt.NDArray[np.uint8]) -> float:
        return float(pixels.mean() / 255)


class Broken(FrameClassifier):
    name = "broken"

    def score(self, pixels: npt.NDArray[np.uint8]) -> float:
        raise RuntimeError("model file missing")


class OutOfRange(FrameClassifier):
    name = "out_of_range"

    def score(self, pixels: npt.NDArray[np.uint8]) -> float:
        return 7.0


def test_classify_keeps_good_scores_and_contains_failures() -> None:
    pixels = np.full((8, 8, 3), 255, dtype=np.uint8)
    scores = classify(pixels, (Brightness(), Broken(), OutOfRange()))
    assert scores == {"brightness": 1.0}
    assert installed_classifiers() == ()  # none ship with Vangnet


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
    finally:
        monitor.close(end_streams=True)
    for event in (e for e in events if e["event"] in ("match", "alert")):
        assert set(event["scores"]) == {"brightness"}
        assert 0 < event["scores"]["brightness"] < 1


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
