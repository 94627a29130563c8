"""Nothing of a live alert's evidence is lost silently (issue 10, "nothing lost"): frames the
evidence queue cannot take are counted and announced; a failing preservation is retried,
and frames it still cannot keep are counted and announced too."""

from __future__ import annotations

import base64
import logging
import secrets
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from live.streaming import bank_known, wait_for
from vangnet.config import Settings, get_settings
from vangnet.live.decision import DecisionWindow
from vangnet.live.evidence_keeper import EvidenceKeeper
from vangnet.live.monitor import Monitor
from vangnet.live.runtime import StreamRuntime
from vangnet.live.sampler import SampleReason
from vangnet.live.samples import Sample, pushed_frame_sample
from vangnet.store.models import Alert, EvidenceItem, EvidenceSignal, Stream

PHOTOS = "photos/bsds500/train"


def _runtime(stream_id: int = 1) -> StreamRuntime:
    return StreamRuntime(
        id=stream_id,
        kind="push",
        url=None,
        external_id=None,
        metadata={},
        fps=1.0,
        window=DecisionWindow(rules={}),
    )


def _sample(t: float) -> Sample:
    return Sample(
        1, t, 1_700_000_000.0 + t, SampleReason.BASE, pdq="f" * 64, evidence=lambda: b"\x89PNG"
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_frames_a_full_queue_cannot_take_are_counted_and_announced(db_engine: Engine) -> None:
    events: list[tuple[str, float, dict[str, Any]]] = []

    def emit(runtime: StreamRuntime, event: str, stream_time: float, **data: Any) -> None:
        events.append((event, stream_time, data))

    keeper = EvidenceKeeper(db_engine, settings=get_settings(), emit=emit, queue_size=1)
    runtime = _runtime()  # the keeper's thread is not started: its queue stays full
    keeper.keep(runtime, 7, [_sample(1.0), _sample(2.0)], {2.0})
    assert runtime.evidence_lost == 0 and not events
    keeper.keep(runtime, 7, [_sample(3.0), _sample(4.0), _sample(5.0)], set())
    keeper.keep(runtime, 8, [_sample(6.0)], {6.0})
    assert runtime.evidence_lost == 4
    assert runtime.status()["evidence_lost"] == 4
    assert [(e, t, d["alert_id"], d["frames"], d["stream_times"]) for e, t, d in events] == [
        ("evidence_lost", 5.0, 7, 3, [3.0, 4.0, 5.0]),
        ("evidence_lost", 6.0, 8, 1, [6.0]),
    ]
    assert all("evidence queue full" in d["reason"] for _, _, d in events)
    # stopping: what is still queued, and what comes afterwards, is counted too
    keeper.close()
    keeper.keep(runtime, 9, [_sample(7.0)], {7.0})
    assert runtime.evidence_lost == 7
    assert [(d["alert_id"], d["frames"], d["reason"]) for _, _, d in events[2:]] == [
        (7, 2, "not preserved before the monitor stopped"),
        (9, 1, "the monitor has stopped"),
    ]


def _push_alert(monitor: Monitor, photo: Path, settings: Settings) -> int:
    """A push stream on ``monitor`` showing banked ``photo`` twice: one alert; its id."""
    stream_id = monitor.add_stream(None)
    data = photo.read_bytes()
    for t in (1.0, 2.0):
        sample = pushed_frame_sample(stream_id, t, 1_700_000_000.0 + t, data, max_pixels=10**8)
        monitor.push_sample(stream_id, sample)
    return stream_id


def _alert_id(engine: Engine) -> int | None:
    with Session(engine) as s:
        return s.scalar(select(Alert.id))


def _items(engine: Engine) -> int:
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(EvidenceItem)) or 0


