"""Exports of an investigation case: VICS 2.0 (re-imported unchanged by `vangnet bank
import`), CSV (formulas neutralised) and HTML (escaped), from the real triage of a folder."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from vangnet.store.models import ContentSignal

VANGNET = str(Path(sys.executable).with_name("vangnet"))
MODS = Path("threatexchange/pdq/data/bridge-mods")


def _run(env: dict[str, str], *args: str) -> bytes:
    done = subprocess.run([VANGNET, *args], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


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
    env = {**os.environ, "VANGNET_DATABASE_URL": db_url}
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
