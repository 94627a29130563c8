"""Live review-now alerts (issue 13, point 3): the k-of-n rule over a window, the alert of
its own kind (stored on SQLite and PostgreSQL, one open per stream, extended, filed into a
case that the queue puts first, a signed ``stream.review_now`` webhook), a write that fails
retried until it lands. The whole path (ffmpeg, API, webhook, queue, CLI):
tests/api/test_review_now_api.py."""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from live.streaming import wait_for
from triage.test_text import call_screenshot
from vangnet.config import Settings, get_settings
from vangnet.live import review_now_alerts
from vangnet.live.alerts import acknowledge, alert_dict, get_alert
from vangnet.live.journal import AlertJournal, PendingReviewNow, ReviewSample, new_key
from vangnet.live.monitor import Monitor
from vangnet.live.review_now import ReviewNowRule, ReviewNowWindow, Scored
from vangnet.live.samples import pushed_frame_sample
from vangnet.review.cases import list_cases
from vangnet.review.priority import PriorityWeights
from vangnet.signals.classifiers.base import Classifier, Evidence, Pixels, Score
from vangnet.store.models import Alert, AlertFrame, Case, EvidenceItem, Stream, WebhookDelivery

SECRET = "review-now-secret-5e2a"
WAIT = 30.0  # bound on asynchronous processing (not a timing assertion)


class Bright(Classifier):
    """A controlled stand-in for a sexual-content model: a picture's mean brightness."""

    name = "test_review_now_bright"
    version = "1"
    measures = "sexual_content"
    default_threshold = 0.5
    description = "mean brightness, read as sexual content (tests only)"

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        out = []
        for picture in pictures:
            value = float(picture.mean() / 255)
            evidence = (Evidence("bright", value),)
            out.append(
                Score(
                    self.name, self.version, self.measures, value, evidence, f"bright {value:.2f}"
                )
            )
        return out


# -- the rule ---------------------------------------------------------------------------------


def _feed(rule: ReviewNowRule, readings: Sequence[tuple[float, bool, float]]) -> list[int]:
    """The number of likely samples counted at each qualifying reading (0: none)."""
    window = ReviewNowWindow()
    return [len(window.add(Scored(t, likely, call), rule)) for t, likely, call in readings]


def test_k_of_n_counts_likely_samples_among_the_last_n() -> None:
    rule = ReviewNowRule(k=2, n=3, window=60)
    # one likely sample never alerts; the second within the last 3 does, and so do later ones
    assert _feed(rule, [(0, True, 0), (14, False, 0), (28, True, 0), (42, True, 0)]) == [
        0,
        0,
        2,
        2,
    ]
    # likely, then two unlikely: the first likely one has left the last 3 by the fourth
    assert _feed(rule, [(0, True, 0), (14, False, 0), (28, False, 0), (42, True, 0)]) == [
        0,
        0,
        0,
        0,
    ]
    # an unlikely sample never qualifies, even with k likely ones kept
    assert _feed(rule, [(0, True, 0), (14, True, 0), (28, False, 0)]) == [0, 2, 0]


def test_the_window_is_in_stream_time_with_its_edge_included() -> None:
    rule = ReviewNowRule(k=2, n=3, window=60)
    assert _feed(rule, [(0, True, 0), (60, True, 0)]) == [0, 2]  # exactly 60 s: counted
    assert _feed(rule, [(0, True, 0), (60.5, True, 0)]) == [0, 0]  # older: forgotten
    assert _feed(ReviewNowRule(k=1, n=1), [(0, True, 0), (1, False, 0)]) == [1, 0]
    assert _feed(ReviewNowRule(k=0, n=3), [(0, True, 0), (1, True, 0)]) == [0, 0]  # off


