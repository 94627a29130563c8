"""A report-format plug-in, registered in this module only, is filed like the built-ins on
SQLite and PostgreSQL: by the CLI (`vangnet report render FORMAT CASE...`) and by the case
page's report form in the web UI. Each filing leaves a report row of kind = the format's
name, a timeline event per case, custody per item and one audit entry ``report.NAME``; an
unknown format, too many cases or a missing CSRF token are refused with nothing written.
The plug-ins pass the report-format conformance kit."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator, Sequence
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cli.test_cli import Run
from conftest import audited
from review.factory import PHOTOS, make_case
from vangnet import plugins
from vangnet.config import reset_settings
from vangnet.errors import ValidationError
from vangnet.plugins import PluginError
from vangnet.reports import formats
from vangnet.reports.conformance import check_report_format
from vangnet.reports.formats import (
    CaseDocument,
    RenderOptions,
    ReportFormat,
    register_report_format,
    report_formats,
    unregister_report_format,
)
from vangnet.store.db import make_engine
from vangnet.store.models import AuditEntry, CaseEvent, CustodyEvent, Report
from web.conftest import WebFactory, login, make_user


def _flat(text: str) -> str:
    """Console output with its line wrapping undone."""
    return " ".join(text.split())


def _items(case: CaseDocument) -> list[Any]:
    if not isinstance(case, dict) or not isinstance(case.get("items"), list):
        raise ValidationError("not a case document")
    return list(case["items"])


class ItemCsv(ReportFormat):
    """One line per item: case, item, SHA-256 (hashes only: no media)."""

    name = "test-item-csv"
    description = "Items as CSV [b]not bold[/b] (test plug-in)"
    media_type = "text/csv; charset=utf-8"
    extension = "csv"
    max_cases = 2

    def render(self, cases: Sequence[CaseDocument], options: RenderOptions) -> bytes:
        lines = ["case,item,sha256"]
        for case in cases:
            lines += [f"{case['id']},{i['id']},{i.get('sha256', '')}" for i in _items(case)]
        return ("\n".join(lines) + "\n").encode()


class MediaDigest(ReportFormat):
    """Reads each item (an audited read) and lists the SHA-256 of the bytes it got."""

    name = "test-media-digest"
    description = "Digests of the evidence read (test plug-in)"
    media_type = "application/json"
    extension = "json"
    reads_media = True

    def render(self, cases: Sequence[CaseDocument], options: RenderOptions) -> bytes:
        if len(cases) != 1:
            raise ValidationError("one case")
        digests: dict[str, str | None] = {}
        for item in _items(cases[0]):
            try:
                data = options.read_item(item["id"]) if options.read_item else None
            except Exception:
                data = None
            digests[str(item["id"])] = hashlib.sha256(data).hexdigest() if data else None
        return json.dumps({"clear": options.include_clear, "items": digests}).encode()


@pytest.fixture(autouse=True)
def _plugins() -> Iterator[None]:
    register_report_format(ItemCsv)
    register_report_format(MediaDigest)
    yield
    unregister_report_format(ItemCsv.name)
    unregister_report_format(MediaDigest.name)


@pytest.mark.parametrize("cls", [ItemCsv, MediaDigest])
def test_the_test_plug_ins_conform(cls: type[ReportFormat]) -> None:
    check_report_format(cls)


def test_the_registry_refuses_bad_format_names() -> None:
    class Ncmec(ItemCsv):
        name = "ncmec"

    class TooLong(ItemCsv):
        name = "x" * 49

    class Upper(ItemCsv):
        name = "CSV"

    class Quoted(ItemCsv):
        name = "quoted"
        extension = 'csv"'

    class Header(ItemCsv):
        name = "header"
        media_type = "text/csv\r\nX-Injected: 1"

    class View(ItemCsv):
        name = "view"  # report.view is opening a report page

    class Longish(ItemCsv):
        name = "x" * 41  # report.format.NAME.failed must fit 64 characters

    class NoCases(ItemCsv):
        name = "no-cases"
        max_cases = 0

    class TextCases(ItemCsv):
        name = "text-cases"
        max_cases = "2"  # type: ignore[assignment]

    class MaybeMedia(ItemCsv):
        name = "maybe-media"
        reads_media = "yes"  # type: ignore[assignment]

    class NoText(ItemCsv):
        name = "no-text"
        description = None  # type: ignore[assignment]

    class Fine(ItemCsv):
        name = "x" * 40

    for cls in (Ncmec, TooLong, Upper, Quoted, Header, View, Longish, NoCases, TextCases,
                MaybeMedia, NoText):  # fmt: skip
        with pytest.raises(PluginError):
            register_report_format(cls)
        assert cls.name not in report_formats()
    register_report_format(Fine)
    unregister_report_format(Fine.name)


# -- the CLI --------------------------------------------------------------------------------


@pytest.fixture
def engine(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    reset_settings()
    engine = audited(make_engine(db_url))
    yield engine
    engine.dispose()


def _written(engine: Engine) -> dict[str, int]:
    """How many rows the report flow writes to, by table."""
    with Session(engine) as s:
        return {
            m.__tablename__: int(s.scalar(select(func.count()).select_from(m)) or 0)
            for m in (Report, AuditEntry, CaseEvent, CustodyEvent)
        }


def _reports(engine: Engine) -> list[tuple[int | None, str, str, str]]:
    with Session(engine) as s:
        rows = s.scalars(select(Report).order_by(Report.id))
        return [(r.case_id, r.kind, r.status, r.actor) for r in rows]


def test_cli_files_a_plug_in_report(engine: Engine, shared_data: Path, tmp_path: Path) -> None:
    run = Run()
    first = make_case(engine, shared_data)
    second = make_case(engine, shared_data, photo=PHOTOS[2], account="someone-else")
    listed = run.lines("report", "formats", "--json")
    by_name = {row["name"]: row for row in listed}
    assert by_name["test-item-csv"]["built_in"] is False
    assert by_name["test-item-csv"]["max_cases"] == 2
    assert by_name["html"]["built_in"] is True and "ncmec" not in by_name
    assert "test-item-csv" in run("report", "formats").output

    out = tmp_path / "cases.csv"
    result = run("report", "render", "test-item-csv", str(first), str(second), "--out", str(out),
                 "--as", "dave")  # fmt: skip
    assert "written to" in result.output
    lines = out.read_text().splitlines()
    assert lines[0] == "case,item,sha256" and len(lines) == 3
    shown = {c: run.json("case", "show", str(c), "--json") for c in (first, second)}
    for line, case_id in zip(lines[1:], (first, second), strict=True):
        item = shown[case_id]["items"][0]
        assert line == f"{case_id},{item['id']},{item['sha256']}"

    assert _reports(engine) == [
        (first, "test-item-csv", "built", "dave"),
        (second, "test-item-csv", "built", "dave"),
    ]
    audit = run.json("audit", "list", "--action", "report.format.test-item-csv", "--json")
    assert len(audit) == 1
    (entry,) = audit
    assert (entry["actor"], entry["target"]) == ("dave", "cases:2")
    assert entry["details"]["cases"] == [first, second]
    assert entry["details"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert entry["details"]["items"] == []  # no media read
    for case_id in (first, second):
        doc = run.json("case", "show", str(case_id), "--json")
        events = [e for e in doc["timeline"] if e["kind"] == "report"]
        assert len(events) == 1 and "test-item-csv report of 1 items" in events[0]["summary"]
        assert [r["kind"] for r in doc["reports"]] == ["test-item-csv"]
        actions = [(c["action"], c["detail"]) for c in doc["custody"] if c["actor"] == "dave"]
        assert len(actions) == 1 and actions[0][0] == "exported"
        assert "metadata in test-item-csv report" in actions[0][1]

    # printed to stdout, it is recorded too (second filing of the first case)
    printed = run("report", "render", "test-item-csv", str(first)).stdout
    assert printed.splitlines()[0] == "case,item,sha256"
    assert len(_reports(engine)) == 3


def test_cli_refusals_write_nothing(engine: Engine, shared_data: Path, tmp_path: Path) -> None:
    run = Run()
    ids = [
        str(make_case(engine, shared_data, photo=photo, account=f"acct{n}"))
        for n, photo in enumerate(PHOTOS)
    ]
    before = _written(engine)
    out = tmp_path / "x.out"

    unknown = run("report", "render", "no-such-format", ids[0], "--out", str(out), code=4)
    assert "unknown_report_format" in unknown.output and "test-item-csv" in unknown.output
    ncmec = run("report", "render", "ncmec", ids[0], "--out", str(out), code=4)
    assert "report ncmec" in ncmec.output
    too_many = run("report", "render", "test-item-csv", *ids, "--out", str(out), code=6)
    assert "at most 2 cases, not 3" in too_many.output
    clear = run("report", "render", "test-item-csv", ids[0], "--include-clear", code=6)
    assert "shows no media" in clear.output
    assert "no case" in run("report", "render", "test-item-csv", "9999", code=4).output
    assert not out.exists()
    assert _written(engine) == before


def test_cli_files_a_plug_in_that_reads_media(
    engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    run = Run()
    case_id = make_case(engine, shared_data)
    out = tmp_path / "digest.json"
    run("report", "render", "test-media-digest", str(case_id), "--out", str(out),
        "--include-clear", "--as", "erin")  # fmt: skip
    got = json.loads(out.read_text())
    photo = (shared_data / PHOTOS[0]).read_bytes()
    doc = run.json("case", "show", str(case_id), "--json")
    item_id = doc["items"][0]["id"]
    assert got == {"clear": True, "items": {str(item_id): hashlib.sha256(photo).hexdigest()}}
    custody = [(c["action"], c["detail"] or "") for c in doc["custody"] if c["actor"] == "erin"]
    assert [a for a, _ in custody] == ["accessed", "exported"]
    assert "clear media handed to the test-media-digest report" in custody[1][1]
    (entry,) = run.json("audit", "list", "--action", "report.format.test-media-digest", "--json")
    assert entry["details"]["items"] == [item_id]
    assert entry["details"]["include_clear"] is True
    assert _reports(engine) == [(case_id, "test-media-digest", "built", "erin")]


def test_a_plug_in_reads_only_items_of_the_cases_it_reports(
    engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    run = Run()
    mine = make_case(engine, shared_data)
    other = make_case(engine, shared_data, photo=PHOTOS[1], account="someone-else")
    theirs = run.json("case", "show", str(other), "--json")["items"][0]["id"]

    class Snooping(MediaDigest):
        name = "test-snooping"

        def render(self, cases: Sequence[CaseDocument], options: RenderOptions) -> bytes:
            assert options.read_item is not None
            try:
                options.read_item(theirs)
            except PluginError as error:  # swallowed: the filing is refused all the same
                return json.dumps({"refused": error.message}).encode()
            return b"read it"

    register_report_format(Snooping)
    out = tmp_path / "s.json"
    try:
        refused = run("report", "render", "test-snooping", str(mine), "--out", str(out), code=1)
    finally:
        unregister_report_format(Snooping.name)
    assert "outside the cases of this report" in _flat(refused.output)
    assert not out.exists() and _reports(engine) == []  # the whole filing is refused
    custody = run.json("case", "show", str(other), "--json")["custody"]
    assert [c["action"] for c in custody] == ["captured"]  # never read, never exported
    (entry,) = run.json("audit", "list", "--action", "report.format.test-snooping", "--json")
    assert entry["action"] == "report.format.test-snooping.failed"
    assert entry["details"]["refused"] == [repr(theirs)]
    assert entry["details"]["items"] == []
    assert entry["details"]["code"] == "plugin_error"


def test_cli_render_of_a_built_in_is_recorded_as_its_own_command(
    engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    run = Run()
    case_id = make_case(engine, shared_data)
    run("report", "render", "html", str(case_id), "--out", str(tmp_path / "a.html"))
    run("report", "html", str(case_id), "--out", str(tmp_path / "b.html"))
    run("report", "render", "vics", str(case_id), "--out", str(tmp_path / "a.json"))
    audit = run.json("audit", "list", "--action", "report.", "--json")[::-1]
    assert [e["action"] for e in audit] == ["report.html", "report.html", "report.vics"]
    assert audit[0]["details"].keys() == audit[1]["details"].keys()
    assert [k for _c, k, _s, _a in _reports(engine)] == ["html", "html", "vics"]


def test_without_include_clear_a_plug_in_gets_the_blurred_preview(
    engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    run = Run()
    case_id = make_case(engine, shared_data)
    seen: list[bytes] = []

    class Keeps(MediaDigest):
        name = "test-keeps"

        def render(self, cases: Sequence[CaseDocument], options: RenderOptions) -> bytes:
            assert options.read_item is not None
            seen.extend(options.read_item(item["id"]) for item in _items(cases[0]))
            return b"{}"

    register_report_format(Keeps)
    try:
        run("report", "render", "test-keeps", str(case_id), "--out", str(tmp_path / "k.json"),
            "--as", "erin")  # fmt: skip
    finally:
        unregister_report_format(Keeps.name)
    photo = (shared_data / PHOTOS[0]).read_bytes()
    (data,) = seen
    assert data != photo and data.startswith(b"\xff\xd8")  # a JPEG preview, not the original
    with Image.open(io.BytesIO(data)) as picture:
        assert picture.mode == "L" and max(picture.size) <= 320  # greyscale, small
    doc = run.json("case", "show", str(case_id), "--json")
    custody = [(c["action"], c["detail"] or "") for c in doc["custody"] if c["actor"] == "erin"]
    assert [a for a, _ in custody] == ["accessed", "exported"]
    assert "blurred preview handed to the test-keeps report" in custody[1][1]
    assert doc["items"][0]["viewed_by"] == []  # nobody saw it in the clear


def test_a_plug_in_that_fails_after_reading_leaves_custody_and_audit(
    engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    run = Run()
    case_id = make_case(engine, shared_data)

    class ReadsThenFails(MediaDigest):
        name = "test-reads-then-fails"

        def render(self, cases: Sequence[CaseDocument], options: RenderOptions) -> bytes:
            assert options.read_item is not None
            for item in _items(cases[0]):
                options.read_item(item["id"])
                options.read_item(item["id"])  # twice: listed once
            raise RuntimeError("plug-in bug [/] after reading")

    register_report_format(ReadsThenFails)
    out = tmp_path / "f.json"
    try:
        failed = run("report", "render", "test-reads-then-fails", str(case_id), "--out",
                     str(out), "--include-clear", "--as", "erin", code=1)  # fmt: skip
    finally:
        unregister_report_format(ReadsThenFails.name)
    assert "plugin_error" in failed.output
    assert "plug-in bug [/] after reading" in _flat(failed.output)
    assert not out.exists() and _reports(engine) == []
    doc = run.json("case", "show", str(case_id), "--json")
    item_id = doc["items"][0]["id"]
    custody = [(c["action"], c["detail"] or "") for c in doc["custody"] if c["actor"] == "erin"]
    assert custody == [
        ("accessed", "clear media handed to a test-reads-then-fails report that was not filed")
    ]
    assert doc["items"][0]["viewed_by"] == ["erin"]  # handed over in the clear: it counts
    (entry,) = run.json("audit", "list", "--action", "report.format.test-reads", "--json")
    assert entry["action"] == "report.format.test-reads-then-fails.failed"
    assert entry["details"]["items"] == [item_id]
    assert entry["details"]["include_clear"] is True
    assert "RuntimeError" in entry["details"]["error"]
    assert [e for e in doc["timeline"] if e["kind"] == "report"] == []


def test_records_do_not_follow_what_a_plug_in_does_to_its_documents(
    engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    run = Run()
    mine = make_case(engine, shared_data)
    other = make_case(engine, shared_data, photo=PHOTOS[1], account="someone-else")
    kept: list[Any] = []

    class Mutates(ItemCsv):
        name = "test-mutates"

        def render(self, cases: Sequence[CaseDocument], options: RenderOptions) -> bytes:
            for case in cases:
                case["id"] = other  # type: ignore[index]
                case["items"].clear()
            kept.append(options.read_item)
            return b"changed\n"

    register_report_format(Mutates)
    try:
        run("report", "render", "test-mutates", str(mine), "--out", str(tmp_path / "m.csv"))
    finally:
        unregister_report_format(Mutates.name)
    assert _reports(engine)[0][:2] == (mine, "test-mutates")
    doc = run.json("case", "show", str(mine), "--json")
    exported = [c for c in doc["custody"] if c["action"] == "exported"]
    assert len(exported) == 1 and "metadata in test-mutates report" in exported[0]["detail"]
    assert [r["kind"] for r in run.json("case", "show", str(other), "--json")["reports"]] == []


def test_read_item_is_closed_once_the_report_is_rendered(
    engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    run = Run()
    case_id = make_case(engine, shared_data)
    kept: list[Any] = []

    class KeepsReader(MediaDigest):
        name = "test-keeps-reader"

        def render(self, cases: Sequence[CaseDocument], options: RenderOptions) -> bytes:
            kept.append(options.read_item)
            return b"{}"

    register_report_format(KeepsReader)
    try:
        run("report", "render", "test-keeps-reader", str(case_id), "--out", str(tmp_path / "r"))
    finally:
        unregister_report_format(KeepsReader.name)
    item_id = run.json("case", "show", str(case_id), "--json")["items"][0]["id"]
    with pytest.raises(PluginError, match="closed"):
        kept[0](item_id)


def test_report_formats_escapes_plug_in_text(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = [EntryPoint(name="test-markup", value=f"{__name__}:Markup", group=formats.GROUP)]

    def with_extra(*, group: str) -> list[EntryPoint]:
        found = list(entry_points(group=group))
        return [*found, *extra] if group == formats.GROUP else found

    monkeypatch.setattr(plugins, "entry_points", with_extra)
    formats.REGISTRY.reset()
    try:
        result = Run()("report", "formats")
    finally:
        monkeypatch.undo()
        formats.REGISTRY.reset()
    assert "failed test-markup" in result.output and "'[/]bad'" in _flat(result.output)
    assert "[b]not" in result.output  # shown as text, not as markup


class Markup(ItemCsv):
    """A plug-in whose name breaks the rule, with rich markup in it."""

    name = "[/]bad"


# -- the web UI -----------------------------------------------------------------------------


def test_web_case_page_files_a_plug_in_report(
    web_factory: WebFactory, db_url: str, db_engine: Engine, shared_data: Path
) -> None:
    case_id = make_case(db_engine, shared_data)
    make_user(db_url, "rita", "reviewer")
    make_user(db_url, "cora", "curator")
    client = web_factory()
    csrf = login(client, "rita")
    page = client.get(f"/ui/cases/{case_id}")
    assert page.status_code == 200
    for name in ("pdf", "html", "test-item-csv", "test-media-digest"):
        assert f'<option value="{name}"' in page.text, name

    before = _written(db_engine)
    path = f"/ui/cases/{case_id}/document"
    assert client.post(path, data={"kind": "test-item-csv"}).status_code == 403  # no CSRF
    unknown = client.post(path, data={"kind": "no-such-format", "csrf": csrf})
    assert unknown.status_code == 404 and "unknown" in unknown.text
    assert client.post(path, data={"kind": "ncmec", "csrf": csrf}).status_code == 404
    curator = web_factory()
    other = login(curator, "cora")
    assert curator.post(path, data={"kind": "test-item-csv", "csrf": other}).status_code == 403
    after_refusals = _written(db_engine)
    assert after_refusals["reports"] == before["reports"]
    assert after_refusals["case_events"] == before["case_events"]
    assert after_refusals["custody_events"] == before["custody_events"]
    with Session(db_engine) as s:
        assert not s.scalars(select(AuditEntry).where(AuditEntry.action.like("report.%"))).all()

    clear = client.post(path, data={"kind": "test-item-csv", "csrf": csrf, "include_clear": "on"})
    assert clear.status_code == 400 and "shows no media" in clear.text  # as the CLI (exit 6)
    assert _written(db_engine) == after_refusals
    got = client.post(path, data={"kind": "test-item-csv", "csrf": csrf})
    assert got.status_code == 200, got.text[:300]
    assert got.headers["content-type"].startswith("text/csv")
    assert got.headers["content-disposition"] == (
        f'attachment; filename="case-{case_id}-test-item-csv.csv"'
    )
    assert got.text.splitlines()[0] == "case,item,sha256"
    assert _reports(db_engine) == [(case_id, "test-item-csv", "built", "rita")]
    with Session(db_engine) as s:
        (entry,) = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "report.format.test-item-csv")
        )
        assert (entry.actor, entry.target) == ("rita", f"case:{case_id}")
        assert entry.details["include_clear"] is False
        events = s.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == "report")
        ).all()
        assert [e.details["format"] for e in events] == ["test-item-csv"]

    page = client.get(f"/ui/cases/{case_id}")
    assert "test-item-csv #" in page.text  # listed among the case's reports

    pdf = client.post(path, data={"kind": "pdf", "csrf": csrf})  # the built-in, unchanged
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-disposition"] == f'attachment; filename="case-{case_id}.pdf"'
    assert [k for _c, k, _s, _a in _reports(db_engine)] == ["test-item-csv", "pdf"]


class ItemCsvTwin(ItemCsv):
    """A second plug-in under the name of the first: the registry cannot load either."""


def test_case_page_opens_when_the_report_formats_cannot_load(
    web_factory: WebFactory,
    db_url: str,
    db_engine: Engine,
    shared_data: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case_id = make_case(db_engine, shared_data)
    make_user(db_url, "rita", "reviewer")
    twin = EntryPoint(name="test-item-csv", value=f"{__name__}:ItemCsvTwin", group=formats.GROUP)

    def with_twin(*, group: str) -> list[EntryPoint]:
        found = list(entry_points(group=group))
        return [*found, twin] if group == formats.GROUP else found

    monkeypatch.setattr(plugins, "entry_points", with_twin)
    formats.REGISTRY.reset()
    try:
        with pytest.raises(PluginError, match="two report formats"):
            report_formats()
        client = web_factory()
        login(client, "rita")
        page = client.get(f"/ui/cases/{case_id}")
        assert page.status_code == 200, page.text[:300]
        assert 'id="report-formats-note"' in page.text and "two report formats" in page.text
        assert '<option value="pdf"' in page.text and '<option value="html"' in page.text
        assert '<option value="test-media-digest"' not in page.text
    finally:
        monkeypatch.undo()
        formats.REGISTRY.reset()
