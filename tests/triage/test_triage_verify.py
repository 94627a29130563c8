"""Triage's bank matching uses the wider net (issue 12, point 2) as ``vangnet match`` does:
a 25 %-cropped copy of a photo banked with ``vangnet bank add`` (local features kept) is
known, its match verified (``inliers``), through ``vangnet triage`` and
``vangnet case show --json``; an unrelated photo is not. With ``match_verify_max`` spent, the
item says how many candidates were left unverified. The decoded photo crosses from the
triage worker process to the matcher reduced (`QueryPicture`), never through a file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_invoke import invoke
from region_composites import load, png
from vangnet.config import reset_settings


def _run(db_url: str, *args: str, env: dict[str, str] | None = None) -> str:
    """``vangnet ARGS`` on ``db_url`` with ``env`` set, in this process (`cli_invoke.invoke`:
    exit 0, no traceback; triage still analyses in its spawned worker processes)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"VANGNET_DATABASE_URL": db_url, **(env or {})}.items():
            patch.setenv(name, value)
        out = str(invoke(*args).stdout)
    reset_settings()
    return out


#: The wider net's storage is covered on both databases by tests/cli/test_match_verify.py;
#: the triage path (a worker process, then the matcher) does not depend on the database.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_triage_knows_a_crop_of_a_banked_photo_by_its_features(
    db_url: str, tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bsds = shared_data / "photos" / "bsds500"
    banked = sorted((bsds / "test").glob("*.jpg"))[:2]
    bank = tmp_path / "bank"
    bank.mkdir()
    for path in banked:
        (bank / path.name).symlink_to(path)
    _run(db_url, "bank", "create", "KNOWN", "--profile", "vics", "--pdq-verify-threshold", "160")
    added = [
        json.loads(x)
        for x in _run(db_url, "bank", "add", "KNOWN", str(bank), "--json").split("\n")
        if x.strip()
    ]
    content_of = {Path(a["path"]).name: a["content_id"] for a in added}

    seized = tmp_path / "seized"
    seized.mkdir()
    photo = load(banked[0])
    cut_w, cut_h = round(photo.width * 0.25), round(photo.height * 0.25)
    crop = photo.crop((0, cut_h, photo.width - cut_w, photo.height))
    (seized / "crop.png").write_bytes(png(crop))
    other = sorted((bsds / "val").glob("*.jpg"))[0]
    (seized / "other.png").write_bytes(png(load(other)))

    summary = json.loads(
        _run(
            db_url, "triage", str(seized), "--case", "CROP", "--no-ocr", "--workers", "1", "--json"
        )
    )
    assert summary["failed"] == 0, summary["failures"]
    doc = json.loads(_run(db_url, "case", "show", "CROP", "--json"))
    items = {i["name"]: i for i in doc["triage_items"]}
    (match,) = [m for m in items["crop.png"]["matches"] if m["signal_type"] == "pdq"]
    assert match["content_id"] == content_of[banked[0].name]
    # found by the wider net (beyond 31) or, this crop being centred, by the banked photo's
    # standard crop: either way only because local features agree
    assert match["inliers"] >= 12
    assert [m for m in items["other.png"]["matches"] if m["signal_type"] == "pdq"] == []
    assert summary["known_total"] == 1

    # match_verify_max 1 and both banked photos candidates of every photo (radius 256): the
    # unrelated photo's item says how many were left unverified, not only the log
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    invoke("bank", "update", "KNOWN", "--pdq-verify-threshold", "256")
    (seized / "crop.png").unlink()
    env = {"VANGNET_MATCH_VERIFY_MAX": "1"}
    _run(db_url, "triage", str(seized), "--case", "BUDGET", "--no-ocr", "--workers", "1", env=env)
    doc = json.loads(invoke("case", "show", "BUDGET", "--json").stdout)
    (item,) = doc["triage_items"]
    assert [m for m in item["matches"] if m["signal_type"] == "pdq"] == []
    assert item["metadata"]["unverified"] == 1
    assert any("1 banked items" in p for p in item["metadata"]["problems"])
    assert "unverified" not in items["other.png"]["metadata"]  # the default budget: none
