"""Every match says how it was found, and its case keeps it (issue 12, point 3): an upload
whose photo shows a banked photo as a picture-in-picture inset, matched by ``POST /v1/match``,
opens a case whose match has ``found.region`` (where the inset is, in the upload's pixels) and
``found.transform``, as ``GET /v1/cases/{id}`` and ``vangnet case show`` print it; the
banked photo uploaded as it is keeps ``found == {}``. A live alert keeps the provenance of the
frame its case shows. SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cli.test_cli import Run
from region_composites import inset, load, png
from review.factory import ensure_bank
from vangnet.banks.categories import Category
from vangnet.banks.contents import add_content
from vangnet.cases.intake import AlertSignal, Intake, Source, file_intake
from vangnet.config import get_settings
from vangnet.live import alerts
from vangnet.live.decision import Decision, Rule, SampleMatch
from vangnet.match.results import Match
from vangnet.media.regions.edges import Box
from vangnet.store.db import writer
from vangnet.store.models import Alert, CaseMatch, Stream

from .conftest import refresh

SLACK = 8
BSDS = Path("photos/bsds500")


def banked_and_inset(shared_data: Path) -> tuple[bytes, bytes, tuple[int, int, int, int]]:
    """A benign photo (to bank) and a composite showing it as an inset of another photo,
    with where it was pasted (x, y, w, h); made in memory."""
    photo = sorted((shared_data / BSDS / "test").glob("*.jpg"))[0]
    other = sorted((shared_data / BSDS / "val").glob("*.jpg"))[0]
    composite, pasted = inset(load(photo), [load(other)])
    return photo.read_bytes(), png(composite), pasted


def bank_hash_only(client: TestClient, data: bytes, bank: str = "KNOWN") -> int:
    """A hash-only bank holding the PDQ of ``data`` (no media); returns its content id."""
    r = client.post("/v1/banks", json={"name": bank, "category_profile": "vics"})
    assert r.status_code == 201, r.text
    pdq = client.post("/v1/hash", content=data).json()["pdq"]
    r = client.post(
        f"/v1/banks/{bank}/hashes",
        json={"items": [{"signal_type": "pdq", "value": pdq, "category": "vics:1"}]},
    )
    assert r.status_code == 200, r.text
    refresh(client)
    content_id: int = r.json()["content_ids"][0]
    return content_id


def near(region: list[int], pasted: tuple[int, int, int, int]) -> bool:
    (x, y, w, h), (px, py, pw, ph) = region, pasted
    return (
        abs(x - px) <= SLACK
        and abs(y - py) <= SLACK
        and abs(x + w - px - pw) <= SLACK
        and abs(y + h - py - ph) <= SLACK
    )


def test_an_upload_matched_in_a_region_keeps_where(
    client: TestClient, db_url: str, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    banked, composite, pasted = banked_and_inset(shared_data)
    content_id = bank_hash_only(client, banked)

    r = client.post("/v1/match?account=pip-user&platform=p", content=composite)
    assert r.status_code == 200, r.text
    (answer,) = r.json()["matches"]
    assert answer["content_id"] == content_id and "region" in answer
    case_id = r.json()["case_id"]

    doc = client.get(f"/v1/cases/{case_id}").json()
    (match,) = doc["matches"]
    found = match["found"]
    assert set(found) == {"region", "transform"}, found
    # the region as the matcher said it, kept as [x, y, w, h]
    region = answer["region"]
    assert found["region"] == [region["x"], region["y"], region["w"], region["h"]]
    assert near(found["region"], pasted), (found, pasted)
    assert found["transform"] == answer["transform"] == "identity"
    assert match["item_id"] == doc["items"][0]["id"]
    (event,) = [e for e in doc["timeline"] if e["kind"] == "match"]
    assert f"region {found['region'][2]}x{found['region'][3]}" in event["summary"]

    # `vangnet case show` says it too (in process; the API's document is the CLI's)
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    human = Run()("case", "show", str(case_id)).output
    x, y, w, h = found["region"]
    assert all(word in human for word in ("region", f"{w}x{h}", f"({x},", f"{y}),")), human

    # the banked photo as it is: a whole-picture match, nothing to say about how
    r = client.post("/v1/match?account=plain-user&platform=p", content=banked)
    (whole,) = client.get(f"/v1/cases/{r.json()['case_id']}").json()["matches"]
    assert whole["found"] == {} and whole["content_id"] == content_id


def _stream(engine: Engine) -> tuple[int, int]:
    ensure_bank(engine, "LIVE", "uk")
    with Session(writer(engine)) as s:
        content = add_content(
            s, bank="LIVE", signals={"pdq": "f" * 64}, category=Category.parse("uk:A")
        )
        stream = Stream(
            kind="pull",
            url="rtmp://127.0.0.1/live/k",
            external_id="room-9",
            stream_metadata={"account": "caller"},
            sample_fps=1.0,
            state="live",
        )
        s.add(stream)
        s.commit()
        return stream.id, content


def _record(engine: Engine, stream_id: int, decision: Decision) -> int:
    now = datetime.now(UTC)
    times = [s.stream_time for s in decision.samples]
    with Session(writer(engine)) as s:
        recorded = alerts.record(
            s,
            stream_id=stream_id,
            decision=decision,
            pdq_by_time={t: ("a" * 64, 90) for t in times},
            captured_at=dict.fromkeys(times, now),
            actions=[],
            settings=get_settings(),
        )
        s.commit()
    return recorded.alert_id


def test_a_live_alert_keeps_how_its_frames_matched(db_engine: Engine) -> None:
    """The monitor's `alerts.record` of a decision whose samples matched in a region of the
    frame (a video-call tile): the case's time range keeps the provenance of its first frame,
    and takes an earlier frame's when one extends the range backwards."""
    stream_id, content = _stream(db_engine)

    def sample(t: float, box: Box | None, transform: str | None = None) -> SampleMatch:
        match = Match("LIVE", content, "pdq", 6, "uk:A", 0, region=box, transform=transform)
        return SampleMatch(t, match)

    tile = Box(8, 8, 480, 320)
    first = Decision(
        bank="LIVE",
        content_id=content,
        rule=Rule(2, 5),
        samples=(sample(20.0, tile, "identity"), sample(21.0, Box(10, 8, 478, 320), "identity")),
        first=True,
    )
    alert_id = _record(db_engine, stream_id, first)
    with Session(db_engine) as s:
        (row,) = s.scalars(select(CaseMatch).where(CaseMatch.alert_id == alert_id))
        assert row.found == {"region": [8, 8, 480, 320], "transform": "identity"}
        assert (row.stream_time, row.stream_time_end) == (20.0, 21.0)
        case_id = s.scalars(select(Alert.case_id).where(Alert.id == alert_id)).one()
    # an earlier frame, matched as the whole frame under a rotation, now opens the range
    earlier = Decision(
        bank="LIVE",
        content_id=content,
        rule=Rule(1, 5),
        samples=(sample(19.5, None, "rot90"),),
        first=False,
    )
    _record(db_engine, stream_id, earlier)
    with Session(db_engine) as s:
        (row,) = s.scalars(select(CaseMatch).where(CaseMatch.case_id == case_id))
        assert row.stream_time == 19.5 and row.found == {"transform": "rot90"}


