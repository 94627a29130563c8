"""The case document has exactly the documented keys: real upload, live and investigation case
documents (``GET /v1/cases/{id}`` and ``vangnet case show --json``) against the TypedDicts of
`vangnet.cases.document`, and those against the tables of ``docs/case-document.md``, so the
page, the types and the data cannot drift apart. The OpenAPI schema of ``GET /v1/cases/{id}``
and ``GET /v1/cases`` is made from the same TypedDicts: it declares their keys, and real
documents and queues validate against it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pydantic
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.conftest import BRIDGE
from api.test_review_api import _bank_photo, _persons_key
from cli_invoke import invoke
from context.case_data import store
from vangnet.api.app import create_app
from vangnet.api.schemas import response_model
from vangnet.cases.document import SHAPES, STORED, CaseDocument, CaseSummary
from vangnet.config import Settings, reset_settings
from vangnet.context.filing import file_risks
from vangnet.context.findings import AccountRisk, Reason, Role, RowRef
from vangnet.context.population import Population
from vangnet.sources.records.model import RecordKind
from vangnet.store.db import writer
from vangnet.store.models import Alert, Case, CaseMatch
from web.test_live_case import _live_alert

DOC = Path(__file__).resolve().parents[2] / "docs" / "case-document.md"
QUEUE = "queue entries"


def _objects(doc: Any, path: str) -> Iterator[Any]:
    """The objects of ``doc`` at ``path`` (``""``, ``items[]``, ``matches[].banked``)."""
    found = [doc]
    for part in filter(None, path.split(".")):
        name, many = part.removesuffix("[]"), part.endswith("[]")
        found = [o[name] for o in found if name in o]
        if many:
            found = [x for o in found for x in o]
    yield from found


def _check(doc: Any, seen: set[str]) -> None:
    """Every object of ``doc`` has its type's required keys and no undeclared one."""
    for path, shape in SHAPES.items():
        required, optional = set(shape.__required_keys__), set(shape.__optional_keys__)  # type: ignore[attr-defined]
        for obj in _objects(doc, path):
            assert isinstance(obj, dict), path
            keys = set(obj)
            assert required <= keys, f"{path or 'case'}: missing {sorted(required - keys)}"
            assert keys <= required | optional, (
                f"{path or 'case'}: undeclared {sorted(keys - required - optional)}"
            )
            seen.add(path)


def _validator(client: TestClient, path: str) -> Any:
    """A validator of the 200 answer of ``GET path`` by the app's OpenAPI schema."""
    spec = client.get("/openapi.json").json()
    answer = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    schema = {**answer["schema"], "components": spec["components"]}
    return jsonschema_rs.Draft202012Validator(schema)


def _conforms(validator: Any, doc: Any) -> None:
    errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(doc)]
    assert not errors, errors[:5]


