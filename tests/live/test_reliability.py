"""The monitor when things go wrong, against real streams on 127.0.0.1: a worker killed
mid-stream (the alert is neither lost nor repeated), bad streams next to a good one, streams
that end or are stopped, the ``vangnet watch`` command, and more samples than it can hash."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from live.streaming import (
    KNOWN_SECONDS,
    KNOWN_START,
    Clip,
    bank_known,
    free_port,
    home_engine,
    publish,
    remux_prefix,
    stalling_http_server,
    udp_garbage,
    vangnet,
    wait_for,
    worker,
)
from vangnet.actions.webhooks import claim_seconds
from vangnet.config import get_settings, reset_settings
from vangnet.egress.policy import GENERIC_REASON
from vangnet.live.alerts import list_alerts
from vangnet.live.monitor import Monitor
from vangnet.live.runtime import StreamRuntime
from vangnet.live.samples import Sample
from vangnet.live.states import StreamState
from vangnet.store.models import Alert, Stream

SECRET_KEY = "s3cret-stream-key"


def _settings(monkeypatch: pytest.MonkeyPatch, **values: str | float) -> None:
    for name, value in values.items():
        monkeypatch.setenv(f"VANGNET_{name.upper()}", str(value))
    reset_settings()


def _stream(engine: Engine, stream_id: int) -> Stream:
    with Session(engine, expire_on_commit=False) as s:
        row = s.get(Stream, stream_id)
        assert row is not None
        return row


def _alerts(engine: Engine, stream_id: int) -> list[Alert]:
    with Session(engine, expire_on_commit=False) as s:
        return list_alerts(s, stream_id=stream_id)


def _states(events: list[dict[str, Any]], stream_id: int) -> list[tuple[str, str | None]]:
    return [
        (e["state"], e["reason"])
        for e in events
        if e["event"] == "state" and e["stream"] == stream_id
    ]


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def _created_keys(receiver: Any) -> list[str]:
    """Idempotency keys of the ``alert.created`` webhooks received, in order."""
    with receiver.lock:
        requests = list(receiver.requests)
    keys = []
    for r in requests:
        if json.loads(r.body)["event"] == "alert.created":
            key = _header(r.headers, "Idempotency-Key")
            assert key is not None
            keys.append(key)
    return keys


def _stop_stream(stream_id: int) -> dict[str, Any]:
    """``vangnet streams stop ID --json`` (it reads, then writes, while a worker writes)."""
    run = vangnet("streams", "stop", str(stream_id), "--json")
    assert run.returncode == 0, run.stderr
    result: dict[str, Any] = json.loads(run.stdout)
    return result


# -- a) a worker killed mid-stream -------------------------------------------------------------


def test_killed_worker_neither_loses_nor_repeats_the_alert(
    clip: Clip, ffmpeg: str, receiver: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a delivery the killed worker had claimed waits for its claim to run out: two timeouts
    # + 2 s after its last renewal, 4 s with one-second attempts
    _settings(
        monkeypatch, live_lease_seconds=2, webhook_url=receiver.url, webhook_timeout_seconds=1
    )
    port = free_port(socket.SOCK_DGRAM)
    url = f"udp://127.0.0.1:{port}"
    log = tmp_path / "workers.log"
    with home_engine() as engine:  # the file database the `vangnet` processes share
        content_id = bank_known(engine, clip.known)
        queued = vangnet("streams", "start", url, "--json")
        assert queued.returncode == 0, queued.stderr
        stream_id = json.loads(queued.stdout)["id"]
        output = ["-f", "mpegts", f"{url}?pkt_size=1316"]
        with publish(ffmpeg, clip.path, output, loop=True):
            with worker(log, "--poll", "0.5") as first:
                alerted = wait_for(lambda: bool(_alerts(engine, stream_id)), timeout=40)
                assert alerted, log.read_text()
                first.kill()  # kill -9: no clean-up, the lease runs out
                first.wait()
            held_by = _stream(engine, stream_id).worker
            assert held_by is not None and held_by.endswith(f":{first.pid}")
            [alert] = _alerts(engine, stream_id)
            matched_before = alert.frames_matched
            with worker(log, "--poll", "0.5") as second:
                name = f"{socket.gethostname()}:{second.pid}"
                taken = wait_for(lambda: _stream(engine, stream_id).worker == name, timeout=20)
                assert taken and name != held_by, log.read_text()
                # the known photo comes back every 9 s: the second worker extends the alert
                extended = wait_for(
                    lambda: _alerts(engine, stream_id)[0].frames_matched > matched_before,
                    timeout=30,
                )
                assert extended, log.read_text()
                # delivered by the first worker, or by the second once the first one's claim
                # on it (if it was killed while sending) has run out: by now (the second
                # worker took the stream over after the 2 s stream lease and extended the
                # alert) the 4 s claim is gone, so this is a bound, not the wait it once was
                assert wait_for(lambda: bool(_created_keys(receiver)), timeout=claim_seconds(1) + 5)
                _stop_stream(stream_id)
                assert wait_for(lambda: _stream(engine, stream_id).state == "ended", timeout=10)
        row = _stream(engine, stream_id)
        alerts = _alerts(engine, stream_id)
    assert row.state_reason == "stopped by request" and row.alerts == 1
    assert [(a.stream_id, a.bank_content_id) for a in alerts] == [(stream_id, content_id)]
    assert alerts[0].id == alert.id and alerts[0].frames_matched > matched_before
    assert alerts[0].last_stream_time > alert.last_stream_time
    keys = _created_keys(receiver)
    assert set(keys) == {f"alert-{alert.id}-alert.created"}  # retries at most, never a second


# -- b) bad streams next to a good one ---------------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_bad_streams_fail_or_stall_with_a_reason_next_to_a_good_one(
    db_engine: Engine, clip: Clip, ffmpeg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _settings(
        monkeypatch,
        live_stall_seconds=1,
        live_connect_timeout=3,
        live_reconnect_attempts=1,
        live_reconnect_max_seconds=0.5,
    )
    content_id = bank_known(db_engine, clip.known)
    not_video = tmp_path / "x.mp4"
    not_video.write_bytes(os.urandom(200_000))
    prefix = remux_prefix(ffmpeg, clip.path, tmp_path, 300_000)  # ~3 s of the clip
    garbage_port = free_port(socket.SOCK_DGRAM)
    closed_port = free_port()  # nothing listens there
    events: list[dict[str, Any]] = []
    monitor = Monitor(db_engine, on_event=events.append, settings=get_settings()).start()
    try:
        with udp_garbage(garbage_port), stalling_http_server(prefix) as stalling:
            good = monitor.add_stream(str(clip.path))
            garbage = monitor.add_stream(f"udp://127.0.0.1:{garbage_port}")
            silent = monitor.add_stream(f"rtmp://127.0.0.1:{closed_port}/live?key={SECRET_KEY}")
            broken = monitor.add_stream(str(not_video))
            stall = monitor.add_stream(stalling.url)

            def finished(stream_id: int) -> bool:
                return monitor.runtime(stream_id).state.finished

            def stalled_then_reconnected() -> bool:
                states = [s for s, _ in _states(events, stall)]
                if "stalled" not in states or stalling.served < 2:  # served again: reconnected
                    return False
                return "reconnecting" in states[states.index("stalled") :]

            assert wait_for(
                lambda: (
                    all(finished(i) for i in (good, garbage, silent, broken))
                    and stalled_then_reconnected()
                ),
                timeout=40,
            ), monitor.status()
    finally:
        monitor.close(end_streams=True)

    # the good stream was not disturbed: one alert, then a clean end
    assert _states(events, good)[-1] == ("ended", "the stream ended")
    alerts = [e for e in events if e["event"] == "alert"]
    assert [(e["stream"], e["content_id"]) for e in alerts] == [(good, content_id)]
    assert KNOWN_START - 1 <= alerts[0]["first_stream_time"] <= KNOWN_START + KNOWN_SECONDS
    assert _stream(db_engine, good).samples >= clip.duration - 2

    # garbage on UDP never goes live; FFmpeg rejects it (or it times out and is given up)
    garbage_states = _states(events, garbage)
    assert "live" not in [s for s, _ in garbage_states]
    state, reason = garbage_states[-1]
    assert state == "failed" and reason

    # a server that never answers: one reconnection attempt, then failed, saying so
    silent_states = _states(events, silent)
    assert [s for s, _ in silent_states] == ["reconnecting", "failed"]
    # (the reason is the egress policy's generic one: it must not tell a closed port from
    # an open one; tests/security/test_egress.py)
    assert silent_states[0][1] == GENERIC_REASON
    assert silent_states[-1][1] == f"gave up after 1 reconnection attempts: {GENERIC_REASON}"

    # a file that is not a video: failed at once, no retry
    [(state, reason_broken)] = _states(events, broken)
    assert state == "failed" and reason_broken is not None
    assert reason_broken.startswith("cannot read") and "Invalid data" in reason_broken

    # a server that stops sending: live, stalled (with why), reconnecting, live again...
    stall_states = _states(events, stall)
    first_stall = next(i for i, (s, _) in enumerate(stall_states) if s == "stalled")
    assert stall_states[first_stall - 1] == ("live", None)
    assert stall_states[first_stall] == ("stalled", "no data for 1 s")
    assert stall_states[first_stall + 1] == ("reconnecting", "no data for 1 s")
    assert stall_states[-1] == ("ended", "stopped")

    # nothing crashed, and no stream key leaked into reasons or events
    assert not any(e["event"] == "state" and "internal error" in str(e["reason"]) for e in events)
    assert SECRET_KEY not in json.dumps(events)
    with Session(db_engine) as s:
        rows = {r.id: r for r in s.scalars(select(Stream))}
    assert {i: rows[i].state for i in (good, garbage, silent, broken)} == {
        good: "ended",
        garbage: "failed",
        silent: "failed",
        broken: "failed",
    }
    assert all(SECRET_KEY not in (r.state_reason or "") for r in rows.values())
    # closing the monitor ended the stalling stream, and kept why the others finished
    assert rows[good].state_reason == "the stream ended"
    assert rows[silent].state_reason == silent_states[-1][1]
    assert rows[broken].state_reason == reason_broken
    assert (rows[stall].state, rows[stall].state_reason) == ("ended", "stopped")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_frames_larger_than_live_max_pixels_fail_the_stream(
    db_engine: Engine, clip: Clip, monkeypatch: pytest.MonkeyPatch
) -> None:
    _settings(monkeypatch, live_max_pixels=10_000)  # global: its own monitor
    events: list[dict[str, Any]] = []
    monitor = Monitor(db_engine, on_event=events.append, settings=get_settings()).start()
    try:
        stream_id = monitor.add_stream(str(clip.path))
        assert wait_for(lambda: monitor.runtime(stream_id).state.finished, timeout=20)
    finally:
        monitor.close(end_streams=True)
    [(state, reason)] = _states(events, stream_id)
    assert state == "failed" and reason is not None
    assert "1280x720" in reason and "live_max_pixels" in reason
    assert _stream(db_engine, stream_id).state == "failed"


# -- c) streams that end or are stopped --------------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_file_stream_ends_cleanly(db_engine: Engine, clip: Clip) -> None:
    events: list[dict[str, Any]] = []
    monitor = Monitor(db_engine, on_event=events.append, settings=get_settings()).start()
    try:
        stream_id = monitor.add_stream(str(clip.path))
        assert wait_for(lambda: monitor.runtime(stream_id).state.finished, timeout=30)
    finally:
        monitor.close()  # not end_streams: the stream ended on its own
    assert [s for s, _ in _states(events, stream_id)] == ["live", "ended"]
    row = _stream(db_engine, stream_id)
    assert (row.state, row.state_reason, row.desired) == ("ended", "the stream ended", "stop")
    assert row.ended_at is not None and row.worker is None
    assert row.stream_time >= clip.duration - 1.5


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_stream_stopped_while_connecting_ends_with_the_stop_reason(
    db_engine: Engine, clip: Clip, ffmpeg: str, tmp_path: Path
) -> None:
    prefix = remux_prefix(ffmpeg, clip.path, tmp_path, 300_000)
    events: list[dict[str, Any]] = []
    monitor = Monitor(db_engine, on_event=events.append, settings=get_settings()).start()
    try:
        with stalling_http_server(prefix, hold=True) as slow:
            stream_id = monitor.add_stream(slow.url)
            assert wait_for(lambda: slow.accepted == 1, timeout=10)
            monitor.stop_stream(stream_id)  # before the first frame
            slow.release.set()
            runtime = monitor.runtime(stream_id)
            assert wait_for(lambda: runtime.state.finished, timeout=10)
    finally:
        monitor.close(end_streams=True)
    assert _states(events, stream_id)[-1] == ("ended", "stopped by request")
    assert _stream(db_engine, stream_id).state_reason == "stopped by request"


def test_streams_stop_ends_a_stream_a_worker_holds(clip: Clip, tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    with home_engine() as engine:
        queued = vangnet("streams", "start", f"{clip.path}?loop=1", "--json")
        assert queued.returncode == 0, queued.stderr
        stream_id = json.loads(queued.stdout)["id"]
        with worker(log, "--poll", "0.5") as running:
            assert wait_for(lambda: _stream(engine, stream_id).samples >= 2, 30), log.read_text()
            stopped = _stop_stream(stream_id)
            assert stopped["state"] == "live"  # held: the worker ends it
            assert wait_for(lambda: _stream(engine, stream_id).state == "ended", timeout=8)
            assert running.poll() is None  # the worker carries on
        row = _stream(engine, stream_id)
    assert (row.state, row.state_reason, row.desired) == ("ended", "stopped by request", "stop")
    assert row.ended_at is not None


# -- d) vangnet watch --------------------------------------------------------------------------


def test_watch_json_prints_one_event_per_line(clip: Clip, tmp_path: Path) -> None:
    with home_engine() as engine:
        content_id = bank_known(engine, clip.known)
    run = vangnet("watch", str(clip.path), "--json", "--duration", "40")
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert events
    for event in events:
        assert {"event", "stream", "url", "time", "stream_time"} <= event.keys()
        assert event["url"] == str(clip.path)
    alerts = [e for e in events if e["event"] == "alert"]
    assert len(alerts) == 1
    assert {"bank", "content_id", "distance", "category"} <= alerts[0].keys()
    assert (alerts[0]["bank"], alerts[0]["content_id"]) == ("KNOWN", content_id)
    assert alerts[0]["category"] == "vics:1" and alerts[0]["distance"] <= 31
    states = [e["state"] for e in events if e["event"] == "state"]
    assert states[-1] == "ended"

    missing = tmp_path / "missing.mp4"
    run = vangnet("watch", str(missing), "--json", "--duration", "20")
    assert run.returncode == 3, run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    failed = [e for e in events if e["event"] == "state" and e["state"] == "failed"]
    assert len(failed) == 1 and "no such file" in failed[0]["reason"]


# -- e) overload -------------------------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_overload_drops_the_oldest_samples_and_still_alerts(
    db_engine: Engine, clip: Clip, monkeypatch: pytest.MonkeyPatch
) -> None:
    _settings(monkeypatch, live_queue_samples=1)
    content_id = bank_known(db_engine, clip.known)
    events: list[dict[str, Any]] = []
    monitor = Monitor(db_engine, on_event=events.append, settings=get_settings()).start()
    submitted = 0
    longest = 0
    lock = threading.Lock()
    submit = monitor.processor.submit

    def counting_submit(runtime: StreamRuntime, sample: Sample) -> None:
        nonlocal submitted, longest
        submit(runtime, sample)
        with lock:  # the stream's only producer: the queue can only be shorter now
            submitted += 1
            longest = max(longest, len(runtime.queue))

    monitor.processor.submit = counting_submit  # type: ignore[method-assign]
    try:
        stream_id = monitor.add_stream(str(clip.path), fps=30)
        runtime = monitor.runtime(stream_id)
        polled = 0
        deadline = time.monotonic() + 40
        while not runtime.state.finished and time.monotonic() < deadline:
            with monitor.processor._cond:  # as the processor sees it
                polled = max(polled, len(runtime.queue))
            time.sleep(0.01)
        assert runtime.state.finished
        assert wait_for(lambda: runtime.samples + runtime.dropped == submitted, timeout=10), (
            runtime.status(),
            submitted,
        )
    finally:
        monitor.close(end_streams=True)
    assert longest <= 1 and polled <= 1
    assert submitted >= 30 * (clip.duration - 1)  # every frame was sampled
    row = _stream(db_engine, stream_id)
    assert row.samples + row.dropped == submitted
    assert [(e["stream"], e["content_id"]) for e in events if e["event"] == "alert"] == [
        (stream_id, content_id)
    ]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_sample_counted_while_the_stream_row_is_written_is_saved_too(
    db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The processor counts samples while the flusher writes the stream's row: a count that
    lands between the copy and the commit is saved by the next flush, also after the stream
    ended (it was once lost: the row kept samples=1 while the stream had counted 3)."""
    monitor = Monitor(db_engine, on_event=lambda _: None, settings=get_settings()).start()
    try:
        stream_id = monitor.add_stream(None)  # a pushed stream: nothing else counts here
        runtime = monitor.runtime(stream_id)
        copy = monitor._copy
        raced: list[bool] = []

        def copy_then_count(rt: StreamRuntime, row: Stream) -> None:
            copy(rt, row)
            if not raced:  # the processor, on its own thread, right after the copy
                raced.append(True)
                rt.samples += 1
                rt.dirty = True

        monkeypatch.setattr(monitor, "_copy", copy_then_count)
        monitor.set_state(runtime, StreamState.ENDED, "the stream ended")  # writes the row
        assert raced and runtime.samples == 1
        assert wait_for(lambda: _stream(db_engine, stream_id).samples == 1, timeout=10)
    finally:
        monitor.close()
    assert _stream(db_engine, stream_id).state == "ended"
