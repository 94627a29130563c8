"""The wider net on live samples (issue 12, points 2 and 4): a banked photo shown as one tile
of a video-call grid, pushed to a push stream as JPEG frames, is more than its bank's
threshold away by PDQ (a name label and the tile's size cost it bits) but within its
``verify_threshold``; the features kept when it was banked confirm it on the frame, and the
stream raises an alert whose frames say where the photo was and how many local features
agreed. With ``live_verify`` off the same frames raise nothing. The verification's CPU time is
the stream's own (``cpu_seconds.verify``).

Bank: BSDS500 train photo 4 (sorted), banked from its pixels as ``vangnet bank add`` banks a
photo (features and crop hashes kept). Frames: `region_composites.call_tile` of it among
train photos 20-23, JPEG q85, made in memory."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

import region_composites as rc
from conftest import audited
from vangnet.banks.bank import create_bank
from vangnet.banks.categories import Category
from vangnet.banks.contents import add_content
from vangnet.banks.features import FeatureSeal
from vangnet.config import Settings, get_settings
from vangnet.live.monitor import Monitor
from vangnet.live.samples import pushed_frame_sample
from vangnet.signals.hashing import hash_bytes, signal_values
from vangnet.store.db import make_engine, writer

from .conftest import AppFactory, poll, refresh
from .test_live_api import WAIT, alerts_of, push_jpeg, samples_of, start_push

PHOTOS = Path("photos/bsds500/train")
SHOWN = 4  # the banked photo (its tile is 34-40 PDQ bits away: beyond the threshold of 31)


def _bank_from_pixels(db_url: str, photo: Path, settings: Settings) -> int:
    engine = audited(make_engine(db_url))
    try:
        with Session(writer(engine)) as s:
            create_bank(s, name="KNOWN", settings=settings)
            hashed = hash_bytes(photo.read_bytes(), settings=settings, for_bank=True)
            assert hashed.features, "banked from its pixels: features kept"
            content_id = add_content(
                s,
                bank="KNOWN",
                signals=signal_values(hashed),
                category=Category.parse("vics:1"),
                features=hashed.kept_features(),
                seal=FeatureSeal.from_settings(settings),
            )
            s.commit()
    finally:
        engine.dispose()
    return content_id


def _tile_frame(shared_data: Path) -> tuple[bytes, tuple[int, int, int, int], Path]:
    photos = sorted((shared_data / PHOTOS).glob("*.jpg"))
    pictures = [rc.load(p) for p in photos[:24]]
    grid, at = rc.call_tile(pictures[SHOWN], pictures[20:24])
    out = io.BytesIO()
    grid.save(out, format="JPEG", quality=85)
    return out.getvalue(), at, photos[SHOWN]


def _push_three(client: Any, frame: bytes) -> int:
    stream = start_push(client, external_id="call-1", fps=1)
    for t in (1.0, 2.0, 3.0):
        assert push_jpeg(client, stream, frame, t).status_code == 202
    assert poll(lambda: samples_of(client, stream) == 3, timeout=WAIT)
    return stream


def test_a_call_tile_beyond_the_threshold_alerts_when_features_confirm_it(
    make_client: AppFactory, admin_key: str, db_url: str, shared_data: Path
) -> None:
    # no region budget: CPU time on a loaded test machine is not deterministic (the budget
    # has its own tests); what the verification spends is still counted
    client = make_client(live_regions_budget_ms=0)
    client.headers["X-API-Key"] = admin_key
    frame, shown, photo = _tile_frame(shared_data)
    content_id = _bank_from_pixels(db_url, photo, client.app.state.services.settings)  # type: ignore[attr-defined]
    refresh(client)

    stream = _push_three(client, frame)
    assert poll(lambda: bool(alerts_of(client, stream)), timeout=WAIT), "no alert"
    [alert] = alerts_of(client, stream)
    assert alert["content_id"] == content_id and alert["bank"] == "KNOWN"
    detail = client.get(f"/v1/alerts/{alert['id']}").json()
    frames = detail["frames"]
    assert len(frames) >= 2
    for f in frames:
        found = f["found"]
        assert found["inliers"] >= 12, found  # match_verify_min_inliers
        assert rc.near(found["region"], shown, 0.1), (found, shown)
        assert f["distance"] > 31, f  # beyond the bank's threshold: found by the wider net
    live = client.get(f"/v1/streams/{stream}").json()["live"]
    assert live["cpu_seconds"]["verify"] > 0
    assert live["regions_skipped"] == 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_without_live_verify_the_same_frames_raise_nothing(
    make_client: AppFactory, admin_key: str, db_url: str, shared_data: Path
) -> None:
    client = make_client(live_regions_budget_ms=0, live_verify=False)
    client.headers["X-API-Key"] = admin_key
    frame, _, photo = _tile_frame(shared_data)
    _bank_from_pixels(db_url, photo, client.app.state.services.settings)  # type: ignore[attr-defined]
    refresh(client)

    stream = _push_three(client, frame)
    assert alerts_of(client, stream) == []
    live = client.get(f"/v1/streams/{stream}").json()["live"]
    assert live["matches"] == 0 and live["cpu_seconds"]["verify"] == 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_stream_behind_has_only_its_newest_sample_of_a_batch_checked(
    db_url: str, shared_data: Path
) -> None:
    """The checks are paid after a batch, so a stream that fell behind (three samples of the
    tile in one batch) has only its newest sample checked: one allowance never pays for
    several. The other two are matched by their hashes only (the tile is beyond the
    threshold: no match)."""
    settings = get_settings().model_copy(update={"live_regions_budget_ms": 0.0})
    frame, _, photo = _tile_frame(shared_data)
    engine = audited(make_engine(db_url))
    content_id = _bank_from_pixels(db_url, photo, settings)
    events: list[dict[str, Any]] = []
    monitor = Monitor(engine, on_event=events.append, classifiers=(), settings=settings).start()
    try:
        stream = monitor.add_stream(None)
        runtime = monitor.runtimes[stream]
        batch = [
            (
                runtime,
                pushed_frame_sample(
                    stream, t, time.time(), frame, max_pixels=settings.live_max_pixels
                ),
            )
            for t in (1.0, 2.0, 3.0)
        ]
        monitor.processor.process(batch)
        verify_cpu = runtime.status()["cpu_seconds"]["verify"]
    finally:
        monitor.close(end_streams=True)
        engine.dispose()
    matched = [e for e in events if e["event"] == "match"]
    assert [(e["stream_time"], e["content_id"]) for e in matched] == [(3.0, content_id)]
    assert matched[0]["inliers"] >= 12
    assert verify_cpu > 0
