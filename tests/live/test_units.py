"""Fast unit tests of the live pieces, no network: sampling, decision rules, source choice,
URLs shown in events."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from itertools import pairwise

import av
import numpy as np
import pytest
from sqlalchemy import Engine

from live.streaming import wait_for
from vangnet.config import Settings, get_settings, reset_settings
from vangnet.egress.policy import EgressPolicy
from vangnet.errors import ValidationError
from vangnet.live.decision import Decision, DecisionWindow, Rule, default_rule, rule_for
from vangnet.live.monitor import Monitor
from vangnet.live.sampler import Sampler, SampleReason
from vangnet.live.samples import Sample
from vangnet.match.results import Match
from vangnet.net import display_url
from vangnet.sources.streams import (
    FileSource,
    HttpSource,
    NetworkSource,
    RelaySource,
    source_for,
)

FPS = 30


def _frame(value: int) -> av.VideoFrame:
    """A flat 64x64 picture of grey ``value``."""
    pixels = np.full((64, 64, 3), value, dtype=np.uint8)
    return av.VideoFrame.from_ndarray(pixels, format="rgb24")


BLACK, WHITE = _frame(0), _frame(255)


def _offer_all(
    sampler: Sampler, frames: Iterable[tuple[float, av.VideoFrame]]
) -> list[tuple[float, SampleReason]]:
    out = []
    for t, frame in frames:
        reason = sampler.offer(t, frame)
        if reason is not None:
            out.append((t, reason))
    return out


def _steady(seconds: float, frame: av.VideoFrame = BLACK) -> list[tuple[float, av.VideoFrame]]:
    return [(i / FPS, frame) for i in range(round(seconds * FPS))]


# -- Sampler -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fps", "expected"), [(1.0, [0.0, 1.0, 2.0]), (2.0, [0, 0.5, 1, 1.5, 2, 2.5])]
)
def test_base_rate(fps: float, expected: list[float]) -> None:
    sampled = _offer_all(Sampler(fps), _steady(3.0))
    assert [round(t, 3) for t, _ in sampled] == expected
    assert {r for _, r in sampled} == {SampleReason.BASE}


def test_steady_picture_takes_no_scene_samples() -> None:
    sampled = _offer_all(Sampler(1.0, scene_change=12.0, max_extra_fps=4.0), _steady(3.0))
    assert [r for _, r in sampled] == [SampleReason.BASE] * 3


def test_scene_change_samples_when_the_picture_changes() -> None:
    frames = _steady(0.5, BLACK) + [(0.5 + t, f) for t, f in _steady(1.0, WHITE)]
    sampled = _offer_all(Sampler(1.0, scene_change=12.0, max_extra_fps=4.0), frames)
    assert sampled[0] == (0.0, SampleReason.BASE)
    assert sampled[1] == (0.5, SampleReason.SCENE)  # the frame the picture changed on
    assert len(sampled) == 2  # the next base sample is due 1 s after the last sample


def test_scene_samples_limited_by_max_extra_fps() -> None:
    flicker = [(i / FPS, BLACK if i % 2 else WHITE) for i in range(2 * FPS)]  # 2 s
    sampled = _offer_all(Sampler(1.0, scene_change=12.0, max_extra_fps=4.0), flicker)
    times = [t for t, _ in sampled]
    assert SampleReason.SCENE in {r for _, r in sampled}
    assert all(b - a >= 0.25 - 1e-9 for a, b in pairwise(times))
    assert len(sampled) <= 2 * 4 + 1


def test_no_scene_samples_when_max_extra_fps_is_zero() -> None:
    flicker = [(i / FPS, BLACK if i % 2 else WHITE) for i in range(2 * FPS)]
    sampled = _offer_all(Sampler(1.0, scene_change=12.0, max_extra_fps=0.0), flicker)
    assert [r for _, r in sampled] == [SampleReason.BASE] * 2


def test_no_scene_sampling_when_scene_change_is_zero() -> None:
    flicker = [(i / FPS, BLACK if i % 2 else WHITE) for i in range(2 * FPS)]
    sampler = Sampler(1.0, scene_change=0.0, max_extra_fps=4.0)
    sampled = _offer_all(sampler, flicker)
    assert [(round(t, 3), r) for t, r in sampled] == [(0.0, "base"), (1.0, "base")]
    assert sampler._last_thumb is None  # no thumbnails computed at all


def test_clock_going_backwards_samples() -> None:
    sampler = Sampler(1.0)
    assert sampler.offer(5.0, BLACK) is SampleReason.BASE
    assert sampler.offer(5.5, BLACK) is None
    assert sampler.offer(1.0, BLACK) is SampleReason.BASE  # restarted clock (reconnect, loop)
    assert sampler.offer(1.5, BLACK) is None
    assert sampler.offer(2.0, BLACK) is SampleReason.BASE


# -- decisions ---------------------------------------------------------------------------------


def _match(content_id: int = 7, bank: str = "B", distance: int = 10) -> Match:
    return Match(bank, content_id, "pdq", distance, "vics:1", content_id * 100)


def _feed(
    window: DecisionWindow, samples: Iterable[list[Match]], start: float = 0.0
) -> list[list[Decision]]:
    return [window.add(start + i, matches) for i, matches in enumerate(samples)]


def test_rule_for_high_confidence_bank_is_one_of_one() -> None:
    assert rule_for({}, default=default_rule(get_settings(), high_confidence=True)) == Rule(1, 1)
    assert Rule(1, 1).describe() == "1 matching sample"


def test_the_high_confidence_rule_is_a_setting() -> None:
    settings = Settings(live_high_confidence_min_frames=2, live_high_confidence_window=3)
    assert default_rule(settings, high_confidence=True) == Rule(2, 3)
    assert default_rule(settings, high_confidence=False) == Rule(2, 5)  # the others unchanged
    assert rule_for({"live_window": 6}, default=default_rule(settings, high_confidence=True)) == (
        Rule(2, 6)
    )


def test_rule_for_default_is_two_of_last_five() -> None:
    rule = rule_for({}, default=default_rule(get_settings(), high_confidence=False))
    assert rule == Rule(2, 5)
    assert rule.describe() == "2 of the last 5 samples"


def test_rule_for_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VANGNET_LIVE_MIN_FRAMES", "3")
    monkeypatch.setenv("VANGNET_LIVE_WINDOW", "2")
    reset_settings()
    assert rule_for({}, default=default_rule(get_settings(), high_confidence=False)) == Rule(
        3, 3
    )  # a window holds min_frames


def test_rule_for_policy_overrides() -> None:
    assert rule_for(
        {"live_min_frames": 3, "live_window": 8},
        default=default_rule(get_settings(), high_confidence=False),
    ) == Rule(3, 8)
    assert rule_for(
        {"live_min_frames": 3, "live_window": 8},
        default=default_rule(get_settings(), high_confidence=True),
    ) == Rule(3, 8)
    assert rule_for(
        {"live_min_frames": 4}, default=default_rule(get_settings(), high_confidence=False)
    ) == Rule(4, 5)
    assert rule_for(
        {"live_min_frames": 7}, default=default_rule(get_settings(), high_confidence=False)
    ) == Rule(7, 7)
    assert rule_for(
        {"live_window": 1}, default=default_rule(get_settings(), high_confidence=False)
    ) == Rule(2, 2)


def test_one_of_one_fires_on_the_first_match() -> None:
    window = DecisionWindow(rules={"B": Rule(1, 1)})
    [none, [decision]] = _feed(window, [[], [_match()]])
    assert none == []
    assert (decision.bank, decision.content_id, decision.first) == ("B", 7, True)
    assert [s.stream_time for s in decision.samples] == [1.0]


def test_two_of_five_fires_on_the_second_match_then_extends() -> None:
    window = DecisionWindow(rules={"B": Rule(2, 5)})
    m = _match()
    results = _feed(window, [[m], [], [], [m], [], [m]])
    assert results[:3] == [[], [], []]
    [first] = results[3]
    assert first.first and [s.stream_time for s in first.samples] == [0.0, 3.0]
    assert results[4] == []
    [later] = results[5]
    assert not later.first  # extends the alert, never a second one
    assert [s.stream_time for s in later.samples] == [3.0, 5.0]  # 0.0 left the window


def test_the_closest_match_of_a_sample_is_kept() -> None:
    window = DecisionWindow(rules={"B": Rule(1, 1)})
    [[decision]] = _feed(window, [[_match(distance=20), _match(distance=4)]])
    assert [s.match.distance for s in decision.samples] == [4]


def test_items_are_counted_separately() -> None:
    window = DecisionWindow(rules={"B": Rule(2, 5)})
    results = _feed(window, [[_match(1)], [_match(2)], [_match(3)], [_match(1)]])
    assert results[:3] == [[], [], []]
    assert [(d.content_id, d.first) for d in results[3]] == [(1, True)]


def test_banks_use_their_own_rules() -> None:
    window = DecisionWindow(rules={"STRICT": Rule(3, 3), "HIGH": Rule(1, 1)})
    strict, high = _match(1, bank="STRICT"), _match(2, bank="HIGH")
    results = _feed(window, [[strict, high], [strict], [strict]])
    assert [(d.bank, d.first) for d in results[0]] == [("HIGH", True)]
    assert results[1] == []
    assert [(d.bank, d.content_id) for d in results[2]] == [("STRICT", 1)]


def test_a_bank_without_a_rule_never_fires() -> None:
    window = DecisionWindow(rules={"B": Rule(1, 1)})
    assert _feed(window, [[_match(bank="DISABLED")]]) == [[]]


def test_a_window_that_slid_past_old_matches_does_not_fire() -> None:
    window = DecisionWindow(rules={"B": Rule(2, 5)})
    m = _match()
    results = _feed(window, [[m], [], [], [], [], [m], [], [], [], [], [m]])
    assert all(r == [] for r in results)  # matches 5 samples apart: never 2 in a window of 5


def test_a_resumed_stream_extends_alerts_already_made() -> None:
    window = DecisionWindow(rules={"B": Rule(1, 1)})
    window.mark_decided([("B", 7)])
    [[decision]] = _feed(window, [[_match(7)]])
    assert not decision.first


# -- sources and URLs --------------------------------------------------------------------------

TIMEOUTS = {
    "connect_timeout": 1.0,
    "stall_timeout": 1.0,
    "egress": EgressPolicy(),
    "max_pixels": 3840 * 2160,
    "rtsp_transport": "auto",
}


@pytest.mark.parametrize("url", ["ftp://example.org/x.mp4", "gopher://h/", "javascript:x"])
def test_unknown_scheme_is_a_validation_error(url: str) -> None:
    with pytest.raises(ValidationError, match="unsupported stream URL scheme"):
        source_for(url, **TIMEOUTS)


@pytest.mark.parametrize("url", ["", "   "])
def test_empty_url_is_a_validation_error(url: str) -> None:
    with pytest.raises(ValidationError, match="empty"):
        source_for(url, **TIMEOUTS)


@pytest.mark.parametrize(
    ("url", "cls"),
    [
        ("/tmp/clip.mp4", FileSource),
        ("clips/clip.mp4?loop=1", FileSource),
        ("file:///tmp/clip.mp4", FileSource),
        ("C:\\clips\\clip.mp4", FileSource),
        ("srt://127.0.0.1:9000?mode=caller", RelaySource),
        ("rtmp://127.0.0.1/live/room", NetworkSource),
        ("RTMP://127.0.0.1/live/room", NetworkSource),
        ("udp://127.0.0.1:5000", NetworkSource),
        ("https://127.0.0.1/live.m3u8", HttpSource),
    ],
)
def test_source_for_picks_the_source_by_scheme(url: str, cls: type) -> None:
    source = source_for(url, **TIMEOUTS)
    assert type(source) is cls and source.url == url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "rtmp://user:s3cret@127.0.0.1:1935/live/key123?pass=x",
            "rtmp://127.0.0.1:1935/live/***",
        ),
        ("rtmps://h/app/inst/key", "rtmps://h/app/***"),
        ("srt://127.0.0.1:9000?passphrase=s3cret&mode=caller", "srt://127.0.0.1:9000"),
        ("https://cdn.example/live.m3u8?token=s3cret#frag", "https://cdn.example/live.m3u8"),
        ("rtmp://u:p@[::1]:1935/live", "rtmp://[::1]:1935/live"),
        ("rtmp://user@host:notaport/live?k=s3cret", "rtmp://host:notaport/live"),
        ("/tmp/clip.mp4?loop=1", "/tmp/clip.mp4"),
        ("", ""),
        (None, None),
    ],
)
def test_display_url_strips_credentials_and_query(url: str | None, shown: str | None) -> None:
    assert display_url(url) == shown


# -- the processing stage ----------------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_samples_are_processed_when_no_bank_exists(
    db_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    monitor = Monitor(db_engine, deliver_webhooks=False, settings=get_settings()).start()
    try:
        stream_id = monitor.add_stream(None)
        for i in range(3):
            sample = Sample(stream_id, float(i), time.time(), SampleReason.BASE)
            sample.pdq, sample.quality = "f" * 64, 100
            monitor.push_sample(stream_id, sample)
        runtime = monitor.runtime(stream_id)
        assert wait_for(lambda: len(runtime.latencies) == 3, timeout=10)  # fully processed
    finally:
        monitor.close(end_streams=True)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert runtime.samples == 3 and runtime.matches == 0 and runtime.alerts == 0


def test_a_journaled_alert_keeps_where_its_frames_matched() -> None:
    """An alert decision journaled before its write (and replayed by the next process
    after a crash) keeps each matching sample's region and transform."""
    import json
    from datetime import UTC, datetime

    from vangnet.live.decision import SampleMatch, found_keys
    from vangnet.live.journal import PendingAlert
    from vangnet.media.regions.edges import Box

    region = Match(
        "KNOWN", 7, "pdq", 12, "vics:1", 3, region=Box(10, 20, 300, 200), transform="mirror"
    )
    whole = Match("KNOWN", 7, "pdq", 20, "vics:1", 3)
    decision = Decision(
        "KNOWN", 7, Rule(2, 5), (SampleMatch(1.0, region), SampleMatch(2.0, whole)), True
    )
    at = datetime(2026, 12, 7, tzinfo=UTC)
    entry = PendingAlert("k", 1, decision, {1.0: ("0" * 64, 90)}, {1.0: at}, [], None)
    back = PendingAlert.from_json(json.loads(json.dumps(entry.to_json())))
    assert back.decision == decision
    assert [found_keys(s.match) for s in back.decision.samples] == [
        {"region": [10, 20, 300, 200], "transform": "mirror"},
        {},
    ]
