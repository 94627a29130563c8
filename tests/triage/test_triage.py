"""`vangnet triage`: folders, nested archives, raw and E01 disk images (deleted files too),
bank matches, bad input recorded per item, and exact resumption after `kill -9`."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cli_invoke import invoke
from triage.images import PUBLIC, e01_of, fat_image, nested_archives
from vangnet.banks.bank import create_bank
from vangnet.banks.categories import Category
from vangnet.banks.contents import add_content
from vangnet.config import get_settings
from vangnet.signals.hashing import hash_bytes, signal_values
from vangnet.store.models import TriageItem
from vangnet.triage.run import Triage
from vangnet.triage.tuning import Options

VANGNET = str(Path(sys.executable).with_name("vangnet"))


def _triage(engine: Engine, case: str, *sources: Path, **kw: Any) -> dict[str, Any]:
    options = Options(ocr=False, workers=2, **kw)
    summary = Triage(
        engine,
        case=case,
        sources=[str(s) for s in sources],
        actor="test",
        options=options,
        settings=get_settings(),
    ).run()
    return summary.to_dict()


def _items(engine: Engine, case_id: int) -> list[TriageItem]:
    with Session(engine) as s:
        return list(
            s.scalars(
                select(TriageItem).where(TriageItem.case_id == case_id).order_by(TriageItem.id)
            )
        )


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_disk_images_raw_and_e01_with_deleted_files(
    db_engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    raw = tmp_path / "fat.img"
    holds = fat_image(shared_data, raw)
    e01 = e01_of(raw, tmp_path / "evidence")
    parted = tmp_path / "parted.img"
    fat_image(shared_data, parted, partitioned=True)
    before = {p: _md5(p) for p in (raw, e01, parted)}
    summary = _triage(db_engine, "DISKS", raw, e01, parted)
    assert summary["failed"] == 0, summary["failures"]
    assert summary["by_kind"] == {"archive": 3, "image": 3, "photo": 12}
    assert summary["deleted_recovered"] == 3
    items = _items(db_engine, summary["case_id"])
    for image in (raw, e01, parted):
        inside = [i for i in items if i.chain[0] == str(image) and len(i.chain) > 1]
        by_path = {i.chain[-1]: i for i in inside}
        for where, original in holds.items():
            if where == "deleted":
                found = next(i for i in inside if i.deleted)
                assert found.chain[-1].endswith("ONE.JPG".lower()) or found.chain[-1].endswith(
                    "one.jpg"
                )
            else:
                found = by_path[where]
                assert not found.deleted
            assert found.md5 == _md5(shared_data / PUBLIC / original), where
            assert found.kind == "photo" and found.pdq
        members = [i for i in inside if i.chain[-1] == "skimage_coffee.png"]
        assert members and members[0].chain[-2] == "/a.zip"
    parted_chain = next(i.chain for i in items if i.chain[0] == str(parted) and len(i.chain) > 3)
    assert parted_chain[1].startswith("partition") and parted_chain[2] == "file system (fat16)"
    assert {p: _md5(p) for p in before} == before  # originals untouched


def test_nested_archives_and_known_material(
    db_engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "seized"
    folder.mkdir()
    holds = nested_archives(shared_data, folder)
    (folder / "notes.txt").write_text("shopping list")
    rocket = (shared_data / PUBLIC / "skimage_rocket.jpg").read_bytes()
    with Session(db_engine) as s:
        create_bank(s, name="KNOWN", category_profile="vics")
        add_content(
            s,
            bank="KNOWN",
            signals=signal_values(hash_bytes(rocket, settings=get_settings())),
            category=Category.parse("vics:2"),
            series="rockets",
        )
        s.commit()
    summary = _triage(db_engine, "ARCHIVES", folder)
    assert summary["failed"] == 0, summary["failures"]
    assert summary["known"] == {"vics:2": 1} and summary["unknown"] == 2
    items = {
        i.chain[-1] if len(i.chain) > 1 else i.name: i
        for i in _items(db_engine, summary["case_id"])
    }
    rocket_item = items["deep/rocket.jpg"]
    assert rocket_item.chain[1:] == ["inner.tar.gz", "inner.tar", "deep/rocket.jpg"]
    assert rocket_item.category == "vics:2" and rocket_item.series == "rockets"
    assert rocket_item.matches and rocket_item.matches[0]["bank"] == "KNOWN"
    assert items["flower.jpg"].chain[1:] == ["sub/pics.7z", "flower.jpg"]
    for member, original in holds.items():
        assert items[member].md5 == _md5(shared_data / PUBLIC / original)
    assert items["notes.txt"].kind == "other" and items["notes.txt"].status == "ok"


def test_bad_input_is_recorded_per_item(
    db_engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    import py7zr

    folder = tmp_path / "bad"
    folder.mkdir()
    photo = (shared_data / PUBLIC / "china.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(photo[: len(photo) // 3])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "corrupt.zip").write_bytes(b"PK\x03\x04" + os.urandom(2000))
    with zipfile.ZipFile(folder / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\0" * (40 * 1024 * 1024))
    with zipfile.ZipFile(folder / "traversal.zip", "w") as archive:
        archive.writestr("../../../etc/evil.jpg", photo)
    locked = io.BytesIO()
    with zipfile.ZipFile(locked, "w") as archive:
        archive.writestr("secret.jpg", photo)
    raw = bytearray(locked.getvalue())  # set the "encrypted" flag bit in both headers
    raw[6] |= 0x1
    central = raw.rindex(b"PK\x01\x02")
    raw[central + 8] |= 0x1
    (folder / "locked.zip").write_bytes(bytes(raw))
    with py7zr.SevenZipFile(folder / "locked.7z", "w", password="pw") as archive:
        archive.writestr(photo, "x.jpg")
    (folder / "broken.img").write_bytes(
        b"\xeb\x3c\x90mkfs.fat" + b"\0" * 499 + b"\x55\xaa" + os.urandom(4096)
    )
    summary = _triage(db_engine, "BAD", folder)
    reasons = {f["path"].split(str(folder) + "/")[-1]: f["reason"] for f in summary["failures"]}
    assert "truncated.jpg" in reasons
    assert "corrupt zip" in reasons["corrupt.zip"]
    assert "zip bomb" in next(r for p, r in reasons.items() if p.startswith("bomb.zip"))
    assert "encrypted" in next(r for p, r in reasons.items() if p.startswith("locked.zip"))
    assert "encrypted" in reasons["locked.7z"]
    assert "broken.img" in reasons
    items = {tuple(i.chain[1:]): i for i in _items(db_engine, summary["case_id"])}
    evil = items[("../../../etc/evil.jpg",)]
    assert evil.kind == "photo" and evil.status == "ok"  # named as stored, never extracted
    assert not (tmp_path / "etc").exists()
    empty = next(i for i in _items(db_engine, summary["case_id"]) if i.name == "empty.jpg")
    assert empty.size == 0 and empty.md5 == hashlib.md5(b"").hexdigest()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_kill_9_then_resume_gives_the_same_result(
    db_url: str, db_engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    photos = sorted((shared_data / "photos/bsds500/train").glob("*.jpg"))[:120]
    for p in photos[:60]:
        (folder / p.name).write_bytes(p.read_bytes())
    with zipfile.ZipFile(folder / "more.zip", "w") as archive:
        for p in photos[60:]:
            archive.write(p, f"z/{p.name}")
    env = {**os.environ, "VANGNET_DATABASE_URL": db_url}
    cmd = [
        VANGNET,
        "triage",
        str(folder),
        "--case",
        "RESUME",
        "--no-ocr",
        "--json",
        "--workers",
        "2",
    ]
    process = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill it once part of the work is committed
        with Session(db_engine) as s:
            count = s.scalar(select(func.count()).select_from(TriageItem)) or 0
        if count >= 40 or process.poll() is not None:
            break
        time.sleep(0.05)
    assert process.poll() is None, "triage finished before it could be interrupted"
    process.send_signal(signal.SIGKILL)  # kill -9: no cleanup of any kind
    process.wait()
    with Session(db_engine) as s:
        partial = s.scalar(select(func.count()).select_from(TriageItem)) or 0
    assert 0 < partial < 121
    again = subprocess.run(cmd, env=env, capture_output=True, check=True)
    summary = json.loads(again.stdout)
    assert summary["skipped_already_done"] == partial
    assert summary["processed"] + partial == 121 == summary["files"]

    # an uninterrupted run into another case gives the same items
    whole = subprocess.run([*cmd[:4], "WHOLE", *cmd[5:]], env=env, capture_output=True, check=True)
    assert json.loads(whole.stdout)["processed"] == 121
    with Session(db_engine) as s:
        cases = dict(
            s.execute(select(TriageItem.case_id, func.count()).group_by(TriageItem.case_id)).all()
        )
        assert sorted(cases.values()) == [121, 121]  # nothing twice, nothing missed
        resumed, whole_id = sorted(cases)

        def rows(case_id: int) -> list[tuple[Any, ...]]:
            found = s.execute(
                select(
                    TriageItem.chain,
                    TriageItem.kind,
                    TriageItem.status,
                    TriageItem.md5,
                    TriageItem.sha256,
                    TriageItem.pdq,
                    TriageItem.size,
                ).where(TriageItem.case_id == case_id)
            ).all()
            return sorted((json.dumps(r[0]), *r[1:]) for r in found)

        assert rows(resumed) == rows(whole_id)


def test_case_show_lists_every_item(
    db_url: str,
    db_engine: Engine,
    shared_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = tmp_path / "fat.img"
    fat_image(shared_data, raw)
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)  # vangnet in this process (invoke)
    summary = json.loads(invoke("triage", str(raw), "--case", "OP 7", "--no-ocr", "--json").stdout)
    assert summary["files"] == 6 and summary["deleted_recovered"] == 1
    shown = invoke("case", "show", "OP 7", "--json")
    doc = json.loads(shown.stdout)
    assert doc["kind"] == "investigation" and doc["title"] == "OP 7"
    items = {tuple(i["chain"][3:]): i for i in doc["triage_items"]}
    rocket = items[("/pics/rocket.jpg",)]
    assert rocket["chain"][:3] == [str(raw), "whole image @ 0", "file system (fat16)"]
    assert rocket["hashes"]["md5"] == _md5(shared_data / PUBLIC / "skimage_rocket.jpg")
    assert rocket["hashes"]["pdq"] and rocket["kind"] == "photo"
    assert rocket["times"]["modified"]
    assert [i["deleted"] for i in doc["triage_items"]].count(True) == 1
    assert doc["triage_runs"][0]["counts"]["files"] == 6
    missing = invoke("triage", str(tmp_path / "nope"), "--case", "X", code=4)  # no traceback
    assert "no such file" in missing.output


def test_near_duplicates_form_series_linked_to_bank_series(
    db_engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    """The bridge photo's edits (crops, colours, text, rotations) are one series, named after
    the bank series of the one banked edit; an unrelated photo is in no series."""
    folder = tmp_path / "series"
    folder.mkdir()
    mods = shared_data / "threatexchange/pdq/data/bridge-mods"
    dih = shared_data / "threatexchange/pdq/data/reg-test-input/dih"
    for path in (
        mods / "aaa-orig.jpg",
        mods / "blur-a-little.jpg",
        mods / "high-contrast.jpg",
        dih / "bridge-2-rotate-90.jpg",
        dih / "bridge-5-flipx.jpg",
    ):
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "coffee.png").write_bytes((shared_data / PUBLIC / "skimage_coffee.png").read_bytes())
    with Session(db_engine) as s:
        create_bank(s, name="SERIES", category_profile="vics")
        add_content(
            s,
            bank="SERIES",
            signals=signal_values(
                hash_bytes((mods / "aaa-orig.jpg").read_bytes(), settings=get_settings())
            ),
            category=Category.parse("vics:1"),
            series="bridge-series",
        )
        s.commit()
    summary = _triage(db_engine, "SERIES", folder)
    assert summary["series"] == 1
    items = {i.name: i for i in _items(db_engine, summary["case_id"])}
    grouped = [i for i in items.values() if i.series_id is not None]
    assert {i.name for i in grouped} == {
        "aaa-orig.jpg",
        "blur-a-little.jpg",
        "high-contrast.jpg",
        "bridge-2-rotate-90.jpg",  # linked through the dihedral variants
        "bridge-5-flipx.jpg",
    }
    assert all(i.series == "bridge-series" for i in grouped)
    assert items["coffee.png"].series_id is None


def test_metadata_is_recorded_per_item(
    db_engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    """The 12 MP phone photos carry GPS and capture times: triage keeps them, with the place
    found offline."""
    folder = tmp_path / "phone"
    folder.mkdir()
    source = shared_data / "threatexchange/pdq/data/reg-test-input/exif-rotn/exif-rotn-1.jpg"
    (folder / "IMG_0001.jpg").write_bytes(source.read_bytes())
    summary = _triage(db_engine, "PHONE", folder)
    (item,) = _items(db_engine, summary["case_id"])
    meta = item.item_metadata
    assert meta["captured"]["local"] == "2017-11-07T22:14:15"
    assert meta["captured"]["inferred_offset"] == "-05:00"
    assert round(meta["gps"]["latitude"], 4) == 38.9779
    assert meta["place"]["country_code"] == "US" and meta["place"]["city"] == "Takoma Park"
    assert meta["device"]["make"] == "samsung" and meta["device"]["model"] == "SM-G930V"


def test_text_in_pictures_is_read_and_searchable(
    db_engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    """With OCR on, a player screenshot's title (the file name) and timecodes are recorded,
    with the leads found in them; it is not taken for a video call."""
    folder = tmp_path / "shots"
    folder.mkdir()
    shot = shared_data / "threatexchange/video/sample-videos/screenshots"
    (folder / "s.png").write_bytes((shot / "screenshot_20190730_PM_80504.png").read_bytes())
    summary = (
        Triage(
            db_engine,
            case="TEXT",
            sources=[str(folder)],
            actor="test",
            options=Options(ocr=True, workers=1),
            settings=get_settings(),
        )
        .run()
        .to_dict()
    )
    (item,) = _items(db_engine, summary["case_id"])
    assert "chair-19-sd-bar.mp4" in (item.text or "")
    assert "chair-19-sd-bar.mp4" in item.findings["text_hints"]["file_names"]
    assert item.findings["text_hints"]["timecodes"]
    call = item.findings.get("video_call", {"score": 0, "reasons": []})
    assert call["score"] < 0.5


def test_screenshots_are_traced_to_the_video_they_show(
    db_engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    """A player screenshot is traced to the case's own video it shows (verified by local
    features), at the moment shown; a screenshot of a video not in the case is not traced."""
    videos = shared_data / "threatexchange/video/sample-videos"
    folder = tmp_path / "laptop"
    folder.mkdir()
    for name in ("screenshot_20190730_PM_80504.png", "screenshot_20190730_PM_80605.png"):
        (folder / name).write_bytes((videos / "screenshots" / name).read_bytes())
    (folder / "movie.mp4").write_bytes((videos / "chair-19-sd-bar.mp4").read_bytes())
    summary = _triage(db_engine, "SHOTS", folder)
    assert summary["screenshots_traced"] == 1
    items = {i.name: i for i in _items(db_engine, summary["case_id"])}
    (best, *_rest) = items["screenshot_20190730_PM_80504.png"].findings["screenshot_of"]
    assert best["name"] == f"item:{items['movie.mp4'].id}" and "movie.mp4" in best["label"]
    assert best["method"] == "features" and best["timestamp"] < 1.0
    assert "screenshot_of" not in items["screenshot_20190730_PM_80605.png"].findings
