"""Wellness settings and the break reminder: each reviewer chooses blur strength and
greyscale (audited); after the configured number of items a session asks for a break."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from review.factory import PHOTOS, make_case
from vangnet.audit.chain import list_entries
from web.conftest import WebFactory, login, make_user


def _sharpness(jpeg: bytes) -> float:
    """Mean absolute difference between neighbouring pixels (inside a margin)."""
    grey = np.asarray(Image.open(io.BytesIO(jpeg)).convert("L"), dtype=np.float32)[8:-8, 8:-8]
    return float(np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean())


def test_preview_follows_each_reviewers_settings(
    web_factory: WebFactory, db_url: str, db_engine: Engine, shared_data: Path
) -> None:
    case_id = make_case(db_engine, shared_data)
    make_user(db_url, "rev", "reviewer")
    client = web_factory()
    csrf = login(client, "rev")
    page = client.get(f"/ui/cases/{case_id}").text
    item = int(page.split('data-item="', 2)[1].split('"', 1)[0])
    default = client.get(f"/ui/items/{item}/preview").content
    assert Image.open(io.BytesIO(default)).mode == "L"

    r = client.post("/ui/settings", data={"csrf": csrf, "blur": "4", "greyscale": "off"})
    assert r.status_code == 303
    lighter = client.get(f"/ui/items/{item}/preview").content
    assert Image.open(io.BytesIO(lighter)).mode == "RGB"  # colour now
    assert _sharpness(lighter) > 3 * _sharpness(default)  # and less blurred
    assert 'value="4"' in client.get("/ui/settings").text
    for bad in ("65", "-1", "x"):
        assert client.post("/ui/settings", data={"csrf": csrf, "blur": bad}).status_code == 400
    with Session(db_engine) as s:
        change = list_entries(s, action="user.preferences")[0]
    assert change["before"]["blur"] == 24 and change["after"] == {"blur": 4, "greyscale": False}


def test_break_reminder_after_the_cap(
    web_factory: WebFactory, db_url: str, db_engine: Engine, shared_data: Path
) -> None:
    first = make_case(db_engine, shared_data, photo=PHOTOS[0], account="a")
    second = make_case(db_engine, shared_data, photo=PHOTOS[1], account="b")
    make_user(db_url, "rev", "reviewer")
    client = web_factory(review_session_items=2)
    csrf = login(client, "rev")
    assert "take a break" not in client.get(f"/ui/cases/{first}").text
    assert "take a break" in client.get(f"/ui/cases/{second}").text  # the 2nd item
    assert "take a break" in client.get("/ui/queue").text
    r = client.post("/ui/break", data={"csrf": csrf})
    assert r.status_code == 303
    assert "take a break" not in client.get("/ui/queue").text
    with Session(db_engine) as s:
        assert list_entries(s, action="wellness.break")[0]["actor"] == "rev"