def test_a_failing_preservation_is_retried_until_it_succeeds(
    db_url: str,
    db_engine: Engine,
    shared_data: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The vault key is missing when the alert's frames are first preserved (the vault
    refuses); once the key is there, a retry keeps every frame, and nothing is counted lost."""
    key = tmp_path / "vault.key"
    settings = Settings(database_url=db_url, vault_key_file=key, live_evidence_retries=8)
    photo = sorted((shared_data / PHOTOS).glob("*.jpg"))[0]
    bank_known(db_engine, photo)
    events: list[dict[str, Any]] = []
    monitor = Monitor(db_engine, on_event=events.append, settings=settings).start()
    caplog.set_level(logging.WARNING, logger="vangnet.live.evidence_keeper")
    try:
        stream_id = _push_alert(monitor, photo, settings)
        assert wait_for(lambda: _alert_id(db_engine) is not None, timeout=15)
        assert wait_for(lambda: "trying again" in caplog.text, timeout=15), caplog.text
        assert _items(db_engine) == 0
        key.write_bytes(base64.b64encode(secrets.token_bytes(32)) + b"\n")
        assert wait_for(lambda: _items(db_engine) == 2, timeout=30)
        runtime = monitor.runtime(stream_id)
        assert runtime.evidence_lost == 0
    finally:
        monitor.close(end_streams=True)
    assert not [e for e in events if e["event"] == "evidence_lost"]


def test_frames_a_failing_database_refuses_are_retried_then_counted(
    db_url: str, db_engine: Engine, tmp_path: Path
) -> None:
    """Preserving for an alert the database does not hold fails every time (a foreign key):
    tried 1 + 2 times, then counted and announced, and no file is left in the vault."""
    settings = Settings(database_url=db_url)
    events: list[tuple[str, float, dict[str, Any]]] = []

    def emit(runtime: StreamRuntime, event: str, stream_time: float, **data: Any) -> None:
        events.append((event, stream_time, data))

    from vangnet.live.streams import create_stream
    from vangnet.store.db import writer

    with Session(writer(db_engine)) as s:
        stream_id = create_stream(s, url=None, settings=settings).id
        s.commit()
    keeper = EvidenceKeeper(db_engine, settings=settings, emit=emit, retry_delays=(0.05, 0.05))
    keeper.start()
    runtime = _runtime(stream_id)
    sample = _sample(1.0)
    sample.signals["some_plugin"] = "00ff"
    keeper.keep(runtime, 999_999, [sample, _sample(2.0)], {1.0})
    keeper.close()
    assert runtime.evidence_lost == 2
    [(event, stream_time, data)] = events
    assert (event, stream_time, data["alert_id"], data["frames"]) == (
        "evidence_lost",
        2.0,
        999_999,
        2,
    )
    assert "after 3 attempts" in data["reason"]
    assert _items(db_engine) == 0
    with Session(db_engine) as s:
        assert s.scalar(select(func.count()).select_from(EvidenceSignal)) == 0
    vault = settings.vault_dir
    assert not vault.exists() or not [p for p in vault.iterdir() if p.is_file()]


def test_frames_lost_after_their_stream_was_forgotten_are_still_counted_on_its_row(
    db_url: str,
    db_engine: Engine,
    shared_data: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stream that ended is dropped from the monitor's memory once its row is saved
    (``keep_finished_seconds``) while its alert's frames may still be waiting for a retry
    (the vault refuses: no key). When the last try fails, the frames must be counted where
    the API and ``vangnet streams list`` read them (the stream's row), not only on a
    runtime nobody saves any more."""
    settings = Settings(
        database_url=db_url, vault_key_file=tmp_path / "missing.key", live_evidence_retries=4
    )
    photo = sorted((shared_data / PHOTOS).glob("*.jpg"))[0]
    bank_known(db_engine, photo)
    events: list[dict[str, Any]] = []
    monitor = Monitor(
        db_engine, on_event=events.append, settings=settings, keep_finished_seconds=0.0
    ).start()
    caplog.set_level(logging.WARNING, logger="vangnet.live.evidence_keeper")
    try:
        stream_id = _push_alert(monitor, photo, settings)
        assert wait_for(lambda: _alert_id(db_engine) is not None, timeout=15)
        assert wait_for(lambda: "trying again" in caplog.text, timeout=15), caplog.text
        monitor.stop_stream(stream_id)
        # ended, saved, then forgotten, while the frames still wait (0.5 + 1 + 2 + 4 s)
        assert wait_for(lambda: stream_id not in monitor.runtimes, timeout=15)
        assert wait_for(lambda: any(e["event"] == "evidence_lost" for e in events), timeout=20), (
            caplog.text
        )
    finally:
        monitor.close(end_streams=True)
    with Session(db_engine) as s:
        row = s.get(Stream, stream_id)
        assert row is not None
        assert row.evidence_lost == 2