def test_a_likely_video_call_can_need_fewer_samples() -> None:
    rule = ReviewNowRule(k=2, n=3, window=60, video_call_threshold=0.5, video_call_k=1)
    assert _feed(rule, [(0, True, 0.7)]) == [1]  # a likely sample in a video call
    assert _feed(rule, [(0, True, 0.4)]) == [0]  # below the video-call threshold
    assert _feed(ReviewNowRule(k=2, n=3), [(0, True, 0.9)]) == [0]  # not set: k as usual
    assert "1 in a likely video call" in rule.describe()


def test_bad_rule_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="live_review_now_k"):
        Settings(live_review_now_k=4, live_review_now_n=3)
    with pytest.raises(ValueError, match="http"):
        Settings(live_review_now_webhook_url="ftp://127.0.0.1/x")


# -- storage: SQLite and PostgreSQL -----------------------------------------------------------


def _sample(t: float, value: float = 0.8, call: float = 0.0) -> ReviewSample:
    return ReviewSample(
        stream_time=t,
        captured_at=datetime.now(UTC),
        pdq="f" * 64,
        quality=90,
        value=value,
        video_call=call,
        summary=f"bright {value:.2f} (test): priority {value / 2:.2f}",
        scores={"test_review_now_bright": value},
        video_call_reasons=("picture-in-picture inset",) if call else (),
    )


def _entry(stream_id: int, *samples: ReviewSample) -> PendingReviewNow:
    return PendingReviewNow(new_key(), stream_id, "2 likely of the last 3", tuple(samples))


def test_one_open_alert_per_stream_extended_filed_and_announced(db_engine: Engine) -> None:
    settings = get_settings().model_copy(
        update={
            "webhook_url": "http://127.0.0.1:9/matches",
            "live_review_now_webhook_url": "http://127.0.0.1:9/live-team",
        }
    )
    with Session(db_engine) as s:
        stream = Stream(kind="push", sample_fps=1.0, stream_metadata={"account": "a1"})
        s.add(stream)
        s.commit()
        sid = stream.id
    with Session(db_engine) as s:
        first = review_now_alerts.record(
            s, _entry(sid, _sample(14), _sample(28)), settings=settings
        )
        s.commit()
    assert first.created and first.new_frames == (14, 28)
    with Session(db_engine) as s:  # a later sample extends it; a replay adds nothing
        more = review_now_alerts.record(
            s, _entry(sid, _sample(28), _sample(42, 0.95, 0.7)), settings=settings
        )
        again = review_now_alerts.record(
            s, _entry(sid, _sample(28), _sample(42, 0.95, 0.7)), settings=settings
        )
        s.commit()
    assert (more.alert_id, more.created, more.new_frames) == (first.alert_id, False, (42,))
    assert (again.created, again.new_frames) == (False, ())
    with Session(db_engine) as s:
        alert, frames = get_alert(s, first.alert_id)
        shown = alert_dict(alert, frames)
        assert shown["kind"] == "review_now" and shown["samples"] == 3
        assert shown["best_value"] == 0.95 and shown["video_call"] == 0.7
        assert shown["summary"].startswith("bright 0.95")
        assert [f["priority"] for f in shown["frames"]] == [0.8, 0.8, 0.95]
        assert "bank" not in shown and "content_id" not in shown  # not a match
        row = s.get(Stream, sid)
        assert row is not None and row.review_now_alerts == 1
        (delivery,) = s.scalars(select(WebhookDelivery)).all()  # one webhook, when new
        assert delivery.event == "stream.review_now"
        assert delivery.url == "http://127.0.0.1:9/live-team"  # the deployment's destination
        case = s.get(Case, alert.case_id)
        assert case is not None and case.kind == "live" and case.stream_id == sid
        [summary] = list_cases(s, weights=PriorityWeights.from_settings(settings))
        reasons = summary["priority"]["reasons"]
        assert reasons[0].startswith("review now: bright 0.95")
        assert any("video call" in r for r in reasons)
        assert summary["priority"]["score"] >= settings.review_priority_review_now
        acknowledge(s, first.alert_id, by="reviewer")
        s.commit()
    with Session(db_engine) as s:  # acknowledged: quiet for live_review_now_quiet_seconds
        quiet = review_now_alerts.record(s, _entry(sid, _sample(300)), settings=settings)
        s.commit()
        assert (quiet.alert_id, quiet.created, quiet.new_frames) == (first.alert_id, False, (300,))
        alert = s.get_one(Alert, first.alert_id)
        assert alert.status == "acknowledged" and alert.frames_matched == 4
        assert len(s.scalars(select(WebhookDelivery)).all()) == 1  # no second webhook
    loud = settings.model_copy(update={"live_review_now_quiet_seconds": 0.0})
    with Session(db_engine) as s:  # after it (0 here): the next qualifying sample opens another
        later = review_now_alerts.record(s, _entry(sid, _sample(314)), settings=loud)
        s.commit()
        assert later.created and later.alert_id != first.alert_id
        kinds = [a.kind for a in s.scalars(select(Alert).where(Alert.stream_id == sid))]
        assert kinds == ["review_now", "review_now"]
        assert len(s.scalars(select(AlertFrame)).all()) == 5
        assert len(s.scalars(select(WebhookDelivery)).all()) == 2


