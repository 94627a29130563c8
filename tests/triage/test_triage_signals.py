"""Triage keeps the hash of every registered signal type (issue 11, point 1): a plug-in
installed the way a third party installs one (a distribution with an entry point in the
group ``vangnet.signals``, found on the path by ``vangnet triage`` and its worker
processes) hashes each photo, the triage matches a bank that holds only the plug-in's hash,
and ``vangnet case show --json`` prints the item's value under ``signals``, stored as a
`TriageSignal` row (the item's columns stay for the built-ins). The exports carry it
(``vangnet case export``: a CSV column, a VICS alternative hash that ``vangnet bank import``
reads back, an HTML row), and a video's per-frame signals besides ``vpdq`` are kept as rows
too and counted in the case document. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import html
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from plugin_site import ahash64, install_ahash64
from triage.images import PUBLIC
from triage.meta_samples import SAMPLE_VIDEOS
from vangnet.config import get_settings
from vangnet.signals.hashing import hash_bytes
from vangnet.signals.registry import get_signal_type
from vangnet.store.models import ContentSignal, TriageItem, TriageSignal
from vangnet.triage.exports import CSV_FIELDS

VANGNET = str(Path(sys.executable).with_name("vangnet"))
NAME = "test_triage_ahash64"


def _run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([VANGNET, *args], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_a_plugin_hash_is_kept_matched_and_shown(
    db_url: str, db_engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    env = {**install_ahash64(tmp_path / "site", NAME), "VANGNET_DATABASE_URL": db_url}
    listed = json.loads(_run(env, "plugins", "--json"))  # installed as a user installs it
    assert NAME in json.dumps(listed)

    folder = tmp_path / "seized"
    folder.mkdir()
    for name in ("skimage_rocket.jpg", "china.jpg"):
        shutil.copy(shared_data / PUBLIC / name, folder / name)
    banked = ahash64(folder / "skimage_rocket.jpg")
    bank_file = tmp_path / "bank.csv"
    bank_file.write_text(f"signal_type,signal_value,category\n{NAME},{banked},vics:2\n")
    _run(env, "bank", "create", "PLUGGED", "--profile", "vics")
    _run(env, "bank", "import", "PLUGGED", str(bank_file), "--format", "csv")

    run = ["triage", str(folder), "--case", "PLUG", "--workers", "2", "--json"]
    summary = json.loads(_run(env, *run))
    assert summary["known"] == {"vics:2": 1} and summary["unknown"] == 1

    items = {
        i["name"]: i
        for i in json.loads(_run(env, "case", "show", "PLUG", "--json"))["triage_items"]
    }
    rocket, china = items["skimage_rocket.jpg"], items["china.jpg"]
    assert [m["signal_type"] for m in rocket["matches"]] == [NAME]  # the plug-in alone
    assert rocket["signals"][NAME] == banked
    assert china["signals"][NAME] == ahash64(folder / "china.jpg")
    for item in (rocket, china):  # the built-ins are still the item's columns
        assert {"md5", "sha1", "sha256", "pdq"} <= set(item["signals"])
        assert item["signals"]["pdq"] == item["hashes"]["pdq"]
    with Session(db_engine) as s:
        rows = s.execute(
            select(TriageItem.name, TriageSignal.signal_type, TriageSignal.value).join(
                TriageItem, TriageItem.id == TriageSignal.item_id
            )
        ).all()
    assert sorted(rows) == sorted(
        [
            ("china.jpg", NAME, china["signals"][NAME]),
            ("skimage_rocket.jpg", NAME, banked),
        ]
    )


#: a video with black bars (so it has ``vpdq_cropped`` frames besides Meta's ``vpdq``)
PADDED = SAMPLE_VIDEOS / "test-padded-dimensions.mp4"


def test_exports_carry_a_plugin_hash_and_a_video_keeps_its_frames(
    db_url: str, db_engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    env = {**install_ahash64(tmp_path / "site", NAME), "VANGNET_DATABASE_URL": db_url}
    folder = tmp_path / "seized"
    (folder / "sub").mkdir(parents=True)
    for name in ("skimage_rocket.jpg", "china.jpg"):
        shutil.copy(shared_data / PUBLIC / name, folder / name)
    shutil.copy(shared_data / PUBLIC / "china.jpg", folder / "sub" / "copy.jpg")
    shutil.copy(shared_data / PADDED, folder / "padded.mp4")
    ahash = {n: ahash64(folder / n) for n in ("skimage_rocket.jpg", "china.jpg")}
    _run(env, "triage", str(folder), "--case", "SIG", "--no-ocr", "--json")

    items = {
        i["name"]: i for i in json.loads(_run(env, "case", "show", "SIG", "--json"))["triage_items"]
    }
    # the video: every per-frame signal kept (vpdq in its column, the others as rows), the
    # values those hashing the file anew gives, counted in the case document like vpdq
    video = items["padded.mp4"]
    with Session(db_engine) as s:
        rows = dict(
            s.execute(
                select(TriageSignal.signal_type, TriageSignal.value).where(
                    TriageSignal.item_id == video["id"]
                )
            ).all()
        )
    hashed = hash_bytes((folder / "padded.mp4").read_bytes(), settings=get_settings())
    fresh = hashed.signal_values()
    assert set(rows) == {"vpdq_cropped", "vpdq_regions"}  # the video had bars; regions on
    assert rows == {n: fresh[n] for n in rows}
    frames = {n: len(get_signal_type(n).frames(v)) for n, v in fresh.items() if "vpdq" in n}
    assert video["hashes"]["video_frames"] == frames
    assert frames["vpdq_cropped"] > 0 and frames["vpdq_regions"] > frames["vpdq_cropped"]
    assert video["hashes"]["vpdq_frames"] == frames["vpdq"]
    assert not any("vpdq" in n for n in video["signals"])  # single values only
    assert items["china.jpg"]["hashes"]["video_frames"] == {}

    # CSV: a column for the plug-in, after the built-in hashes
    text = _run(env, "case", "export", "SIG", "--format", "csv")
    reader = csv.DictReader(io.StringIO(text))
    at = CSV_FIELDS.index("pdq") + 1
    assert reader.fieldnames == [*CSV_FIELDS[:at], NAME, *CSV_FIELDS[at:]]
    by_name = {r["name"]: r for r in reader}
    assert by_name["skimage_rocket.jpg"][NAME] == ahash["skimage_rocket.jpg"]
    assert by_name["china.jpg"][NAME] == by_name["copy.jpg"][NAME] == ahash["china.jpg"]
    assert by_name["padded.mp4"][NAME] == ""  # the plug-in hashes pictures only

    # VICS: the standard hashes as before, the plug-in's an alternative hash
    out = tmp_path / "sig-vics.json"
    _run(env, "case", "export", "SIG", "--format", "vics", "--out", str(out))
    media = json.loads(out.read_text())["value"][0]["Media"]
    china = next(m for m in media if m["MediaID"] == items["china.jpg"]["id"])
    assert len(china["MediaFiles"]) == 2  # china.jpg and sub/copy.jpg: one content
    assert china["MD5"] == items["china.jpg"]["hashes"]["md5"].upper()
    assert china["AlternativeHashes"] == [
        {"HashName": "SHA256", "HashValue": items["china.jpg"]["hashes"]["sha256"]},
        {"HashName": "PDQ", "HashValue": items["china.jpg"]["hashes"]["pdq"]},
        {"HashName": NAME.upper(), "HashValue": ahash["china.jpg"]},
    ]
    # ... which Vangnet's bank importer reads back as the plug-in's signal type
    _run(env, "bank", "import", "BACK", str(out), "--format", "vics2", "--create")
    with Session(db_engine) as s:
        back = set(s.scalars(select(ContentSignal.value).where(ContentSignal.signal_type == NAME)))
    assert back == set(ahash.values())

    # HTML: a row per hash value, and the frames of each per-frame signal
    page = _run(env, "case", "export", "SIG", "--format", "html")
    for name, value in ahash.items():
        assert f"<tr><th>{html.escape(NAME)}</th><td>{value}</td></tr>" in page, name
    for signal_type, n in frames.items():
        assert f"<tr><th>{signal_type}</th><td>{n} frames</td></tr>" in page
