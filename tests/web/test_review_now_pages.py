"""Review-now alerts in the web UI: the streams page and the dashboard list an open
review-now alert as its own kind (a "review now" badge, the priority signal's summary and
value, no banked item), linked to its case, whose timeline says it is no match."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from live.test_review_now import _entry, _sample
from vangnet.config import get_settings
from vangnet.live import review_now_alerts
from vangnet.store.db import writer
from vangnet.store.models import Alert, Stream
from web.conftest import WebFactory, login, make_user


def test_streams_page_and_dashboard_show_review_now_alerts_as_their_own_kind(
    web_factory: WebFactory, db_url: str, db_engine: Engine
) -> None:
    with Session(writer(db_engine)) as s:
        stream = Stream(kind="push", sample_fps=1.0, stream_metadata={"account": "room-7"})
        s.add(stream)
        s.flush()
        recorded = review_now_alerts.record(
            s, _entry(stream.id, _sample(14), _sample(28, 0.9, 0.8)), settings=get_settings()
        )
        s.commit()
    make_user(db_url, "rev", "reviewer")
    client = web_factory()
    login(client, "rev")
    html = client.get("/ui/streams").text
    row = html[html.index(f'id="alert-{recorded.alert_id}"') :]
    row = row[: row.index("</tr>")]
    assert 'class="review-now"' in row and "review now</span>" in row
    assert "bright 0.90" in row and "priority 0.90" in row and "likely a video call" in row
    assert " / " not in row  # no bank / item
    dashboard = client.get("/ui/").text
    assert "review now</span> bright 0.90" in dashboard
    with Session(db_engine) as s:
        case_id = s.get_one(Alert, recorded.alert_id).case_id
    assert f'href="/ui/cases/{case_id}"' in row
    case = client.get(f"/ui/cases/{case_id}").text
    assert f"review-now alert {recorded.alert_id}" in case and "not a match" in case