# -- nothing lost: a write that fails is retried ----------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_qualifying_sample_whose_write_fails_is_retried_until_it_lands(
    db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database refuses the review-now write twice (as a locked or unreachable one
    would): the write is journaled, counted as pending on the stream, retried, and lands
    (one alert, its evidence kept in the vault, the pending count back to 0)."""
    real = review_now_alerts.record
    failures: list[int] = []

    def flaky(session: Session, entry: PendingReviewNow, *, settings: Settings) -> Any:
        if len(failures) < 2:
            failures.append(1)
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return real(session, entry, settings=settings)

    monkeypatch.setattr(review_now_alerts, "record", flaky)
    events: list[dict[str, Any]] = []
    settings = get_settings().model_copy(update={"live_classify_per_batch": 0})
    monitor = Monitor(
        db_engine, on_event=events.append, classifiers=(Bright(),), settings=settings
    ).start()
    pending: list[int] = []
    try:
        stream = monitor.add_stream(None)
        white = _jpeg(255)
        for t in (1.0, 2.0):
            monitor.push_sample(
                stream,
                pushed_frame_sample(
                    stream, t, time.time(), white, max_pixels=settings.live_max_pixels
                ),
            )
            assert wait_for(lambda t=t: monitor.runtimes[stream].stream_time >= t, WAIT)
        pending.append(monitor.runtimes[stream].alerts_pending)
        assert wait_for(lambda: any(e["event"] == "review_now" for e in events), WAIT)
        assert wait_for(lambda: monitor.runtimes[stream].evidence_pending == 0, WAIT)
        status = monitor.runtimes[stream].status()
    finally:
        monitor.close(end_streams=True)
    assert len(failures) == 2 and pending == [1]
    assert status["alerts_pending"] == 0 and status["review_now_alerts"] == 1
    assert status["review_now_samples"] == 1
    with Session(db_engine) as s:
        (alert,) = s.scalars(select(Alert)).all()
        assert alert.kind == "review_now" and alert.frames_matched == 2
        items = s.scalars(select(EvidenceItem).where(EvidenceItem.alert_id == alert.id)).all()
        assert sorted(i.stream_time or 0 for i in items) == [1.0, 2.0]
        assert all(i.case_id == alert.case_id for i in items)


def _jpeg(level: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.full((96, 128, 3), level, dtype=np.uint8)).save(out, "JPEG")
    return out.getvalue()


# -- a restart: what was journaled and not written is written by the next process -------------


def test_a_journaled_review_now_write_is_replayed_after_a_restart(db_engine: Engine) -> None:
    """A process that stopped before its review-now write landed leaves it in its journal
    file; the next monitor adopts and writes it (once: replaying again adds nothing)."""
    settings = get_settings()
    with Session(db_engine) as s:
        stream = Stream(kind="push", sample_fps=1.0, stream_metadata={})
        s.add(stream)
        s.commit()
        sid = stream.id
    entry = _entry(sid, _sample(14), _sample(28, 0.9, 0.6))
    journal = AlertJournal(settings.home)
    journal.add(entry)
    journal.close()  # a pending entry: the file stays for the next process
    assert PendingReviewNow.from_json(entry.to_json()) == entry
    monitor = Monitor(db_engine, settings=settings, classifiers=()).start()
    try:
        assert wait_for(lambda: monitor.alerts_pending == 0, WAIT)
        with Session(db_engine) as s:
            assert wait_for(lambda: s.scalar(select(Alert.id)) is not None, WAIT)
    finally:
        monitor.close()
    with Session(db_engine) as s:
        (alert,) = s.scalars(select(Alert)).all()
        assert (alert.kind, alert.frames_matched, alert.best_value) == ("review_now", 2, 0.9)
        assert alert.details["video_call"] == 0.6 and alert.case_id is not None
        again = review_now_alerts.record(s, entry, settings=settings)
        assert (again.alert_id, again.created, again.new_frames) == (alert.id, False, ())


# -- video calls ------------------------------------------------------------------------------


class Likely(Bright):
    """Every picture reads as likely sexual content (0.9): only the rule decides."""

    name = "test_review_now_likely"

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        return [
            Score(self.name, self.version, self.measures, 0.9, (), "nudity 0.90 (test)")
            for _ in pictures
        ]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("call", [True, False])
def test_a_likely_sample_in_a_video_call_alerts_alone_when_the_deployment_says_so(
    db_engine: Engine, shared_data: Path, call: bool
) -> None:
    """With ``live_review_now_video_call_k`` 1, one likely sample that reads as a video call
    (a desktop call screenshot: app bars around the video, the caller's own camera as an
    inset) raises the alert, which records the video-call likelihood and its clues, and its
    case gets the video-call points; one likely sample of a plain photo does not (k is 2)."""
    bsds = sorted((shared_data / "photos/bsds500/test").glob("*.jpg"))
    picture = (
        call_screenshot(bsds[2], bsds[3], words="") if call else Image.open(bsds[2]).convert("RGB")
    )
    data = io.BytesIO()
    picture.save(data, "JPEG", quality=90)
    events: list[dict[str, Any]] = []
    settings = get_settings().model_copy(
        update={"live_classify_per_batch": 0, "live_review_now_video_call_k": 1}
    )
    monitor = Monitor(
        db_engine, on_event=events.append, classifiers=(Likely(),), settings=settings
    ).start()
    try:
        stream = monitor.add_stream(None)
        sample = pushed_frame_sample(
            stream, 1.0, time.time(), data.getvalue(), max_pixels=settings.live_max_pixels
        )
        monitor.push_sample(stream, sample)
        assert wait_for(lambda: monitor.runtimes[stream].samples == 1, WAIT)
        if call:
            assert wait_for(lambda: any(e["event"] == "review_now" for e in events), WAIT)
        status = monitor.runtimes[stream].status()
    finally:
        monitor.close(end_streams=True)
    assert sample.video_call >= 0.5 if call else sample.video_call < 0.5
    with Session(db_engine) as s:
        found = s.scalars(select(Alert)).all()
        if not call:
            assert found == [] and status["review_now_samples"] == 0
            return
        (alert,) = found
        shown = alert_dict(alert)
        assert shown["video_call"] >= 0.5
        assert any("picture-in-picture" in r for r in shown["video_call_reasons"])
        [case] = list_cases(s, weights=PriorityWeights.from_settings(settings))
        assert "likely a video call (+10)" in case["priority"]["reasons"]
