"""Exports of an investigation case: VICS 2.0 (re-imported unchanged by `vangnet bank
import`), CSV (formulas neutralised) and HTML (escaped), from the real triage of a folder."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cli_invoke import invoke
from vangnet.config import reset_settings
from vangnet.store.models import ContentSignal
from vangnet.triage import exports

MODS = Path("threatexchange/pdq/data/bridge-mods")


def _run(env: dict[str, str], *args: str) -> bytes:
    """``vangnet ARGS`` with ``env``'s database, in this process (`cli_invoke.invoke`: exit
    0, no traceback); its standard output."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VANGNET_DATABASE_URL", env["VANGNET_DATABASE_URL"])
        out = invoke(*args).stdout_bytes
    reset_settings()
    return bytes(out)


def test_vics_csv_html_exports(
    db_url: str, db_engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "seized"
    (folder / "sub").mkdir(parents=True)
    for name in ("aaa-orig.jpg", "blur-a-little.jpg"):
        (folder / name).write_bytes((shared_data / MODS / name).read_bytes())
    (folder / "sub" / "copy-of-orig.jpg").write_bytes(
        (shared_data / MODS / "aaa-orig.jpg").read_bytes()
    )
    hostile = folder / "=cmd|' calc'!A1 <script>.jpg"
    hostile.write_bytes((shared_data / "photos/public-domain/china.jpg").read_bytes())
    env = {"VANGNET_DATABASE_URL": db_url}
    _run(env, "bank", "create", "KNOWN", "--profile", "vics")
    _run(
        env,
        "bank",
        "add",
        "KNOWN",
        str(shared_data / MODS / "aaa-orig.jpg"),
        "--category",
        "vics:1",
        "--series",
        "bridge",
    )
    _run(env, "triage", str(folder), "--case", "EXP", "--no-ocr", "--json")

    vics = json.loads(_run(env, "case", "export", "EXP", "--format", "vics"))
    media = vics["value"][0]["Media"]
    assert vics["@odata.context"].endswith("#Cases") and vics["value"][0]["CaseID"] == "EXP"
    orig = next(m for m in media if any(f["FileName"] == "aaa-orig.jpg" for f in m["MediaFiles"]))
    assert orig["Category"] == 1 and orig["Series"] == "bridge"
    assert sorted(f["FileName"] for f in orig["MediaFiles"]) == ["aaa-orig.jpg", "copy-of-orig.jpg"]
    assert all(f["FilePath"].startswith(str(folder)) for f in orig["MediaFiles"])
    assert len(media) == 3  # one per distinct content

    out = tmp_path / "exp.json"
    _run(env, "case", "export", "EXP", "--format", "vics", "--out", str(out))
    _run(env, "bank", "import", "REIMPORTED", str(out), "--format", "vics2", "--create")
    with Session(db_engine) as s:
        held = set(s.scalars(select(ContentSignal.value)))
    for m in media:
        assert m["MD5"].lower() in held and m["SHA1"].lower() in held
        assert {h["HashValue"] for h in m["AlternativeHashes"]} <= held

    rows = list(
        csv.DictReader(io.StringIO(_run(env, "case", "export", "EXP", "--format", "csv").decode()))
    )
    assert len(rows) == 4
    bad = next(r for r in rows if "calc" in r["name"])
    assert bad["name"].startswith("'=")  # not a formula in a spreadsheet
    known = [r for r in rows if r["category"] == "vics:1"]
    assert {r["name"] for r in known} >= {"aaa-orig.jpg", "copy-of-orig.jpg"}

    page = _run(env, "case", "export", "EXP", "--format", "html").decode()
    assert "Investigation EXP" in page and "<script>" not in page and "&lt;script&gt;" in page
    assert "No media is included" in page

    audit = json.loads(_run(env, "audit", "list", "--action", "case.export", "--json"))
    assert {e["action"] for e in audit} == {
        "case.export.vics",
        "case.export.csv",
        "case.export.html",
    }


def _doc_item(item_id: int, name: str, signals: dict[str, str]) -> dict[str, Any]:
    """A triage item of a case document, as `triage.records.item_dict` makes it."""
    digests = {"md5": f"{item_id:032x}", "sha1": f"{item_id:040x}", "sha256": f"{item_id:064x}"}
    return {
        "id": item_id,
        "name": name,
        "source_path": f"/seized > {name}",
        "kind": "photo",
        "status": "ok",
        "size": 10,
        "hashes": {**digests, "pdq": "f" * 64, "pdq_quality": 100, "vpdq_frames": 0},
        "signals": {**digests, "pdq": "f" * 64, **signals},
    }


def test_plugin_signals_with_a_vics_field_or_a_csv_name_of_their_own() -> None:
    """A ``photodna`` signal goes in VICS's ``PhotoDNA`` field (where VICS tools and Vangnet's
    bank importer read it), not among the alternative hashes; a signal type named like a
    fixed CSV column gets a column ``signal:NAME`` instead of overwriting it; types are in
    name order and an item without one leaves its cell empty."""
    doc: Any = {
        "id": 7,
        "title": "OP",
        "triage_items": [
            _doc_item(1, "a.jpg", {"photodna": "AAAA", "name": "n1", "zz_hash": "01"}),
            _doc_item(2, "b.jpg", {}),
        ],
    }
    (case,) = exports.vics(doc)["value"]
    first, second = case["Media"]
    assert first["PhotoDNA"] == "AAAA"
    assert [h["HashName"] for h in first["AlternativeHashes"]] == [
        "SHA256",
        "PDQ",
        "NAME",
        "ZZ_HASH",
    ]
    assert "PhotoDNA" not in second
    assert [h["HashName"] for h in second["AlternativeHashes"]] == ["SHA256", "PDQ"]

    rows = list(csv.DictReader(io.StringIO(exports.csv_bytes(doc).decode())))
    header = list(rows[0])
    assert header[header.index("pdq") + 1 :][:3] == ["signal:name", "photodna", "zz_hash"]
    assert header.count("name") == 1
    assert [(r["name"], r["signal:name"], r["photodna"]) for r in rows] == [
        ("a.jpg", "n1", "AAAA"),
        ("b.jpg", "", ""),
    ]
