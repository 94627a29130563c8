"""A context case through the web UI a reviewer uses: the queue lists it with a "context"
badge and its priority; its page shows the risk and reasons, a time-ordered timeline of the
records behind them (filterable by kind, each naming the reasons it supports), a server-drawn
SVG network picture with the accounts, and withholds message text until a reviewer reveals
it, which is audited. Everything shown is escaped."""

from __future__ import annotations

import re

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from context.case_data import CorridorAndPrice, store, test_evaluator
from vangnet.cases.filing import file_case
from vangnet.config import Settings
from vangnet.context.assess import assess
from vangnet.context.filing import file_risks
from vangnet.context.population import Population
from vangnet.store.db import writer
from vangnet.store.models import AuditEntry
from web.conftest import WebFactory, csrf_of, login, make_user

__all__ = ["test_evaluator"]  # the fixture


def _context_case(engine: Engine) -> int:
    with Session(writer(engine), expire_on_commit=False) as s:
        store(s)
        population = Population.load(s)
        [filed] = file_risks(
            s,
            risks=assess(population, settings=Settings(), only=[CorridorAndPrice.name]).risks,
            population=population,
            threshold=0.8,
            actor="test",
            settings=Settings(),
        )
        s.commit()
        return filed.filed.case.id


def test_context_case_page_timeline_picture_and_audited_reveal(
    web_factory: WebFactory,
    db_url: str,
    db_engine: Engine,
    test_evaluator: type[CorridorAndPrice],
) -> None:
    case_id = _context_case(db_engine)
    with Session(writer(db_engine)) as s:  # a media case of another account: no badge
        other, _ = file_case(
            s,
            key="account:p:other",
            kind="upload",
            subject={"account": "other"},
            stream=None,
            name="x.jpg",
        )
        s.commit()
        other_id = other.id
    make_user(db_url, "rev", "reviewer")
    client = web_factory(
        report_str_rentity_id="4711",
        report_str_reporting_person={"first_name": "Ann", "last_name": "Lee"},
    )
    login(client, "rev")
    queue = client.get("/ui/queue").text
    row = queue[queue.index(f'href="/ui/cases/{case_id}"') :]
    row = row[: row.index("</tr>")]
    assert 'data-source="context"' in row and "context risk 0.88" in queue
    row = queue[queue.index(f'href="/ui/cases/{other_id}"') :]
    assert 'data-source="context"' not in row[: row.index("</tr>")]

    page = client.get(f"/ui/cases/{case_id}")
    assert page.status_code == 200
    html = page.text
    assert 'id="context-score">risk 0.88' in html
    assert "2 small remittances to PH &lt;corridor&gt;" in html  # escaped
    assert "<corridor>" not in html
    timeline = html[html.index('id="context-timeline"') : html.index('id="context-network"')]
    refs = re.findall(r'data-ref="([^"]+)"', timeline)
    assert refs == ["M-1", "TX-1", "S-1", "TX-2"]  # time order
    assert 'href="#reason-test_corridor"' in timeline and 'id="reason-test_price"' in html
    assert "&lt;b&gt;gift&lt;/b&gt; &amp; co" in timeline and "<b>gift" not in html
    # message text withheld until revealed
    assert "what is the price" not in html and "hidden (28 characters)" in html
    svg = html[html.index("<svg") : html.index("</svg>")]
    for node in ("account:viewer-1", "account:fac-1", "device:dev-9"):
        assert f'data-node="{node}"' in svg
    assert 'data-kind="paid"' in svg and 'data-kind="called"' in svg and "legend" in svg
    assert "<script" not in svg and "style=" not in svg
    # filtered by kind
    only = client.get(f"/ui/cases/{case_id}?rows=payments").text
    part = only[only.index('id="context-timeline"') : only.index('id="context-network"')]
    assert re.findall(r'data-ref="([^"]+)"', part) == ["TX-1", "TX-2"]
    assert client.get(f"/ui/cases/{case_id}?rows=bogus").status_code == 400

    token = csrf_of(html)
    shown = client.post(f"/ui/cases/{case_id}/context/reveal", data={"csrf": token, "ref": "M-1"})
    assert shown.status_code == 200
    assert 'data-revealed="M-1">what is the price for a show' in shown.text
    assert "send first" not in shown.text  # M-2 is not behind a reason: not on the page
    assert (
        client.post(
            f"/ui/cases/{case_id}/context/reveal", data={"csrf": token, "ref": "TX-1"}
        ).status_code
        == 404
    )
    assert (
        client.post(f"/ui/cases/{case_id}/context/reveal", data={"ref": "M-1"}).status_code == 403
    )
    with Session(db_engine) as s:
        reveals = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "context.message.reveal")
        ).all()
    assert [(a.actor, a.target, a.details["ref"]) for a in reveals] == [
        ("rev", f"case:{case_id}", "M-1")
    ]

    # the STR from the case page's report form (the app's settings name the reporting entity)
    assert 'value="str"' in html
    got = client.post(f"/ui/cases/{case_id}/document", data={"csrf": token, "kind": "str"})
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/xml")
    assert b"<rentity_id>4711</rentity_id>" in got.content
    assert b"<transactionnumber>TX-2</transactionnumber>" in got.content