def _vangnet(db_url: str, *args: str) -> str:
    """``vangnet ARGS`` on ``db_url``, in this process (`cli_invoke.invoke`: exit 0, no
    traceback); its standard output."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("VANGNET_DATABASE_URL", db_url)
        out = str(invoke(*args).stdout)
    reset_settings()
    return out


def test_real_case_documents_have_exactly_the_declared_keys(
    client: TestClient, db_url: str, shared_data: Path, tmp_path: Path
) -> None:
    seen: set[str] = set()
    schema = _validator(client, "/v1/cases/{case_id}")
    # an upload case, confirmed, with a report
    data = (shared_data / BRIDGE / "aaa-orig.jpg").read_bytes()
    _bank_photo(client, data)
    r = client.post("/v1/match?account=u1&platform=p&content_id=c9&ip=192.0.2.7", content=data)
    upload = r.json()["case_id"]
    person = {"X-API-Key": _persons_key(client, "reviewer")}
    r = client.post(
        f"/v1/cases/{upload}/decisions",
        json={"decision": "confirm", "category": "vics:1"},
        headers=person,
    )
    assert r.status_code == 200, r.text
    out = tmp_path / "vics.json"
    _vangnet(db_url, "report", "vics", str(upload), "--out", str(out))
    doc = client.get(f"/v1/cases/{upload}").json()
    assert doc["kind"] == "upload" and doc["decisions"] and doc["reports"] and doc["custody"]
    _check(doc, seen)
    _conforms(schema, doc)

    # a live case: an alert of the monitor's own recording, with evidence frames
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    alert_id = _live_alert(engine, shared_data)
    with Session(engine) as s:
        live = s.scalars(select(Alert.case_id).where(Alert.id == alert_id)).one()
    doc = client.get(f"/v1/cases/{live}").json()
    assert doc["kind"] == "live" and doc["subject"]["stream_id"] and doc["items"]
    _check(doc, seen)
    _conforms(schema, doc)

    # an investigation case, filled by `vangnet triage`, as `vangnet case show --json` prints it
    folder = tmp_path / "seized"
    folder.mkdir()
    (folder / "bridge.jpg").write_bytes(data)
    (folder / "notes.txt").write_text("shopping list")
    _vangnet(db_url, "triage", str(folder), "--case", "OP DOC", "--no-ocr", "--workers", "1")
    doc = json.loads(_vangnet(db_url, "case", "show", "OP DOC", "--json"))
    assert doc["kind"] == "investigation" and len(doc["triage_items"]) == 2
    assert doc["triage_items"][0]["matches"]  # the banked photo
    _check(doc, seen)
    _conforms(schema, doc)
    assert client.get(f"/v1/cases/{doc['id']}").json() == doc  # the API prints the same

    # a context case: an account's payment and chat risk, with the records behind it
    with Session(writer(engine)) as s:
        store(s)
        population = Population.load(s)
        risks = [
            AccountRisk(
                "viewer-1",
                0.9,
                Role.VIEWER,
                (
                    Reason(
                        "test_corridor",
                        "viewer-1",
                        0.9,
                        "remittances",
                        (RowRef(RecordKind.PAYMENTS, "TX-1"), RowRef(RecordKind.MESSAGES, "M-1")),
                    ),
                ),
            )
        ]
        [filed] = file_risks(
            s, risks=risks, population=population, threshold=0.8, actor="t", settings=Settings()
        )
        s.commit()
        context_id = filed.filed.case.id
    doc = client.get(f"/v1/cases/{context_id}").json()
    assert doc["kind"] == "context" and len(doc["context"]["rows"]) == 2
    _check(doc, seen)
    _conforms(schema, doc)

    assert seen == set(SHAPES), f"never seen: {sorted(set(SHAPES) - seen)}"


def _documented() -> dict[str, list[tuple[str, str]]]:
    """``docs/case-document.md``'s key tables: path -> [(key, "always" | "optional")]; the
    queue entry's table (section "Queue entries") under ``QUEUE``."""
    tables: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for line in DOC.read_text().splitlines():
        heading = re.fullmatch(r"### case(\S*)", line.strip())
        if heading:
            current = tables.setdefault(heading.group(1).removeprefix("."), [])
            continue
        if line.startswith("#"):  # another section: its table is not the last one's
            current = tables.setdefault(QUEUE, []) if line == "## Queue entries" else None
            continue
        row = re.match(
            r"\|\s*`([a-z0-9_]+)`\s*\|[^|]*(?:\\\|[^|]*)*\|\s*(always|optional)\s*\|", line
        )
        if row and current is not None:
            current.append((row.group(1), row.group(2)))
    return tables


def test_the_documented_keys_are_the_declared_keys() -> None:
    documented = _documented()
    queue = documented.pop(QUEUE)
    assert queue == [(key, "always") for key in CaseSummary.__annotations__]
    assert set(documented) == set(SHAPES)
    for path, shape in SHAPES.items():
        declared = [
            (key, "always" if key in shape.__required_keys__ else "optional")  # type: ignore[attr-defined]
            for key in shape.__annotations__
        ]
        assert documented[path] == declared, path or "case"
    assert "case_number" in CaseDocument.__optional_keys__


