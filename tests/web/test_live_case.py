"""From a live-stream alert to a confirmed case in the web UI: the alert (written by the
monitor's own `alerts.record`) files a live case, its evidence frames (preserved by the
monitor's `evidence.preserve`, encrypted) are the case's media, classifier scores raise its
priority, and a reviewer reveals a frame and confirms it."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from review.factory import ensure_bank
from vangnet.audit.chain import list_entries
from vangnet.banks.categories import Category
from vangnet.banks.contents import add_content
from vangnet.config import get_settings
from vangnet.evidence.frames import EvidenceFrame, preserve
from vangnet.evidence.sealing import seal_upload
from vangnet.live import alerts
from vangnet.live.decision import Decision, Rule, SampleMatch
from vangnet.match.results import Match
from vangnet.store.db import writer
from vangnet.store.models import Alert, Stream
from vangnet.store.vault import Vault
from web.conftest import WebFactory, login, make_user

PHOTO = Path("photos/public-domain/skimage_rocket.jpg")


def _png(path: Path) -> bytes:
    out = io.BytesIO()
    Image.open(path).convert("RGB").save(out, "PNG")
    return out.getvalue()


def _live_alert(engine: Engine, shared_data: Path) -> int:
    """A stream with viewers, an alert on two matching samples with classifier scores, and
    three evidence frames; returns the alert id."""
    ensure_bank(engine, "LIVE", "uk")
    with Session(writer(engine)) as s:
        content = add_content(
            s, bank="LIVE", signals={"pdq": "f" * 64}, category=Category.parse("uk:A")
        )
        stream = Stream(
            kind="pull",
            url="rtmp://127.0.0.1/live/secret-key",
            external_id="room-7",
            stream_metadata={"account": "streamer9", "platform": "cams", "viewers": 120},
            sample_fps=1.0,
            state="live",
        )
        s.add(stream)
        s.commit()
        stream_id = stream.id
    match = Match("LIVE", content, "pdq", 4, "uk:A", 0)
    decision = Decision(
        bank="LIVE",
        content_id=content,
        rule=Rule(2, 5),
        samples=(SampleMatch(10.0, match), SampleMatch(11.0, match)),
        first=True,
    )
    now = datetime.now(UTC)
    with Session(writer(engine)) as s:
        recorded = alerts.record(
            s,
            stream_id=stream_id,
            decision=decision,
            pdq_by_time={10.0: ("a" * 64, 90), 11.0: ("b" * 64, 88)},
            captured_at={10.0: now, 11.0: now},
            actions=[],
            scores={"nudity": 0.93},
            settings=get_settings(),
        )
        s.commit()
    frame = _png(shared_data / PHOTO)
    preserve(
        engine,
        Vault.from_settings(get_settings()),
        alert_id=recorded.alert_id,
        stream_id=stream_id,
        metadata={"account": "streamer9"},
        frames=[
            EvidenceFrame(t, now, "image/png", lambda: frame, t in (10.0, 11.0), pdq="a" * 64)
            for t in (9.0, 10.0, 11.0)
        ],
        settings=get_settings(),
    )
    return recorded.alert_id


def test_live_alert_to_confirmed_case_in_the_browser_routes(
    web_factory: WebFactory, db_url: str, db_engine: Engine, shared_data: Path
) -> None:
    alert_id = _live_alert(db_engine, shared_data)
    with Session(db_engine) as s:
        case_id = s.scalars(select(Alert.case_id).where(Alert.id == alert_id)).one()
    assert case_id is not None
    make_user(db_url, "rev", "reviewer")
    client: TestClient = web_factory()
    csrf = login(client, "rev")

    queue = client.get("/ui/queue").text
    assert f"/ui/cases/{case_id}" in queue and "LIVE" in queue
    assert "live stream still running" in queue and "nudity 0.93: priority 0.93" in queue
    assert "120 viewers" in queue and "category uk:A" in queue

    page = client.get(f"/ui/cases/{case_id}")
    assert page.status_code == 200
    assert "Stream room-7 (streamer9)" in page.text
    assert "secret-key" not in page.text  # the stream key never reaches the page
    assert page.text.count('class="item"') == 3  # the frames around the match
    assert "at 10.0 s" in page.text and "uk:A" in page.text

    item = int(page.text.split('data-item="', 2)[1].split('"', 1)[0])
    preview = client.get(f"/ui/items/{item}/preview")
    assert preview.status_code == 200 and preview.headers["cache-control"].startswith("no-store")
    clear = client.post(f"/ui/items/{item}/reveal", headers={"X-CSRF-Token": csrf})
    assert clear.status_code == 200 and clear.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(clear.content)).mode == "RGB"
    assert Image.open(io.BytesIO(preview.content)).mode == "L"  # greyscale by default

    decided = client.post(
        f"/ui/cases/{case_id}/decide",
        data={"csrf": csrf, "decision": "confirm", "category": "uk:A", "note": "seen live"},
    )
    assert decided.status_code == 303
    assert "confirmed" in client.get(decided.headers["location"]).text
    with Session(db_engine) as s:
        assert s.get_one(Alert, alert_id).status == "acknowledged"
        actions = [e["action"] for e in list_entries(s, actor="rev")]
    assert actions[:4] == ["case.view", "case.confirm", "media.reveal", "case.view"]


def test_video_items_preview_blurred_and_reveal_as_video(
    web_factory: WebFactory, db_url: str, db_engine: Engine, shared_data: Path
) -> None:
    """A matched video upload: its preview is a blurred greyscale still; revealing it sends
    the video itself (the page plays it muted and paused)."""
    import hashlib

    from vangnet.review import cases

    data = (shared_data / "threatexchange/video/sample-videos/chair-19-sd-bar.mp4").read_bytes()
    ensure_bank(db_engine, "VIDEOS", "vics")
    md5 = hashlib.md5(data).hexdigest()
    with Session(writer(db_engine)) as s:
        content = add_content(
            s, bank="VIDEOS", signals={"md5": md5}, category=Category.parse("vics:1")
        )
        s.commit()
    sha256 = hashlib.sha256(data).hexdigest()
    entry = seal_upload(Vault.from_settings(get_settings()), data, sha256)
    with Session(writer(db_engine)) as s:
        case = cases.intake_upload(
            s,
            entry=entry,
            media_type="video/mp4",
            filename="clip.mp4",
            hashes={"md5": md5, "sha1": hashlib.sha1(data).hexdigest(), "sha256": sha256},
            matches=[Match("VIDEOS", content, "md5", 0, "vics:1", 0)],
            subject={"account": "v1"},
            actor="test",
            group_by="account",
        )
        case_id = case.id
        s.commit()
    make_user(db_url, "rev", "reviewer")
    client: TestClient = web_factory()
    csrf = login(client, "rev")
    page = client.get(f"/ui/cases/{case_id}").text
    assert 'data-video="yes"' in page and "exact md5 match" in client.get("/ui/queue").text
    item = int(page.split('data-item="', 2)[1].split('"', 1)[0])
    preview = client.get(f"/ui/items/{item}/preview")
    assert preview.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(preview.content)).mode == "L"
    clear = client.post(f"/ui/items/{item}/reveal", headers={"X-CSRF-Token": csrf})
    assert clear.status_code == 200 and clear.headers["content-type"] == "video/mp4"
    assert clear.content == data and clear.headers["cache-control"].startswith("no-store")
