"""Triage keeps the hash of every registered signal type (issue 11, point 1): a plug-in
installed the way a third party installs one (a distribution with an entry point in the
group ``vangnet.signals``, found on the path by ``vangnet triage`` and its worker
processes) hashes each photo, the triage matches a bank that holds only the plug-in's hash,
and ``vangnet case show --json`` prints the item's value under ``signals``, stored as a
`TriageSignal` row (the item's columns stay for the built-ins). On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from plugin_site import install_ahash64
from triage.images import PUBLIC
from vangnet.store.models import TriageItem, TriageSignal

VANGNET = str(Path(sys.executable).with_name("vangnet"))
NAME = "test_triage_ahash64"


def _ahash(path: Path) -> str:
    pixels = list(Image.open(path).convert("L").resize((8, 8)).tobytes())
    mean = sum(pixels) / 64
    return f"{sum(1 << i for i, p in enumerate(pixels) if p > mean):016x}"


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
    banked = _ahash(folder / "skimage_rocket.jpg")
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
    assert china["signals"][NAME] == _ahash(folder / "china.jpg")
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
