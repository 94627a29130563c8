"""VICS 2.0 #Cases export: shape, category rules, and a round trip through Vangnet's importer."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vangnet.banks.categories import Category
from vangnet.banks.formats import BankRecord, get_format, sniff
from vangnet.config import get_settings, reset_settings
from vangnet.errors import ValidationError
from vangnet.reports.vics_cases import write_cases
from vangnet.signals.hashing import hash_file

PHOTOS = [
    Path("threatexchange/pdq/data/bridge-mods/aaa-orig.jpg"),
    Path("photos/public-domain/skimage_coffee.png"),
    Path("photos/public-domain/skimage_rocket.jpg"),
]
VIDEO = Path("threatexchange/video/sample-videos/doorknob-hd-no-bar.mp4")
CONTEXT = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata#Cases"


def _item(shared_data: Path, rel: Path, item_id: int) -> dict[str, Any]:
    hashed = hash_file(shared_data / rel, settings=get_settings())
    return {
        "id": item_id,
        "kind": "upload",
        "media_type": "video/mp4" if rel.suffix == ".mp4" else "image/jpeg",
        "filename": rel.name,
        "size": (shared_data / rel).stat().st_size,
        "sha256": hashed["sha256"],
        "md5": hashed["md5"],
        "sha1": hashed["sha1"],
        "pdq": hashed.get("pdq"),  # None for the video
        "captured_at": "2026-11-29T18:40:01.123+01:00",
        "stream_time": None,
        "matched": True,
    }


def _case(case_id: int, items: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    case: dict[str, Any] = {
        "id": case_id,
        "key": f"account:example-platform:user{case_id}",
        "kind": "upload",
        "title": f"Uploads of user{case_id}",
        "status": "confirmed",
        "category": "vics:1",
        "priority": {"score": 50, "reasons": []},
        "subject": {"platform": "example-platform", "account": f"user{case_id}"},
        "created_at": "2026-11-29T17:40:01+00:00",
        "updated_at": "2026-11-29T18:00:00+00:00",
        "decided_at": "2026-11-29T18:00:00+00:00",
        "items": items,
        "matches": [
            {
                "id": 1,
                "item_id": items[0]["id"] if items else None,
                "bank": "demo",
                "content_id": 3,
                "signal_type": "md5",
                "distance": 0,
                "banked": {"series": "SERIES-A"},
            }
        ],
        "timeline": [],
        "decisions": [],
        "custody": [],
        "reports": [],
    }
    case.update(changes)
    return case


@pytest.fixture
def cases(shared_data: Path) -> list[dict[str, Any]]:
    first = [_item(shared_data, PHOTOS[0], 5), _item(shared_data, VIDEO, 6)]
    second = [_item(shared_data, PHOTOS[1], 7), _item(shared_data, PHOTOS[2], 8)]
    return [_case(12, first), _case(13, second, category="uk:B")]


def _export(cases: list[dict[str, Any]], **kwargs: Any) -> bytes:
    out = io.BytesIO()
    count = write_cases(cases, out, **kwargs)
    assert count == sum(len(c["items"]) for c in cases)
    return out.getvalue()


def _expected(cases: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(signal type, value, MediaID) of every hash of every item."""
    return {
        (kind, item[kind], str(item["id"]))
        for case in cases
        for item in case["items"]
        for kind in ("md5", "sha1", "sha256", "pdq")
        if item[kind]
    }


def test_document_shape(cases: list[dict[str, Any]]) -> None:
    doc = json.loads(_export(cases, contact_organization="Hotline <NL>"))
    assert doc["@odata.context"] == CONTEXT
    first, second = doc["value"]
    assert first["CaseID"] == "12"
    assert first["ContactOrganization"] == "Hotline <NL>"
    assert first["SourceApplicationName"] == "Vangnet"
    photo, video = first["Media"]
    item = cases[0]["items"][0]
    assert photo["MediaID"] == 5
    assert photo["Category"] == 1
    assert photo["MD5"] == item["md5"].upper()
    assert photo["SHA1"] == item["sha1"].upper()
    assert photo["AlternativeHashes"] == [
        {"HashName": "SHA256", "HashValue": item["sha256"].upper()},
        {"HashName": "PDQ", "HashValue": item["pdq"]},
    ]
    assert photo["MediaSize"] == item["size"]
    assert photo["MediaFiles"] == [
        {
            "FileName": "aaa-orig.jpg",
            "FilePath": "vangnet/case-12/item-5/aaa-orig.jpg",
            "MD5": item["md5"].upper(),
            "SHA1": item["sha1"].upper(),
            "FileSize": item["size"],
            "Created": "2026-11-29T17:40:01.123Z",
        }
    ]
    assert photo["Series"] == "SERIES-A"
    assert photo["Comments"] == (
        "Vangnet case 12: Uploads of user12 [account:example-platform:user12]"
    )
    assert photo["DateUpdated"] == "2026-11-29T18:00:00.000Z"
    assert "Tags" not in photo
    assert [h["HashName"] for h in video["AlternativeHashes"]] == ["SHA256"]  # no PDQ
    assert "Series" not in video
    # a UK category cannot go in VICS Category (0-4): it is carried in Tags
    assert all("Category" not in m and m["Tags"] == "uk:B" for m in second["Media"])


