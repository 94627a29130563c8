"""The typed triage result (`vangnet.triage.result`): it crosses the worker
process boundary, and what triage stores, as ``vangnet case show --json`` prints it, is what
it stored when the result was a dict (the expectations below were read from that version's
output on the same sources)."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cli_invoke import invoke
from triage.images import PUBLIC
from vangnet.banks.bank import create_bank
from vangnet.banks.categories import Category
from vangnet.banks.contents import add_content
from vangnet.config import get_settings
from vangnet.signals.hashing import hash_bytes, signal_values
from vangnet.triage.result import Findings, TriageResult
from vangnet.triage.run import analyse
from vangnet.triage.tuning import Options

VIDEOS = "threatexchange/video/sample-videos"
SHOT = f"{VIDEOS}/screenshots/screenshot_20190730_PM_80504.png"

#: name -> (kind, content_type, status, findings keys in stored order, match signal types,
#: category, series), as the dict-based triage stored them (plus a photo's ``regions``,
#: issue 12).
EXPECTED: dict[str, tuple[str, str, str, list[str], list[str], str | None, str | None]] = {
    "broken.jpg": ("other", "image/jpeg", "failed", [], [], None, None),
    "china.jpg": ("photo", "image/jpeg", "ok", ["pdq_dihedral", "regions"], [], None, None),
    "notes.txt": ("other", "application/octet-stream", "ok", [], [], None, None),
    "shot.png": (
        "photo",
        "image/png",
        "ok",
        ["pdq_dihedral", "regions", "text_lines", "text_hints", "screenshot_of"],
        [],
        None,
        None,
    ),
    "skimage_rocket.jpg": (
        "photo",
        "image/jpeg",
        "ok",
        ["pdq_dihedral", "regions"],
        ["md5", "pdq", "sha1", "sha256"],
        "vics:2",
        "rockets",
    ),
    "chair-19-sd-bar.mp4": ("video", "video/mp4", "ok", [], [], None, None),
    "phone.zip": ("archive", "application/octet-stream", "ok", [], [], None, None),
    "pattern-sd-grey-bar.mp4": (
        "video",
        "video/mp4",
        "ok",
        [],
        ["md5", "sha1", "sha256", "vpdq"],
        "vics:1",
        None,
    ),
}


def _sources(shared: Path, root: Path) -> tuple[Path, Path, dict[str, bytes]]:
    folder = root / "seized"
    (folder / "sub").mkdir(parents=True)
    for name in ("china.jpg", "skimage_rocket.jpg"):
        shutil.copy(shared / PUBLIC / name, folder / name)
    shutil.copy(shared / SHOT, folder / "shot.png")
    shutil.copy(shared / VIDEOS / "chair-19-sd-bar.mp4", folder / "sub")
    (folder / "notes.txt").write_text("shopping list")
    (folder / "broken.jpg").write_bytes((shared / PUBLIC / "china.jpg").read_bytes()[:3000])
    archive = root / "phone.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(shared / VIDEOS / "pattern-sd-grey-bar.mp4", "z/pattern-sd-grey-bar.mp4")
        zf.write(shared / PUBLIC / "skimage_rocket.jpg", "z/skimage_rocket.jpg")
    contents = {p.name: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    contents["phone.zip"] = archive.read_bytes()
    contents["pattern-sd-grey-bar.mp4"] = (shared / VIDEOS / "pattern-sd-grey-bar.mp4").read_bytes()
    return folder, archive, contents


def _bank(engine: Engine, shared: Path) -> None:
    settings = get_settings()
    with Session(engine) as s:
        create_bank(s, name="KNOWN", category_profile="vics")
        rocket = (shared / PUBLIC / "skimage_rocket.jpg").read_bytes()
        add_content(
            s,
            bank="KNOWN",
            signals=signal_values(hash_bytes(rocket, settings=settings)),
            category=Category.parse("vics:2"),
            series="rockets",
        )
        video = (shared / VIDEOS / "pattern-sd-grey-bar.mp4").read_bytes()
        add_content(
            s,
            bank="KNOWN",
            signals=signal_values(hash_bytes(video, settings=settings)),
            category=Category.parse("vics:1"),
        )
        s.commit()


def test_case_show_prints_what_the_dict_based_triage_stored(
    db_url: str,
    db_engine: Engine,
    shared_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _bank(db_engine, shared_data)
    folder, archive, contents = _sources(shared_data, tmp_path)
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)  # vangnet in this process (invoke)
    run = ["triage", str(folder), str(archive), "--case", "TYPED", "--workers", "2", "--json"]
    summary = json.loads(invoke(*run).stdout)  # analysed in worker processes
    assert summary["by_kind"] == {"archive": 1, "other": 2, "photo": 4, "video": 2}
    assert summary["known"] == {"vics:1": 1, "vics:2": 2} and summary["unknown"] == 3
    assert summary["screenshots_traced"] == 1 and summary["failed"] == 1
    shown = invoke("case", "show", "TYPED", "--json")
    items = json.loads(shown.stdout)["triage_items"]
    assert len(items) == 9
    settings = get_settings()
    for item in items:
        name = item["name"]
        kind, content_type, status, findings, signals, category, series = EXPECTED[name]
        assert (item["kind"], item["content_type"], item["status"]) == (
            kind,
            content_type,
            status,
        ), name
        assert list(item["findings"]) == findings, name
        assert [m["signal_type"] for m in item["matches"]] == signals, name
        assert all(m["distance"] == 0 and m["bank"] == "KNOWN" for m in item["matches"])
        assert (item["category"], item["series"]) == (category, series), name
        data = contents[name]
        hashes = item["hashes"]
        assert hashes["md5"] == hashlib.md5(data).hexdigest(), name
        assert hashes["sha1"] == hashlib.sha1(data).hexdigest(), name
        assert hashes["sha256"] == hashlib.sha256(data).hexdigest(), name
        if kind == "photo":
            hashed = hash_bytes(data, settings=settings, dihedral=True)
            assert hashes["pdq"] == hashed.value("pdq"), name
            assert hashes["pdq_quality"] == hashed.quality("pdq"), name
            assert item["findings"]["pdq_dihedral"] == list(hashed.dihedral), name
        else:
            assert hashes["pdq"] is None and hashes["pdq_quality"] is None, name
        if kind == "video":  # every hashed frame (it said 1 for any video before)
            frames = hash_bytes(data, settings=settings).video_frames["vpdq"]
            assert hashes["vpdq_frames"] == len(frames) > 1, name
        else:
            assert hashes["vpdq_frames"] == 0, name
        if kind in ("photo", "video"):  # the metadata step ran; no step failed
            assert item["metadata"]["kind"] and item["metadata"]["problems"] == [], name
        else:
            assert item["metadata"] == {} and item["text"] is None, name
    broken = next(i for i in items if i["name"] == "broken.jpg")
    assert broken["reason"] == "corrupt JPEG image header: Truncated File Read"
    shot = next(i for i in items if i["name"] == "shot.png")
    assert "chair-19-sd-bar.mp4" in shot["text"]
    assert shot["findings"]["text_hints"]["file_names"] == ["chair-19-sd-bar.mp4"]
    assert list(shot["findings"]["text_lines"][0]) == ["text", "confidence", "box"]


def test_a_result_pickles_whole(shared_data: Path) -> None:
    """What a worker process returns arrives unchanged (hashes, video frames, findings)."""
    settings = get_settings()
    options = Options(ocr=False)
    for path in (
        shared_data / PUBLIC / "skimage_rocket.jpg",
        shared_data / VIDEOS / "chair-19-sd-bar.mp4",
    ):
        result = analyse(path.read_bytes(), None, options, settings)
        assert result.ok and result.hashes is not None and result.metadata
        assert pickle.loads(pickle.dumps(result)) == result
    broken = analyse(b"\xff\xd8\xff\xe0garbage", None, options, settings)
    assert broken == pickle.loads(pickle.dumps(broken))
    assert (broken.kind, broken.status, broken.content_type) == ("other", "failed", "image/jpeg")


def test_findings_keep_the_stored_order_and_other_steps_keys() -> None:
    found = Findings(pdq_dihedral=("a",)).merged(
        Findings(text_hints={"urls": ["x.org"]}, language={"code": "nl"}, other={"mine": 1})
    )
    stored: dict[str, Any] = found.to_json()
    assert list(stored) == ["pdq_dihedral", "text_hints", "language", "mine"]
    box = {"x": 1, "y": 2, "w": 64, "h": 64, "kind": "trimmed"}
    looked = Findings(pdq_dihedral=("a",), regions=()).merged(Findings(regions=(box,)))
    assert list(looked.to_json()) == ["pdq_dihedral", "regions"]
    assert looked.to_json()["regions"] == [box]
    assert Findings(regions=()).to_json() == {"regions": []}  # looked for, none found
    assert Findings(regions=()).merged(Findings()).regions == ()  # kept by a later step
    assert TriageResult().findings.to_json() == {}
