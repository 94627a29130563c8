"""Stopping a silent network stream does not wait for its read to time out: a UDP stream
with no publisher (its reader waits to connect, ``live_connect_timeout``) or whose publisher
has stopped (its reader waits for data, ``live_stall_seconds``), both at their default 10 s,
ends within a couple of seconds of the stop, with the stop's reason and the samples taken
before it kept. Through `Monitor.close`, ``vangnet watch`` sent SIGTERM, and ``vangnet
streams stop`` of a stream that ``vangnet watch`` runs. Every stream is on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from live.streaming import (
    VANGNET,
    Clip,
    free_port,
    home_engine,
    publish,
    rtsp_announced,
    rtsp_server,
    udp_bound,
    vangnet,
    wait_for,
)
from vangnet.config import get_settings
from vangnet.egress.policy import EgressPolicy
from vangnet.live.monitor import Monitor
from vangnet.live.reader import FrameReader
from vangnet.sources.streams import source_for
from vangnet.store.models import Stream

#: A stop must end the stream well before the 10 s a blocked read would have waited (the
#: margin is for a loaded test machine: the ends measured here take well under a second).
BOUND = 5.0


@pytest.fixture(autouse=True)
def _default_timeouts() -> None:
    settings = get_settings()
    assert (settings.live_connect_timeout, settings.live_stall_seconds) == (10.0, 10.0)


def _states(events: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(e["state"], e["reason"]) for e in events if e["event"] == "state"]


def _row(engine: Engine, stream_id: int) -> Stream:
    with Session(engine, expire_on_commit=False) as s:
        row = s.get(Stream, stream_id)
        assert row is not None
        return row


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_monitor_close_ends_a_udp_stream_with_no_publisher_at_once(db_engine: Engine) -> None:
    port = free_port(socket.SOCK_DGRAM)
    events: list[dict[str, Any]] = []
    monitor = Monitor(db_engine, on_event=events.append, settings=get_settings()).start()
    try:
        stream_id = monitor.add_stream(f"udp://127.0.0.1:{port}")
        assert wait_for(lambda: udp_bound(port), timeout=10)  # reading, no data
    finally:
        started = time.monotonic()
        monitor.close(end_streams=True, reason="closed by the test")
        took = time.monotonic() - started
    print(f"Monitor.close took {took:.2f} s")
    assert took < BOUND, f"Monitor.close took {took:.1f} s"
    assert _states(events) == [("ended", "closed by the test")]  # never stalled or reconnecting
    row = _row(db_engine, stream_id)
    assert (row.state, row.state_reason, row.desired) == ("ended", "closed by the test", "stop")


def _readers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("vangnet-read-")}


def _reading(before: set[threading.Thread]) -> bool:
    """Whether a stream reader thread started since ``before`` is still alive (one of an
    earlier test may still wait for its read to time out)."""
    return bool(_readers() - before)


@dataclass(frozen=True)
class Publisher:
    url: str
    ready: Callable[[], bool]  # the monitor's reader is there to receive
    process: subprocess.Popen[bytes]  # the ffmpeg publishing


@contextmanager
def _publisher(protocol: str, ffmpeg: str, clip: Clip) -> Iterator[Publisher]:
    """ffmpeg publishing ``clip`` over ``protocol`` on 127.0.0.1 (UDP, SRT, or RTSP through
    an RTSP server) until the block ends, looped: a monitor that could not open the stream at
    once (a loaded machine) finds it still there when it reconnects."""
    port = free_port(socket.SOCK_DGRAM if protocol != "rtsp" else socket.SOCK_STREAM)
    if protocol == "udp":
        url = f"udp://127.0.0.1:{port}"
        output = ["-f", "mpegts", f"{url}?pkt_size=1316"]
        with publish(ffmpeg, clip.path, output, loop=True) as process:
            yield Publisher(url, lambda: udp_bound(port), process)
    elif protocol == "srt":
        output = ["-f", "mpegts", f"srt://127.0.0.1:{port}?mode=listener"]
        with publish(ffmpeg, clip.path, output, loop=True) as process:
            time.sleep(0.5)  # ffmpeg is listening
            yield Publisher(f"srt://127.0.0.1:{port}?mode=caller", lambda: True, process)
    else:
        with rtsp_server() as (client_port, source_port):
            output = ["-f", "rtsp", f"rtsp://127.0.0.1:{source_port}/live"]
            with publish(ffmpeg, clip.path, output, loop=True) as process:
                # the source has announced it (no fixed wait: a loaded machine is slow)
                assert wait_for(lambda: rtsp_announced(client_port), 15)
                url = f"rtsp://127.0.0.1:{client_port}/live"
                yield Publisher(url, lambda: True, process)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("protocol", ["udp", "srt", "rtsp"])
def test_stopping_a_stream_whose_publisher_went_silent_ends_it_at_once(
    db_engine: Engine, clip: Clip, ffmpeg: str, protocol: str
) -> None:
    """Through SRT (an ffmpeg relay process) and RTSP (the egress relay) the blocked read
    itself is interrupted: the reader thread ends with the stream (within 2 s; without the
    interrupt, an SRT reader ends when the paused peer times out, ~5 s). FFmpeg's own UDP
    socket cannot be interrupted (PyAV has no call for it): its reader ends when its read
    times out, after the stream has ended."""
    events: list[dict[str, Any]] = []
    monitor = Monitor(db_engine, on_event=events.append, settings=get_settings()).start()
    try:
        with _publisher(protocol, ffmpeg, clip) as publisher:
            before = _readers()
            stream_id = monitor.add_stream(publisher.url)
            runtime = monitor.runtime(stream_id)
            assert wait_for(publisher.ready, timeout=10)
            assert wait_for(lambda: runtime.samples >= 2, timeout=30), _states(events)
            # paused: still connected, sending nothing; the reader waits for data
            publisher.process.send_signal(signal.SIGSTOP)
            time.sleep(0.5)
            started = time.monotonic()
            monitor.stop_stream(stream_id, "stopped by the test")
            assert wait_for(lambda: runtime.state.finished, timeout=BOUND, step=0.02)
            took = time.monotonic() - started
            samples = runtime.samples
            if protocol != "udp":
                assert wait_for(lambda: not _reading(before), timeout=2.0, step=0.02)
                print(f"{protocol}: reader ended {time.monotonic() - started:.2f} s after the stop")
    finally:
        monitor.close(end_streams=True)
    print(f"{protocol}: the stream ended {took:.2f} s after the stop")
    assert took < BOUND, f"the stop took {took:.1f} s"
    # never "stalled" or "reconnecting": the stop came first
    assert [s for s in _states(events) if s[0] != "connecting"] == [
        ("live", None),
        ("ended", "stopped by the test"),
    ]
    row = _row(db_engine, stream_id)
    assert (row.state, row.state_reason) == ("ended", "stopped by the test")
    assert row.samples == samples >= 2  # the samples taken before the stop are kept


def _watch(port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [VANGNET, "watch", f"udp://127.0.0.1:{port}", "--json", "--duration", "60"]
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


def _events(log: Path) -> list[dict[str, Any]]:
    lines = log.read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_vangnet_watch_ends_at_once_on_sigterm_and_on_streams_stop(tmp_path: Path) -> None:
    for how in ("sigterm", "streams stop"):
        port = free_port(socket.SOCK_DGRAM)
        log = tmp_path / f"{how}.jsonl"
        watching = _watch(port, log)
        try:
            assert wait_for(lambda: udp_bound(port), timeout=30), log.read_text()  # noqa: B023
            started = time.monotonic()
            if how == "sigterm":
                watching.send_signal(signal.SIGTERM)
            else:
                with home_engine() as engine, Session(engine) as s:
                    rows = s.scalars(select(Stream).where(Stream.state == "connecting")).all()
                    [stream_id] = [r.id for r in rows if (r.url or "").endswith(f":{port}")]
                stopped = vangnet("streams", "stop", str(stream_id), "--json")
                assert stopped.returncode == 0, stopped.stderr
                started = time.monotonic()  # the command itself is not the watch's delay
            assert watching.wait(timeout=30) == 0, log.read_text()[-2000:]
            took = time.monotonic() - started
        finally:
            if watching.poll() is None:
                watching.kill()
                watching.wait()
        print(f"{how}: the watch ended {took:.2f} s after the stop")
        assert took < BOUND, f"{how}: the watch took {took:.1f} s to end"
        reason = "watch stopped" if how == "sigterm" else "stopped by request"
        assert _states(_events(log)) == [("ended", reason)], how


def test_a_session_that_leaves_early_lets_its_reader_end(clip: Clip) -> None:
    """The session stops taking frames without a stop (its own error): the reader is told,
    closes the source and ends instead of waiting forever to hand its next frame over."""
    source = source_for(
        f"{clip.path}?loop=1",
        connect_timeout=10.0,
        stall_timeout=10.0,
        egress=EgressPolicy(),
        max_pixels=3840 * 2160,
        rtsp_transport="auto",
    )
    reader = FrameReader(source, name="vangnet-read-test", stop=threading.Event())
    frames = reader.frames()
    first = next(frames)
    assert first.item.frame.width == 1280 and first.cpu >= 0
    frames.close()  # what an exception in the session's loop does to the iteration
    reader.thread.join(timeout=2.0)
    assert not reader.thread.is_alive() and source.closed
