"""Classifiers on live samples (scores, summaries and failures on the sample's events,
failures contained and counted on the stream) and the webhook receiver behind `vangnet
webhooks listen`."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cli_invoke import json_lines
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
from vangnet.store.models import Stream as StreamRow


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
        # every sample scored, however the processor batches them (the cap has its own test)
        settings=get_settings().model_copy(update={"live_classify_per_batch": 0}),
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


class Costly(Brightness):
    """Spends 30 ms of this thread's CPU time on each picture (as a model would)."""

    name = "costly"

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        for _ in pictures:
            until = time.thread_time() + 0.03
            while time.thread_time() < until:
                pass
        return super().score_many(pictures)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("budget_ms", [5.0, 0.0])
def test_classifiers_keep_to_each_streams_budget_and_count_what_they_skip(
    db_engine: Engine, shared_data: Path, budget_ms: float
) -> None:
    """``live_classify_budget_ms`` (5: the default) lets a stream's samples be scored only
    while its CPU allowance lasts: 6 samples a second apart with a classifier costing 30 ms
    each (an allowance of 50 ms saved up, 5 ms more per second) are partly scored, the
    others counted as skipped (status, the stream's row); every sample is still matched.
    With 0 every sample is scored."""
    photo = sorted((shared_data / "photos/bsds500/train").glob("*.jpg"))[0]
    bank_known(db_engine, photo)
    events: list[dict[str, Any]] = []
    settings = get_settings().model_copy(  # the per-batch cap has its own test
        update={"live_classify_budget_ms": budget_ms, "live_classify_per_batch": 0}
    )
    monitor = Monitor(
        db_engine, on_event=events.append, classifiers=(Costly(),), settings=settings
    ).start()
    try:
        stream = monitor.add_stream(None)
        data = photo.read_bytes()
        for t in range(1, 7):
            monitor.push_sample(
                stream,
                pushed_frame_sample(
                    stream, float(t), time.time(), data, max_pixels=settings.live_max_pixels
                ),
            )
        assert wait_for(lambda: monitor.runtimes[stream].status()["samples"] == 6, 20)
        status = monitor.runtimes[stream].status()
    finally:
        monitor.close(end_streams=True)
    matches = [e for e in events if e["event"] == "match"]
    assert len(matches) == 6  # every sample matched, scored or not
    scored = [e for e in matches if "scores" in e]
    if budget_ms == 0:
        assert len(scored) == 6 and status["classify_skipped"] == 0
    else:
        assert 2 <= len(scored) <= 4, [e.get("stream_time") for e in scored]
        assert status["classify_skipped"] == 6 - len(scored)
        assert scored[0]["stream_time"] == 1.0  # a new stream starts with its allowance
    assert status["cpu_seconds"]["classify"] >= 0.03 * len(scored) * 0.9
    with Session(db_engine) as s:
        row = s.get(StreamRow, stream)
        assert row is not None and row.classify_skipped == status["classify_skipped"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_samples_of_one_stream_in_one_batch_share_one_allowance(
    db_engine: Engine, shared_data: Path
) -> None:
    """A stream that fell behind hands the processor several samples in one batch: they
    cannot all be scored on the allowance of the first (one batch of 6, then another)."""
    photo = sorted((shared_data / "photos/bsds500/train").glob("*.jpg"))[0]
    settings = get_settings()
    assert settings.live_classify_budget_ms == 5.0  # the default
    monitor = Monitor(db_engine, classifiers=(Costly(),), settings=settings)
    try:
        stream = monitor.add_stream(None)
        runtime = monitor.runtimes[stream]
        data = photo.read_bytes()
        for start in (1, 7):
            batch = [
                (
                    runtime,
                    pushed_frame_sample(
                        stream, float(t), time.time(), data, max_pixels=settings.live_max_pixels
                    ),
                )
                for t in range(start, start + 6)
            ]
            monitor.processor.process(batch)
        scored = sum(1 for _, s in batch if s.scores)
        status = runtime.status()
    finally:
        monitor.close(end_streams=True)
    # 12 s of stream: 50 ms saved up + 5 ms/s allows about 3-4 samples of 30 ms, not 12
    assert status["samples"] == 12
    assert 2 <= 12 - status["classify_skipped"] <= 5, status
    assert scored <= 3  # of the second 6: 50 ms saved up, 5 ms a second


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("cap", [1, 0])
def test_a_batch_scores_at_most_its_cap_and_counts_the_rest(
    db_engine: Engine, shared_data: Path, cap: int
) -> None:
    """``live_classify_per_batch`` (1: the default): four streams whose allowances are full
    hand one sample each to one batch; one is scored, three are counted as skipped (and are
    still matched). 0: all four are scored."""
    photo = sorted((shared_data / "photos/bsds500/train").glob("*.jpg"))[0]
    settings = get_settings().model_copy(update={"live_classify_per_batch": cap})
    assert get_settings().live_classify_per_batch == 1
    monitor = Monitor(db_engine, classifiers=(Brightness(),), settings=settings)
    try:
        runtimes = [monitor.runtimes[monitor.add_stream(None)] for _ in range(4)]
        batch = [
            (
                runtime,
                pushed_frame_sample(
                    runtime.id,
                    1.0,
                    time.time(),
                    photo.read_bytes(),
                    max_pixels=settings.live_max_pixels,
                ),
            )
            for runtime in runtimes
        ]
        monitor.processor.process(batch)
        skipped = [r.status()["classify_skipped"] for r in runtimes]
        samples = [r.status()["samples"] for r in runtimes]
    finally:
        monitor.close(end_streams=True)
    scored = sum(1 for _, s in batch if s.scores)
    assert samples == [1, 1, 1, 1]  # all matched
    if cap == 1:
        assert scored == 1 and sum(skipped) == 3
    else:
        assert scored == 4 and sum(skipped) == 0


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


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_finished_streams_classifier_counters_are_shown(
    db_url: str, db_engine: Engine, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counters kept on the stream's row (``classify_skipped``, ``classifier_failures``)
    are shown once the stream no longer runs in this process: `vangnet streams show` and
    `vangnet streams list --json` read them from the row."""
    photo = sorted((shared_data / "photos/bsds500/train").glob("*.jpg"))[0]
    # every sample scored: no budget, and no cap per batch (under load two samples can
    # arrive in one batch; with the default cap of 1 one of them would be skipped)
    settings = get_settings().model_copy(
        update={"live_classify_budget_ms": 0.0, "live_classify_per_batch": 0}
    )
    monitor = Monitor(db_engine, classifiers=(Broken(),), settings=settings).start()
    try:
        stream = monitor.add_stream(None)
        for t in (1.0, 2.0, 3.0):
            monitor.push_sample(
                stream,
                pushed_frame_sample(
                    stream, t, time.time(), photo.read_bytes(), max_pixels=settings.live_max_pixels
                ),
            )
        assert wait_for(lambda: monitor.runtimes[stream].status()["samples"] == 3, 20)
    finally:
        monitor.close(end_streams=True)
    with Session(db_engine) as s:
        row = s.get(StreamRow, stream)
        assert row is not None and row.classifier_failures == 3
        row.classify_skipped = 2  # as a budgeted stream would have counted (tested above)
        s.commit()
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    (shown,) = json_lines("streams", "show", str(stream), "--json")
    assert (shown["classifier_failures"], shown["classify_skipped"]) == (3, 2)
    listed = [s for s in json_lines("streams", "list", "--json") if s["id"] == stream]
    assert [(s["classifier_failures"], s["classify_skipped"]) for s in listed] == [(3, 2)]


class Slow(Brightness):
    """Holds the processing stage inside its first batch until the test lets it go."""

    name = "test_slow"
    entered: threading.Event
    release: threading.Event

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        self.entered.set()
        self.release.wait(10)
        return super().score_many(pictures)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_samples_queued_when_the_monitor_closes_are_processed_not_dropped(
    db_url: str, db_engine: Engine, shared_data: Path
) -> None:
    """The last samples of a stream, still queued when its monitor closes (a file stream
    that just ended, a worker handing over), are processed before the processing stage
    stops: the stream's row counts every sample pushed, and its stream time is the last
    one's. (Before, they were dropped without a count.)"""
    photo = sorted((shared_data / "photos/bsds500/train").glob("*.jpg"))[0]
    settings = get_settings().model_copy(
        update={"live_classify_budget_ms": 0.0, "live_classify_per_batch": 0}
    )
    slow = Slow()
    slow.entered, slow.release = threading.Event(), threading.Event()
    monitor = Monitor(db_engine, classifiers=(slow,), settings=settings).start()
    stream = monitor.add_stream(None)

    def push(t: float) -> None:
        sample = pushed_frame_sample(
            stream, t, time.time(), photo.read_bytes(), max_pixels=settings.live_max_pixels
        )
        monitor.push_sample(stream, sample)

    push(1.0)
    assert slow.entered.wait(20)  # the stage holds sample 1; 2-4 wait in the queue
    for t in (2.0, 3.0, 4.0):
        push(t)
    threading.Timer(0.5, slow.release.set).start()
    monitor.close(end_streams=True)
    with Session(db_engine) as s:
        row = s.get(StreamRow, stream)
        assert row is not None
        assert (row.samples, row.dropped, row.stream_time) == (4, 0, 4.0)
