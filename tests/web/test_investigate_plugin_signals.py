"""The investigation workbench and a plug-in's hash (issue 11, point 1): a signal-type plug-in
installed as a distribution on ``PYTHONPATH`` hashes the photos of a folder that ``vangnet
triage`` (and its worker processes) records; the workbench search finds an item by that
hash (exact hex, any case, or a prefix of 8 digits or more) like by an MD5 or a PDQ, but not
by one of a video's frames; the item page shows the value and the frames of each per-frame
signal; the first reveal of a video copies its ``vpdq``, ``vpdq_cropped`` and
``vpdq_regions`` frames to the evidence item it seals (as an upload keeps them), which
``vangnet case show`` prints. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient  # (imported quietly by the conftest first)
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from plugin_site import ahash64, install_ahash64
from triage.images import PUBLIC
from triage.meta_samples import SAMPLE_VIDEOS
from vangnet.signals.vpdq import parse
from vangnet.store.models import EvidenceItem, EvidenceSignal, TriageItem, TriageSignal
from web.conftest import WebFactory, login, make_user

VANGNET = str(Path(sys.executable).with_name("vangnet"))
NAME = "test_workbench_ahash64"


def _run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([VANGNET, *args], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _shown(client: TestClient, case_id: int, query: str) -> set[int]:
    r = client.get(f"/ui/investigations/{case_id}?{query}")
    assert r.status_code == 200, r.text[:500]
    return {int(i) for i in re.findall(r'<li class="item" data-item="(\d+)"', r.text)}


def test_the_workbench_finds_shows_and_reveals_every_kept_signal(
    db_url: str, db_engine: Engine, web_factory: WebFactory, shared_data: Path, tmp_path: Path
) -> None:
    env = {**install_ahash64(tmp_path / "site", NAME), "VANGNET_DATABASE_URL": db_url}
    folder = tmp_path / "seized"
    folder.mkdir()
    for name in ("skimage_rocket.jpg", "china.jpg"):
        shutil.copy(shared_data / PUBLIC / name, folder / name)
    shutil.copy(shared_data / SAMPLE_VIDEOS / "test-padded-dimensions.mp4", folder / "clip.mp4")
    _run(env, "triage", str(folder), "--case", "WORKBENCH", "--no-ocr", "--workers", "2")
    case = json.loads(_run(env, "case", "show", "WORKBENCH", "--json"))
    ids = {i["name"]: i["id"] for i in case["triage_items"]}
    rocket, china, video = ids["skimage_rocket.jpg"], ids["china.jpg"], ids["clip.mp4"]
    value = ahash64(folder / "china.jpg")
    assert value != ahash64(folder / "skimage_rocket.jpg")

    make_user(db_url, "rita", "reviewer")
    client = web_factory()
    csrf = login(client, "rita")
    found = {  # by the plug-in's hash, as by a built-in one
        query: _shown(client, case["id"], f"q={query}")
        for query in (value, value.upper(), value[:8], ahash64(folder / "skimage_rocket.jpg"))
    }
    assert found == {
        value: {china},
        value.upper(): {china},
        value[:8]: {china},
        ahash64(folder / "skimage_rocket.jpg"): {rocket},
    }
    assert _shown(client, case["id"], f"q={value[:7]}") == set()  # too short for a hash
    with Session(db_engine) as s:
        cropped = s.scalars(
            select(TriageSignal.value).where(
                TriageSignal.item_id == video, TriageSignal.signal_type == "vpdq_cropped"
            )
        ).one()
        md5 = s.get_one(TriageItem, china).md5
    assert md5 and _shown(client, case["id"], f"q={md5}") == {china}
    frame = parse(cropped)[0].pdq  # the frames of a video are not searched (like vpdq's)
    assert _shown(client, case["id"], f"q={frame}") == set()

    page = client.get(f"/ui/investigations/items/{china}").text
    assert f'<td>{NAME}</td><td class="wrap"><code>{value}</code></td>' in page
    shown = client.get(f"/ui/investigations/items/{video}").text
    counts = {
        name: len(parse(v, regions=name == "vpdq_regions"))
        for name, v in _triage_signals(db_engine, video).items()
    }
    assert set(counts) == {"vpdq", "vpdq_cropped", "vpdq_regions"}
    for name, n in counts.items():
        label = "vPDQ" if name == "vpdq" else name
        assert f"<tr><td>{label}</td><td>{n} frames</td></tr>" in shown, name

    for item in (video, china):  # the first reveal seals the item as evidence
        r = client.post(f"/ui/investigations/items/{item}/reveal", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200, r.text[:300]
    held = _evidence_signals(db_engine)
    assert held[video] == _triage_signals(db_engine, video)  # every frame signal follows
    assert held[china] == {NAME: value}
    items = json.loads(_run(env, "case", "show", "WORKBENCH", "--json"))["items"]
    shown_signals = {i["filename"]: i["signals"] for i in items}
    assert set(shown_signals["clip.mp4"]) >= {"vpdq", "vpdq_cropped", "vpdq_regions"}
    assert shown_signals["china.jpg"][NAME] == value


def _triage_signals(engine: Engine, item_id: int) -> dict[str, str]:
    """Every per-frame value of a triage item: its ``vpdq`` column and its rows."""
    with Session(engine) as s:
        item = s.get_one(TriageItem, item_id)
        rows = s.execute(
            select(TriageSignal.signal_type, TriageSignal.value).where(
                TriageSignal.item_id == item_id
            )
        ).all()
    assert item.vpdq
    return {"vpdq": item.vpdq, **{str(n): str(v) for n, v in rows}}


def _evidence_signals(engine: Engine) -> dict[int, dict[str, str]]:
    """The `EvidenceSignal` rows of every evidence item, by the triage item it was sealed from."""
    out: dict[int, dict[str, str]] = {}
    with Session(engine) as s:
        for item in s.scalars(select(EvidenceItem)):
            rows = s.execute(
                select(EvidenceSignal.signal_type, EvidenceSignal.value).where(
                    EvidenceSignal.evidence_id == item.id
                )
            ).all()
            out[int(item.details["triage_item_id"])] = {str(n): str(v) for n, v in rows}
    return out
