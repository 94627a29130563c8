"""The workbench takes the video-call threshold from its settings (``triage_call_likely``).

The same triaged case (a picture with video-call score 0.8) seen by two servers: with the
default threshold (0.5) the picture is a likely video call in the count, the filter and its
page; with the threshold at 0.9 it is in none of them.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from web.conftest import WebFactory, login, make_user
from web.test_investigate_pages import Evidence, _names, _shown, _tile, triage_case


def test_the_video_call_threshold_is_a_setting_of_the_workbench(
    db_engine: Engine, db_url: str, shared_data: Path, tmp_path: Path, web_factory: WebFactory
) -> None:
    ev: Evidence = triage_case(db_engine, db_url, shared_data, tmp_path)
    make_user(db_url, "rita", "reviewer")
    usual, strict = web_factory(), web_factory(triage_call_likely=0.9)
    login(usual, "rita")
    login(strict, "rita")
    called = ev.ids["amsterdam.jpg"]  # its video_call finding has score 0.8

    page = usual.get(f"/ui/investigations/{ev.case_id}")
    assert _tile(page.text, "video_call") == 1
    assert _names(ev, _shown(usual, ev.case_id, "flag=video_call")) == {"amsterdam.jpg"}
    item = usual.get(f"/ui/investigations/items/{called}")
    assert item.status_code == 200 and "Likely a video-call screenshot" in item.text

    page = strict.get(f"/ui/investigations/{ev.case_id}")
    assert _tile(page.text, "video_call") == 0
    assert _shown(strict, ev.case_id, "flag=video_call") == set()
    item = strict.get(f"/ui/investigations/items/{called}")
    assert item.status_code == 200 and "Likely a video-call screenshot" not in item.text
    assert "not enough for “likely”" in item.text and "score 0.8" in item.text
