"""The review queue page ordered by the priority signal, on SQLite and PostgreSQL: uploads
scored by a test classifier with controlled scores (`api.test_upload_queue`) are filed
through ``POST /v1/match``; the page sorts by classifier score, filters by a minimum score,
has a "Likely new material" tab (likely, no match) and shows each case's fused summary; a
bad value is refused. A live alert's case keeps its signal too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from api.conftest import make_key
from api.test_review_api import _bank_photo
from api.test_upload_queue import RED, _png, _with_red, red  # noqa: F401 (a fixture)
from vangnet.store.models import Alert, Case
from web.conftest import WebFactory, login, make_user
from web.test_live_case import _live_alert

BRIDGE = Path("threatexchange/pdq/data/bridge-mods")


def _rows(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-href="/ui/cases/(\d+)"', html)]


@pytest.mark.usefixtures("red")
def test_the_queue_page_sorts_filters_and_has_a_likely_new_tab(
    db_url: str, shared_data: Path, web_factory: WebFactory
) -> None:
    app = web_factory(classifiers=[RED])
    api = {"X-API-Key": make_key(db_url, "admin")}
    app.headers.update(api)
    high = app.post("/v1/match?account=h", content=_png(0.9, 11)).json()["case_id"]
    low = app.post("/v1/match?account=l", content=_png(0.6, 12)).json()["case_id"]
    matched_data = _with_red((shared_data / BRIDGE / "aaa-orig.jpg").read_bytes(), 0.7)
    _bank_photo(app, matched_data)
    matched = app.post("/v1/match?account=m", content=matched_data).json()["case_id"]
    for key in api:
        del app.headers[key]

    make_user(db_url, "rita", "reviewer")
    login(app, "rita")
    page = app.get("/ui/queue")
    assert page.status_code == 200
    assert _rows(page.text)[0] == matched  # by priority: the match's points first
    assert "nudity 0.90 (test_queue_red)" in page.text  # the fused summary
    assert "Likely new material" in page.text
    by_score = app.get("/ui/queue?order=score").text
    assert _rows(by_score) == [high, matched, low]
    assert _rows(app.get("/ui/queue?order=score&min_score=0.4").text) == [high]
    tab = app.get("/ui/queue?view=likely_new&order=score")
    assert tab.status_code == 200 and _rows(tab.text) == [high, low]
    assert 'aria-current="page">Likely new material' in tab.text
    assert "never a verdict" in tab.text
    for bad in ("order=size", "min_score=2", "view=other"):
        assert app.get(f"/ui/queue?{bad}").status_code == 400, bad


def test_a_live_alerts_case_keeps_its_signal(
    db_engine: Engine, shared_data: Path, web_factory: WebFactory, db_url: str
) -> None:
    """A live alert with classifier scores: its case keeps the fused value (a classifier not
    installed here counts as it is, and never as "likely") and sorts by it."""
    alert_id = _live_alert(db_engine, shared_data)
    with Session(db_engine) as s:
        case = s.scalars(select(Case).join(Alert, Alert.case_id == Case.id)).one()
        assert s.get_one(Alert, alert_id).case_id == case.id
        assert case.priority_signal == pytest.approx(0.93) and case.signal_likely is False
    make_user(db_url, "rita", "reviewer")
    app = web_factory()
    login(app, "rita")
    assert _rows(app.get("/ui/queue?order=score&min_score=0.9").text) == [case.id]
    assert _rows(app.get("/ui/queue?view=likely_new").text) == []