def test_the_openapi_schema_declares_the_typed_keys() -> None:
    """Each object of the document in the schema of ``GET /v1/cases/{id}`` has the keys of
    its TypedDict, the same ones required, and no others allowed; likewise the queue."""
    spec = create_app(Settings(database_url="sqlite://"), start_background=False).openapi()
    components = spec["components"]["schemas"]
    answer = spec["paths"]["/v1/cases/{case_id}"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CaseDocument"
    }
    for shape in [*SHAPES.values(), CaseSummary]:
        schema = components[shape.__name__]
        assert list(schema["properties"]) == list(shape.__annotations__), shape
        assert set(schema.get("required", [])) == set(shape.__required_keys__), shape  # type: ignore[attr-defined]
        # other keys only where stored JSON is copied (an old row may hold one)
        assert schema["additionalProperties"] is (shape in STORED), shape
        for key in shape.__optional_keys__:  # type: ignore[attr-defined]
            assert "default" not in schema["properties"][key], (shape, key)  # absent, not null
    queue = spec["paths"]["/v1/cases"]["get"]["responses"]["200"]["content"]
    assert queue["application/json"]["schema"] == {"$ref": "#/components/schemas/CaseQueue"}
    assert components["CaseQueue"]["properties"]["cases"]["items"] == {
        "$ref": "#/components/schemas/CaseSummary"
    }


def test_queue_entries_have_exactly_the_declared_keys(
    client: TestClient, shared_data: Path
) -> None:
    data = (shared_data / BRIDGE / "aaa-orig.jpg").read_bytes()
    _bank_photo(client, data)
    first = client.post("/v1/match?account=u1", content=data).json()["case_id"]
    second = client.post("/v1/match?account=u2", content=data).json()["case_id"]
    queue = client.get("/v1/cases?status=all").json()
    assert sorted(c["id"] for c in queue["cases"]) == sorted([first, second])
    assert queue["counts"] == {"open": 2}
    for entry in queue["cases"]:
        assert list(entry) == list(CaseSummary.__annotations__)
    _conforms(_validator(client, "/v1/cases"), queue)


def test_old_stored_keys_pass_and_new_undeclared_keys_are_refused(
    client: TestClient, shared_data: Path
) -> None:
    """Subject facts and banked snapshots are stored JSON: a key an older version wrote
    there is passed on by ``GET /v1/cases/{id}`` (the case stays readable, nothing dropped).
    Anywhere else the response model refuses an undeclared key instead of dropping it."""
    data = (shared_data / BRIDGE / "aaa-orig.jpg").read_bytes()
    _bank_photo(client, data)
    case_id = client.post("/v1/match?account=u1", content=data).json()["case_id"]
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    # rows as an older version might have left them (read, then write: a writer transaction,
    # or SQLite refuses the write when the app's own workers wrote meanwhile)
    with Session(writer(engine)) as s, s.begin():
        case = s.get_one(Case, case_id)
        case.subject = {**case.subject, "legacy_flag": "kept"}
        for match in s.scalars(select(CaseMatch).where(CaseMatch.case_id == case_id)):
            match.banked = {**match.banked, "legacy_rank": 3}
    r = client.get(f"/v1/cases/{case_id}")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["subject"] == {"account": "u1", "legacy_flag": "kept"}
    assert {m["banked"]["legacy_rank"] for m in doc["matches"]} == {3}

    model = response_model(CaseDocument)
    doc["subject"].pop("legacy_flag")
    model.model_validate(doc)  # the document as declared (stored extras aside) is accepted
    for where in (doc, doc["items"][0], doc["priority"], doc["timeline"][0]):
        where["undeclared"] = 1
        with pytest.raises(pydantic.ValidationError, match="undeclared"):
            model.model_validate(doc)
        del where["undeclared"]