def test_a_live_intake_takes_each_frames_match_in_order(db_engine: Engine) -> None:
    """A live intake whose matches come one per added frame (``Intake.matches``, in the
    order of the alert signal's ``times``) keeps their provenance as well."""
    stream_id, content = _stream(db_engine)
    match = Match("LIVE", content, "pdq", 5, "uk:A", 0)
    alert_id = _record(
        db_engine,
        stream_id,
        Decision("LIVE", content, Rule(1, 5), (SampleMatch(5.0, match),), first=True),
    )
    inset = replace(match, region=Box(600, 20, 160, 120), transform="mirror")
    with Session(writer(db_engine)) as s:
        alert = s.get_one(Alert, alert_id)
        file_intake(
            s,
            Intake(
                source=Source.LIVE_ALERT,
                alert=AlertSignal(alert, False, (300.0, 301.0)),
                matches=(inset, match),
            ),
        )
        s.commit()
    with Session(db_engine) as s:
        rows = s.scalars(
            select(CaseMatch).where(CaseMatch.alert_id == alert_id).order_by(CaseMatch.stream_time)
        )
        assert [(r.stream_time, r.found) for r in rows] == [
            (5.0, {}),
            (300.0, {"region": [600, 20, 160, 120], "transform": "mirror"}),
        ]