def test_round_trip_through_the_importer(cases: list[dict[str, Any]]) -> None:
    data = _export(cases)
    fmt = get_format(sniff(data[:4096]))
    assert fmt.name == "vics2"
    records: list[BankRecord] = list(fmt.read(io.BytesIO(data)))
    got = {(r.signal_type, r.value, r.external_id or "") for r in records}
    assert got == _expected(cases)
    assert len(records) == len(got)
    for record in records:
        if record.external_id in ("5", "6"):
            assert record.category == Category("vics", "1")
            assert record.extra.get("tags") is None
        else:
            assert record.category is None
            assert record.extra["tags"] == "uk:B"
        assert record.note is not None and record.note.startswith("Vangnet case 1")
    assert {r.series for r in records if r.external_id == "5"} == {"SERIES-A"}


def test_only_confirmed_cases_carry_a_category(cases: list[dict[str, Any]]) -> None:
    for status in ("open", "escalated", "false_positive", "pending_confirmation"):
        doc = json.loads(_export([dict(cases[0], status=status)]))
        assert all("Category" not in m and "Tags" not in m for m in doc["value"][0]["Media"])
    doc = json.loads(_export([dict(cases[0], category=None)]))
    assert all("Category" not in m for m in doc["value"][0]["Media"])


def test_uk_context_keeps_vics_category_in_tags(cases: list[dict[str, Any]]) -> None:
    doc = json.loads(_export(cases, profile="uk"))
    assert doc["@odata.context"].endswith("/2.0.xml/UK/$metadata#Cases")
    media = [m for case in doc["value"] for m in case["Media"]]
    assert all("Category" not in m for m in media)
    assert [m["Tags"] for m in media] == ["vics:1", "vics:1", "uk:B", "uk:B"]


def test_every_vics_category_round_trips(shared_data: Path) -> None:
    item = _item(shared_data, PHOTOS[0], 5)
    for code in "01234":
        data = _export([_case(1, [item], category=f"vics:{code}")])
        records = list(get_format("vics2").read(io.BytesIO(data)))
        assert {r.category for r in records} == {Category("vics", code)}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"md5": None}, "no md5"),
        ({"md5": "xyz"}, "md5"),
        ({"sha1": "12"}, "sha1"),
        ({"pdq": "not-a-pdq"}, "PDQ"),
        ({"id": "5"}, "id must be an integer"),
        ({"size": -1}, "size"),
        ({"captured_at": "yesterday"}, "ISO-8601"),
        ({"captured_at": "2026-11-29T18:40:01"}, "no UTC offset"),
    ],
)
def test_malformed_items_are_refused_before_writing(
    shared_data: Path, change: dict[str, Any], message: str
) -> None:
    item = dict(_item(shared_data, PHOTOS[0], 5), **change)
    out = io.BytesIO()
    with pytest.raises(ValidationError, match=message):
        write_cases([_case(1, [item])], out)
    assert out.getvalue() == b""


def test_bad_profile_and_case() -> None:
    with pytest.raises(ValidationError, match="profile"):
        write_cases([], io.BytesIO(), profile="NL")
    with pytest.raises(ValidationError):
        write_cases([{"id": None}], io.BytesIO())
    with pytest.raises(ValidationError, match="items"):
        write_cases([{"id": 1, "items": {"not": "a list"}}], io.BytesIO())
    with pytest.raises(ValidationError, match="category"):
        write_cases([{"id": 1, "status": "confirmed", "category": "vics:7"}], io.BytesIO())
    empty = io.BytesIO()
    assert write_cases([], empty) == 0
    assert json.loads(empty.getvalue()) == {"@odata.context": CONTEXT, "value": []}


# --- the real command line -----------------------------------------------------------------


def _vangnet(*args: str) -> Any:
    from vangnet.cli import app

    reset_settings()
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 0, (args, result.output)
    return json.loads(result.stdout) if "--json" in args else result


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_bank_import_of_the_export(
    cases: list[dict[str, Any]],
    db_url: str,
    tmp_path: Path,
    shared_data: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    export = tmp_path / "cases.vics.json"
    export.write_bytes(_export(cases))

    _vangnet("bank", "create", "CASE_EXPORT", "--profile", "vics")
    imported = _vangnet("bank", "import", "CASE_EXPORT", str(export), "--json")
    assert imported["format"] == "vics2"
    assert imported["total"] == imported["added"] == len(_expected(cases))
    again = _vangnet("bank", "import", "CASE_EXPORT", str(export), "--json")
    assert again["added"] == 0

    # the exported photo now matches its own bank entry, with the case's category
    rows = _vangnet("match", str(shared_data / PHOTOS[0]), "--bank", "CASE_EXPORT", "--json")
    matches = rows["matches"] if isinstance(rows, dict) else rows[0]["matches"]
    assert {m["signal_type"] for m in matches} == {"md5", "sha1", "sha256", "pdq"}
    assert {m["category"] for m in matches} == {"vics:1"}
