"""The investigation workbench (/ui/investigations): a folder of benign evidence is triaged into
a case, then the pages are checked end to end on SQLite and PostgreSQL: the overview counts,
every filter and the full-text search, bulk categorisation (audited per item) and who may do
it, blurred previews and audited reveals, the item page (metadata, text, matches, findings,
the source chain of an archive member inside a disk image), the timeline, the map and the
series.

The evidence (built at test time from ../shared/data, nothing committed): a 12 MP phone photo
with real GPS (Takoma Park, 2017-11-07, samsung SM-G930V), two photos with GPS and a device
written by piexif (Manila, Amsterdam), three near-duplicate bridge photos (one banked as
vics:1 in series "bridge-series"), a zip, a short video, a truncated JPEG, a text file and a
FAT disk image holding a zip and a deleted photo. Triage runs without OCR; the text and the
screenshot / video-call findings the OCR and screenshot steps record are written into two
items afterwards, in the shape those steps use.

The triage runs once per dialect and test session (per xdist worker); each test starts from
a copy of its result (database, audit key, evidence folder), so tests may change all three.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import piexif
import pytest
from fastapi.testclient import TestClient  # (imported quietly by the conftest first)
from PIL import Image
from sqlalchemy import Engine, make_url, select
from sqlalchemy.orm import Session

from cli_invoke import invoke
from conftest import audited, drop_pg_database, new_pg_database, settle_sqlite
from triage.images import PUBLIC, fat_image
from triage.meta_samples import BSDS, EXIF_ROTN, SAMPLE_VIDEOS, gps_ifd, with_exif
from vangnet.audit import chain
from vangnet.auth import users
from vangnet.banks.bank import create_bank
from vangnet.banks.categories import Category
from vangnet.banks.contents import add_content
from vangnet.config import get_settings, reset_settings
from vangnet.evidence.reading import read_evidence
from vangnet.review import cases
from vangnet.review.priority import PriorityWeights
from vangnet.signals.hashing import hash_bytes, signal_values
from vangnet.store.db import make_engine, writer
from vangnet.store.migrate import upgrade
from vangnet.store.models import CustodyEvent, EvidenceItem, TriageItem
from vangnet.store.vault import Vault
from vangnet.triage import queries
from web.conftest import WebFactory, browser, login, make_user

MODS = Path("threatexchange/pdq/data/bridge-mods")
CASE = "Operation Harbour"
OCR_TEXT = "Zoom meeting · maria_1999 · 22:14 · Leave"
TRACE = {  # (the shape of vangnet.triage.screenshots.Trace.to_dict)
    "kind": "video",
    "frame": 120,
    "timestamp": 4.0,
    "method": "features",
    "distance": 12,
    "part": "top",
    "inliers": 210,
    "region": {"x": 0, "y": 40, "w": 640, "h": 360, "kind": "main", "score": 0.9},
}


def _tagged(shared: Path, source: Path, lat: float, lon: float, **tags: Any) -> bytes:
    """A JPEG copy of ``source`` with GPS, a device and a capture time written by piexif."""
    exif = {
        "0th": {piexif.ImageIFD.Make: tags["make"], piexif.ImageIFD.Model: tags["model"]},
        "Exif": {piexif.ExifIFD.DateTimeOriginal: tags["when"]},
        "GPS": gps_ifd(lat, lon),
    }
    if "serial" in tags:
        exif["Exif"][piexif.ExifIFD.BodySerialNumber] = tags["serial"]
    out = io.BytesIO()
    Image.open(shared / source).convert("RGB").save(out, "JPEG", quality=90)
    return with_exif(out.getvalue(), exif)


def build_evidence(shared: Path, folder: Path) -> None:
    """The seized folder described in the module docstring."""
    folder.mkdir(parents=True)
    (folder / "phone").mkdir()
    (folder / "phone" / "IMG_0001.jpg").write_bytes(
        (shared / EXIF_ROTN / "exif-rotn-1.jpg").read_bytes()
    )
    (folder / "manila.jpg").write_bytes(
        _tagged(
            shared,
            BSDS / "100075.jpg",
            14.5995,
            120.9842,
            make=b"Apple",
            model=b"iPhone 8",
            when=b"2021:03:14 09:30:00",
        )
    )
    (folder / "amsterdam.jpg").write_bytes(
        _tagged(
            shared,
            BSDS / "100080.jpg",
            52.3731,
            4.8926,
            make=b"Canon",
            model=b"Canon EOS 5D",
            when=b"2020:06:01 18:05:00",
            serial=b"0123456789",
        )
    )
    for name in ("aaa-orig.jpg", "blur-a-little.jpg", "high-contrast.jpg"):
        (folder / name).write_bytes((shared / MODS / name).read_bytes())
    with zipfile.ZipFile(folder / "holiday.zip", "w") as archive:
        archive.write(shared / PUBLIC / "skimage_camera.png", "pics/camera.png")
        archive.write(shared / PUBLIC / "skimage_astronaut.png", "astronaut.png")
    (folder / "clip.mp4").write_bytes(
        (shared / SAMPLE_VIDEOS / "test-padded-dimensions.mp4").read_bytes()
    )
    photo = (shared / PUBLIC / "skimage_chelsea.png").read_bytes()
    (folder / "broken.png").write_bytes(photo[: len(photo) // 4])
    (folder / "notes.txt").write_text("shopping list")
    fat_image(shared, folder / "usb.img")  # rocket, flower, a.zip (coffee), deleted china


@dataclass
class Evidence:
    case_id: int
    folder: Path
    ids: dict[str, int]  # file name (last chain step) -> item id


def run_triage(db_url: str, folder: Path) -> dict[str, Any]:
    """`vangnet triage FOLDER --case CASE --no-ocr --workers 1 --json`, in this process
    (`cli_invoke.invoke`; its worker pool is spawned, fresh interpreters, so OpenCV's thread
    pool in this process does not reach them)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("VANGNET_DATABASE_URL", db_url)
        done = invoke("triage", str(folder), "--case", CASE, "--no-ocr", "--workers", "1", "--json")
    reset_settings()
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


def triage_case(engine: Engine, db_url: str, shared: Path, tmp: Path) -> Evidence:
    """Bank the bridge photo, build and triage the evidence, add the text findings."""
    with Session(writer(engine)) as session:
        create_bank(session, name="KNOWN", category_profile="vics")
        add_content(
            session,
            bank="KNOWN",
            signals=signal_values(
                hash_bytes((shared / MODS / "aaa-orig.jpg").read_bytes(), settings=get_settings())
            ),
            category=Category.parse("vics:1"),
            series="bridge-series",
        )
        session.commit()
    folder = tmp / "seized"
    build_evidence(shared, folder)
    summary = run_triage(db_url, folder)
    assert summary["failed"] == 1, summary["failures"]  # broken.png
    case_id = int(summary["case_id"])
    with Session(writer(engine)) as session:
        rows = list(session.scalars(select(TriageItem).where(TriageItem.case_id == case_id)))
        ids = {r.chain[-1].rsplit("/", 1)[-1]: r.id for r in rows if not r.deleted}
        ids["deleted"] = next(r.id for r in rows if r.deleted)
        by_id = {r.id: r for r in rows}
        # what the OCR step records for a video-call screenshot ...
        called = by_id[ids["amsterdam.jpg"]]
        called.text, called.language = OCR_TEXT, "en"
        called.findings = {
            **called.findings,
            "video_call": {"score": 0.8, "reasons": ["app chrome", "call words: leave"]},
            "text_hints": {
                "times": ["22:14"],
                "handles": ["maria_1999"],
                "apps": [{"name": "Zoom", "kind": "video_call"}],
            },
            "language": {"code": "en", "name": "English", "confidence": 0.9, "countries": []},
        }
        # ... and the tracing pass for a screenshot of a player showing the case's video
        shot = by_id[ids["manila.jpg"]]
        trace = {**TRACE, "name": f"item:{ids['clip.mp4']}", "label": "clip.mp4 (a video)"}
        shot.findings = {**shot.findings, "screenshot_of": [trace]}
        session.commit()
    return Evidence(case_id=case_id, folder=folder, ids=ids)


# -- one triage per dialect, a copy of its result per test -------------------------------------


@dataclass
class Triaged:
    """The triaged case on one dialect, made once per test session (per xdist worker): its
    database (which no test opens: each gets a copy), the VANGNET_HOME it was made with (the
    audit key its entries are signed with) and the bytes of the evidence folder's files."""

    url: str
    home: Path
    evidence: Evidence
    files: dict[Path, bytes]


@dataclass
class Triages:
    """What `_triage_once` made in this session, and the PostgreSQL databases to drop."""

    made: dict[str, Triaged] = field(default_factory=dict)  # by dialect
    databases: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def _triages() -> Iterator[Triages]:
    triages = Triages()
    yield triages
    for url in triages.databases:
        drop_pg_database(url)


def _triage_once(dialect: str, request: pytest.FixtureRequest, root: Path) -> Triaged:
    """`triage_case` on a new migrated database of ``dialect``, with a home of its own."""
    if dialect == "sqlite":
        path = root / "triaged.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = new_pg_database()
        request.getfixturevalue("_triages").databases.append(url)
        upgrade(url)
    home = root / "vangnet-home"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("VANGNET_HOME", str(home))
        reset_settings()
        engine = audited(make_engine(url))
        try:
            evidence = triage_case(engine, url, request.getfixturevalue("shared_data"), root)
        finally:
            engine.dispose()
            reset_settings()  # the test's own settings again
    if dialect == "sqlite":
        settle_sqlite(path)
    files = {p: p.read_bytes() for p in evidence.folder.rglob("*") if p.is_file()}
    return Triaged(url, home, evidence, files)


@pytest.fixture
def db_url(
    db_url: str,
    _triages: Triages,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """Overrides the conftest's ``db_url`` in this module: a copy of the triaged case's
    database on the same dialect (SQLite: its file; PostgreSQL: a database made from it as
    a template), with the triaged case's home files (its audit key) in this test's
    VANGNET_HOME and the evidence folder as triage read it (a test may change a file)."""
    dialect = make_url(db_url).get_backend_name()
    triaged = _triages.made.get(dialect)
    if triaged is None:
        triaged = _triage_once(dialect, request, tmp_path_factory.mktemp(f"triaged-{dialect}"))
        _triages.made[dialect] = triaged
    shutil.copytree(triaged.home, get_settings().home, dirs_exist_ok=True)
    for path in triaged.evidence.folder.rglob("*"):
        if path.is_file() and path not in triaged.files:
            path.unlink()
    for path, data in triaged.files.items():
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
    if dialect == "sqlite":
        shutil.copyfile(str(make_url(triaged.url).database), str(make_url(db_url).database))
        yield db_url
        return
    copy = new_pg_database(template=triaged.url)
    try:
        yield copy
    finally:
        drop_pg_database(copy)


@pytest.fixture
def evidence(db_url: str, _triages: Triages) -> Evidence:
    """The triaged case (in this test's copy of the database, see `db_url`)."""
    return _triages.made[make_url(db_url).get_backend_name()].evidence


@pytest.fixture
def reviewer(web_factory: WebFactory, db_url: str) -> tuple[TestClient, str]:
    make_user(db_url, "rita", "reviewer")
    client = web_factory()
    return client, login(client, "rita")


def _tile(page: str, name: str) -> int:
    found = re.search(rf'id="tile-{re.escape(name)}"[^>]*><span class="num">(\d+)</span>', page)
    assert found is not None, f"no tile {name}"
    return int(found.group(1))


def _shown(client: TestClient, case_id: int, query: str = "") -> set[int]:
    r = client.get(f"/ui/investigations/{case_id}" + (f"?{query}" if query else ""))
    assert r.status_code == 200, r.text[:500]
    return {int(i) for i in re.findall(r'<li class="item" data-item="(\d+)"', r.text)}


def _names(ev: Evidence, ids: set[int]) -> set[str]:
    back = {v: k for k, v in ev.ids.items()}
    return {back[i] for i in ids}


def _entries(engine: Engine, action: str, **kw: Any) -> list[dict[str, Any]]:
    with Session(engine) as session:
        return chain.list_entries(session, action=action, limit=1000, **kw)


# -- overview, filters, search ----------------------------------------------------------------


def test_overview_counts_filters_and_search(
    evidence: Evidence, reviewer: tuple[TestClient, str], db_engine: Engine
) -> None:
    client, _csrf = reviewer
    ev, case = evidence, evidence.case_id
    listed = client.get("/ui/investigations")
    assert listed.status_code == 200 and CASE in listed.text
    assert f'href="/ui/investigations/{case}"' in listed.text
    page = client.get(f"/ui/investigations/{case}")
    assert page.status_code == 200
    assert 'href="/ui/investigations" aria-current="page">Investigations</a>' in page.text
    photos = {"IMG_0001.jpg", "manila.jpg", "amsterdam.jpg", "aaa-orig.jpg", "blur-a-little.jpg"}
    photos |= {"high-contrast.jpg", "camera.png", "astronaut.png", "rocket.jpg", "flower.jpg"}
    photos |= {"skimage_coffee.png", "deleted"}
    expected = {
        "files": len(ev.ids),
        "photos": len(photos),
        "videos": 1,
        "cat-vics-1": 3,  # the bridge series, from the bank
        "unknown": len(photos) + 1 - 3,
        "matched": 3,
        "screenshot": 1,
        "video_call": 1,
        "gps": 3,
        "text": 1,
        "series": 1,
        "deleted": 1,
        "failed": 1,
    }
    assert {name: _tile(page.text, name) for name in expected} == expected
    assert "samsung SM-G930V" in page.text and "Canon EOS 5D (serial 0123456789)" in page.text
    assert "Takoma Park" in page.text
    assert len(_shown(client, case)) == len(ev.ids)  # one page holds them all

    def names(query: str) -> set[str]:
        return _names(ev, _shown(client, case, query))

    bridge = {"aaa-orig.jpg", "blur-a-little.jpg", "high-contrast.jpg"}
    assert names("category=vics:1") == bridge
    assert names("category=uncategorised") == (photos | {"clip.mp4"}) - bridge
    assert names("kind=video") == {"clip.mp4"}
    assert names("kind=archive") == {"holiday.zip", "a.zip"}
    assert names("device=samsung%7Csm-g930v%7C") == {"IMG_0001.jpg"}
    assert names("place=US") == names("place=takoma+park") == {"IMG_0001.jpg"}
    assert names("place=PH") == {"manila.jpg"}
    assert names("date_from=2017-11-07&date_to=2017-11-07") == {"IMG_0001.jpg"}
    assert names("date_from=2020-01-01") == {"manila.jpg", "amsterdam.jpg"}
    assert names("date_to=2020-12-31") == {"IMG_0001.jpg", "amsterdam.jpg", "flower.jpg"}  # 2011
    assert names("has_text=yes") == {"amsterdam.jpg"}
    assert "amsterdam.jpg" not in names("has_text=no")
    series_id = min(ev.ids[n] for n in bridge)
    assert names(f"series_id={series_id}") == bridge
    assert names("series=bridge-series") == bridge
    assert names("deleted=yes") == {"deleted"}
    assert names("kind=photo&deleted=no") == photos - {"deleted"}
    assert names("flag=gps") == {"IMG_0001.jpg", "manila.jpg", "amsterdam.jpg"}
    assert names("flag=screenshot") == {"manila.jpg"}
    assert names("flag=video_call") == {"amsterdam.jpg"}
    assert names("flag=matched") == bridge
    assert names("flag=failed") == {"broken.png"}
    assert names("kind=photo&place=US&category=vics:1") == set()
    # full text: metadata, names and paths, OCR text, hashes; wildcards are literal
    assert names("q=SAMSUNG") == {"IMG_0001.jpg"}
    assert names("q=Maryland") == {"IMG_0001.jpg"}  # the place found offline
    assert names("q=holiday") == {"holiday.zip", "camera.png", "astronaut.png"}
    assert names("q=maria_1999") == {"amsterdam.jpg"}
    assert names("q=maria%251999") == set()  # "maria%1999": % is not a wildcard
    assert names("q=bridge-series") == bridge
    with Session(db_engine) as session:
        digest = session.get_one(TriageItem, ev.ids["IMG_0001.jpg"]).sha256
    assert digest and names(f"q={digest[:12].upper()}") == {"IMG_0001.jpg"}  # a hash prefix
    filtered = client.get(f"/ui/investigations/{case}?q=samsung&kind=photo")
    assert 'aria-label="remove the q filter"' in filtered.text
    assert (
        f'href="/ui/investigations/{case}?kind=photo" aria-label="remove the q filter"'
        in filtered.text
    )
    with Session(db_engine) as session:  # pages (60 items each on the page)
        paged = queries.grid(session, case, queries.Filters(), page=2, per_page=5)
        last = queries.grid(session, case, queries.Filters(kind="photo"), page=99, per_page=5)
    assert (paged.total, paged.pages, paged.page) == (len(ev.ids), 4, 2)
    assert [i["id"] for i in paged.items] == sorted(ev.ids.values())[5:10]
    assert (last.page, len(last.items)) == (3, 2)  # 12 photos: the last page, not none
    for bad in ("date_from=yesterday", "kind=sculpture", "category=vics:9", "flag=odd"):
        r = client.get(f"/ui/investigations/{case}?{bad}")
        assert r.status_code == 400 and "Traceback" not in r.text, bad
    assert client.get("/ui/investigations/999999").status_code == 404
    viewed = _entries(db_engine, "investigation.view")
    assert viewed and viewed[0]["actor"] == "rita" and viewed[0]["target"] == f"case:{case}"


# -- categorisation and roles ----------------------------------------------------------------


def test_bulk_categorise_is_audited_and_needs_decide(
    evidence: Evidence,
    reviewer: tuple[TestClient, str],
    db_url: str,
    db_engine: Engine,
) -> None:
    client, csrf = reviewer
    ev, case = evidence, evidence.case_id
    chosen = [ev.ids["IMG_0001.jpg"], ev.ids["manila.jpg"], ev.ids["aaa-orig.jpg"]]
    back = f"/ui/investigations/{case}?kind=photo"
    form = {"csrf": csrf, "category": "vics:2", "ids": chosen, "next": back}
    r = client.post(f"/ui/investigations/{case}/categorise", data=form)
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"/ui/investigations/{case}?kind=photo&flash=3+items")
    with Session(db_engine) as session:
        rows = session.execute(
            select(TriageItem.id, TriageItem.category).where(TriageItem.id.in_(chosen))
        )
        got = {item_id: category for item_id, category in rows}
    assert got == dict.fromkeys(chosen, "vics:2")
    audited = {e["target"]: e for e in _entries(db_engine, "triage_item.categorise")}
    assert set(audited) == {f"triage_item:{i}" for i in chosen}
    entry = audited[f"triage_item:{ev.ids['aaa-orig.jpg']}"]
    assert entry["actor"] == "rita"
    assert entry["before"] == {"category": "vics:1"} and entry["after"] == {"category": "vics:2"}
    assert entry["details"]["case"] == case
    assert _tile(client.get(f"/ui/investigations/{case}").text, "cat-vics-2") == 3

    # back to uncategorised; items already there are left alone (and not audited again)
    again = {"csrf": csrf, "category": "uncategorised", "ids": [*chosen[:2], ev.ids["clip.mp4"]]}
    r = client.post(f"/ui/investigations/{case}/categorise", data=again)
    assert r.status_code == 303 and "2+items+set+to+uncategorised" in r.headers["location"]
    assert len(_entries(db_engine, "triage_item.categorise")) == 5
    # an item of no such case, an unknown category, no CSRF token: refused, nothing changed
    for bad, status in (
        ({"csrf": csrf, "category": "vics:1", "ids": [chosen[2], 999999]}, 404),
        ({"csrf": csrf, "category": "vics:7", "ids": [chosen[2]]}, 400),
        ({"csrf": csrf, "category": "none", "ids": [chosen[2]]}, 400),
        ({"category": "vics:1", "ids": [chosen[2]]}, 403),
        ({"csrf": csrf, "category": "vics:1"}, 400),
    ):
        r = client.post(f"/ui/investigations/{case}/categorise", data=bad)
        assert r.status_code == status, (bad, r.text[:300])
    assert len(_entries(db_engine, "triage_item.categorise")) == 5
    # a "next" elsewhere is not followed
    r = client.post(
        f"/ui/investigations/{case}/categorise",
        data={
            "csrf": csrf,
            "category": "vics:4",
            "ids": [chosen[2]],
            "next": "https://evil.example/x",
        },
    )
    assert r.headers["location"].startswith(f"/ui/investigations/{case}?flash=")

    # an analyst may view (and reveal) but not categorise; a curator may not even view
    make_user(db_url, "ana", "analyst")
    make_user(db_url, "carl", "curator")
    analyst, curator = browser(client), browser(client)
    ana_csrf, carl_csrf = login(analyst, "ana"), login(curator, "carl")
    page = analyst.get(f"/ui/investigations/{case}")
    assert page.status_code == 200 and 'name="ids"' not in page.text
    assert "may view these items but not categorise" in page.text
    r = analyst.post(
        f"/ui/investigations/{case}/categorise",
        data={"csrf": ana_csrf, "category": "vics:1", "ids": [chosen[0]]},
    )
    assert r.status_code == 403
    item = ev.ids["IMG_0001.jpg"]
    assert analyst.get(f"/ui/investigations/items/{item}").status_code == 200
    assert "Investigations</a>" not in curator.get("/ui/").text
    for path in (
        "/ui/investigations",
        f"/ui/investigations/{case}",
        f"/ui/investigations/{case}/map",
        f"/ui/investigations/{case}/timeline",
        f"/ui/investigations/{case}/series",
        f"/ui/investigations/items/{item}",
        f"/ui/investigations/items/{item}/preview",
    ):
        assert curator.get(path).status_code == 403, path
    r = curator.post(f"/ui/investigations/items/{item}/reveal", headers={"X-CSRF-Token": carl_csrf})
    assert r.status_code == 403
    assert len(_entries(db_engine, "triage_item.categorise")) == 6


# -- previews and reveals --------------------------------------------------------------------


def _pixels(data: bytes) -> np.ndarray[Any, np.dtype[np.float64]]:
    with Image.open(io.BytesIO(data)) as picture:
        return np.asarray(picture.convert("RGB"), dtype=np.float64)


def _sharpness(rgb: np.ndarray[Any, np.dtype[np.float64]]) -> float:
    grey = rgb.mean(axis=2)
    lap = (
        -4 * grey[1:-1, 1:-1] + grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:]
    )
    return float(lap.var())


def test_previews_are_blurred_and_reveals_audited(
    evidence: Evidence,
    reviewer: tuple[TestClient, str],
    db_url: str,
    db_engine: Engine,
) -> None:
    client, csrf = reviewer
    ev = evidence
    # a photo inside a zip inside a FAT image: read back through its chain
    for name in ("skimage_coffee.png", "IMG_0001.jpg", "clip.mp4", "deleted"):
        r = client.get(f"/ui/investigations/items/{ev.ids[name]}/preview")
        assert r.status_code == 200, (name, r.text[:200])
        assert r.headers["content-type"] == "image/jpeg"
        assert "no-store" in r.headers["cache-control"]
        rgb = _pixels(r.content)
        assert max(rgb.shape[:2]) <= 320
        assert np.abs(rgb[..., 0] - rgb[..., 1]).max() <= 2, f"{name}: preview is not grey"
    coffee = ev.ids["skimage_coffee.png"]
    big = client.get(f"/ui/investigations/items/{coffee}/preview?size=page")
    assert max(_pixels(big.content).shape[:2]) > 320
    # no preview: a placeholder picture with the reason's status, never a traceback
    for name, status in (("holiday.zip", 404), ("broken.png", 404), ("notes.txt", 404)):
        r = client.get(f"/ui/investigations/items/{ev.ids[name]}/preview")
        assert r.status_code == status and r.headers["content-type"].startswith("image/svg+xml")
    (ev.folder / "manila.jpg").write_bytes(b"\xff\xd8 changed since triage")
    r = client.get(f"/ui/investigations/items/{ev.ids['manila.jpg']}/preview")
    assert r.status_code == 409 and b"no preview" in r.content
    assert client.get("/ui/investigations/items/999999/preview").status_code == 404

    # reveal: CSRF needed; the clear picture, audited
    url = f"/ui/investigations/items/{coffee}/reveal"
    assert client.post(url).status_code == 403
    assert _entries(db_engine, "media.reveal") == []
    r = client.post(url, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert "no-store" in r.headers["cache-control"]
    clear = _pixels(r.content)
    assert np.abs(clear[..., 0] - clear[..., 2]).mean() > 5  # in colour
    blurred = _pixels(client.get(f"/ui/investigations/items/{coffee}/preview").content)
    assert _sharpness(clear) > 20 * _sharpness(blurred)
    (revealed,) = _entries(db_engine, "media.reveal")
    assert revealed["actor"] == "rita" and revealed["target"] == f"triage_item:{coffee}"
    assert revealed["details"]["case"] == ev.case_id
    video = ev.ids["clip.mp4"]
    r = client.post(f"/ui/investigations/items/{video}/reveal", headers={"X-CSRF-Token": csrf})
    original = (ev.folder / "clip.mp4").read_bytes()
    assert r.status_code == 200 and r.content == original
    assert r.headers["content-type"].startswith("video/")
    assert len(_entries(db_engine, "media.reveal")) == 2

    # each person's wellness settings: no blur, colour
    with Session(writer(db_engine)) as session:
        users.set_preferences(session, "rita", blur=0, greyscale=False, actor="rita")
        session.commit()
    plain = _pixels(client.get(f"/ui/investigations/items/{coffee}/preview").content)
    assert np.abs(plain[..., 0] - plain[..., 2]).mean() > 5
    assert _sharpness(plain) > 10 * _sharpness(blurred)


def test_a_reveal_is_logged_in_the_chain_of_custody(
    evidence: Evidence,
    reviewer: tuple[TestClient, str],
    db_url: str,
    db_engine: Engine,
) -> None:
    """Every reveal of an investigation item is in its chain of custody (and audited): the
    first seals the bytes shown into the vault as an evidence item of the case."""
    client, csrf = reviewer
    ev = evidence
    video = ev.ids["clip.mp4"]
    url = f"/ui/investigations/items/{video}/reveal"

    def held() -> list[EvidenceItem]:
        with Session(db_engine) as session:
            return list(
                session.scalars(select(EvidenceItem).where(EvidenceItem.case_id == ev.case_id))
            )

    assert client.post(url).status_code == 403  # no CSRF token: nothing revealed or logged
    assert held() == []
    assert client.post(url, headers={"X-CSRF-Token": csrf}).status_code == 200
    make_user(db_url, "ana", "analyst")
    analyst = browser(client)
    ana_csrf = login(analyst, "ana")
    assert analyst.post(url, headers={"X-CSRF-Token": ana_csrf}).status_code == 200
    assert client.post(url, headers={"X-CSRF-Token": csrf}).status_code == 200

    (item,) = held()  # sealed once, at the first reveal
    original = (ev.folder / "clip.mp4").read_bytes()
    with Session(writer(db_engine)) as session:
        triage = session.get_one(TriageItem, video)
        assert item.kind == "triage" and item.details["triage_item_id"] == video
        assert item.sha256 == triage.sha256 and item.size == len(original)
        custody = session.scalars(
            select(CustodyEvent)
            .where(CustodyEvent.evidence_id == item.id)
            .order_by(CustodyEvent.id)
        ).all()
        assert [(c.actor, c.action) for c in custody] == [
            ("rita", "captured"),
            ("rita", "accessed"),
            ("ana", "accessed"),
            ("rita", "accessed"),
        ]
        assert "clip.mp4" in str(custody[0].detail)
        # the vault holds exactly the bytes shown, bound to this item
        vault = Vault.from_settings(get_settings())
        assert read_evidence(session, vault, item.id, actor="test") == original
        session.rollback()
        # and the case document shows the chain of custody
        document = cases.case_document(
            session, ev.case_id, weights=PriorityWeights.from_settings(get_settings())
        )
    shown = [(c["item_id"], c["actor"], c["action"]) for c in document["custody"]]
    assert shown[:2] == [(item.id, "rita", "captured"), (item.id, "rita", "accessed")]
    assert len(shown) == 4
    (listed,) = document["items"]
    assert listed["id"] == item.id and listed["viewed_by"] == ["ana", "rita"]
    reveals = _entries(db_engine, "media.reveal")
    assert [(e["actor"], e["target"]) for e in reveals] == [
        ("rita", f"triage_item:{video}"),
        ("ana", f"triage_item:{video}"),
        ("rita", f"triage_item:{video}"),
    ]

    # a source changed since triage: refused, nothing sealed, nothing logged
    (ev.folder / "manila.jpg").write_bytes(b"\xff\xd8 changed since triage")
    manila = f"/ui/investigations/items/{ev.ids['manila.jpg']}/reveal"
    assert client.post(manila, headers={"X-CSRF-Token": csrf}).status_code == 409
    assert len(held()) == 1
    assert len(_entries(db_engine, "media.reveal")) == 3


# -- item page, timeline, map, series --------------------------------------------------------


def test_item_page_shows_everything_known_about_a_file(
    evidence: Evidence, reviewer: tuple[TestClient, str], db_engine: Engine
) -> None:
    client, _csrf = reviewer
    ev = evidence
    coffee = client.get(f"/ui/investigations/items/{ev.ids['skimage_coffee.png']}")
    assert coffee.status_code == 200
    steps = re.findall(r'<li><span class="kind">([^<]+)</span> (.*?)</li>', coffee.text)
    kinds = [kind for kind, _ in steps]
    assert kinds == ["disk image", "volume", "file system", "archive", "file"]
    text = [re.sub(r"<[^>]+>", "", step) for _, step in steps]
    assert text[0] == str(ev.folder / "usb.img") and text[-2:] == ["/a.zip", "skimage_coffee.png"]
    assert text[2].startswith("file system (fat")
    assert f'href="/ui/investigations/items/{ev.ids["a.zip"]}"' in coffee.text
    assert f'href="/ui/investigations/items/{ev.ids["usb.img"]}"' in coffee.text

    phone = client.get(f"/ui/investigations/items/{ev.ids['IMG_0001.jpg']}").text
    for expected in (
        "samsung",
        "SM-G930V",
        "Takoma Park",
        "Maryland",
        "2017-11-07 22:14:15",
        "-05:00",
        "38.977935",
    ):
        assert expected in phone, expected
    with Session(db_engine) as session:
        item = session.get_one(TriageItem, ev.ids["IMG_0001.jpg"])
        assert item.sha256 and item.sha256 in phone and item.md5 and item.md5 in phone
    known = client.get(f"/ui/investigations/items/{ev.ids['aaa-orig.jpg']}").text
    assert (
        "KNOWN" in known and "vics:1 — Child abuse material" in known and "bridge-series" in known
    )
    assert 'id="matches"' in known
    called = client.get(f"/ui/investigations/items/{ev.ids['amsterdam.jpg']}").text
    assert "maria_1999" in called and "Likely a video-call screenshot" in called
    assert "Zoom" in called and "English" in called
    shot = client.get(f"/ui/investigations/items/{ev.ids['manila.jpg']}").text
    assert "clip.mp4 (a video)" in shot and "0:04.0" in shot and "frame 120" in shot
    assert f'href="/ui/investigations/items/{ev.ids["clip.mp4"]}"' in shot
    deleted = client.get(f"/ui/investigations/items/{ev.ids['deleted']}").text
    assert "recovered from unallocated" in deleted
    failed = client.get(f"/ui/investigations/items/{ev.ids['broken.png']}").text
    assert "failed" in failed and "no preview" in failed
    assert client.get("/ui/investigations/items/999999").status_code == 404
    views = _entries(db_engine, "triage_item.view")
    assert len(views) == 7 and all(v["actor"] == "rita" for v in views)


def test_timeline_map_and_series(evidence: Evidence, reviewer: tuple[TestClient, str]) -> None:
    client, _csrf = reviewer
    ev, case = evidence, evidence.case_id
    timeline = client.get(f"/ui/investigations/{case}/timeline")
    assert timeline.status_code == 200
    days = re.findall(r'<time datetime="(\d{4}-\d\d-\d\d)">', timeline.text)
    assert {"2017-11-07", "2020-06-01", "2021-03-14"} <= set(days)
    assert "date_from=2017-11-07&amp;date_to=2017-11-07" in timeline.text
    assert re.search("22:00\u201322:59: 1 item<", timeline.text)
    narrowed = client.get(f"/ui/investigations/{case}/timeline?place=US").text
    assert "2017-11-07" in narrowed and "2021-03-14" not in narrowed

    world = client.get(f"/ui/investigations/{case}/map")
    assert world.status_code == 200
    assert world.text.count("<circle") == 3
    for place in ("Takoma Park", "Amsterdam", "PH"):
        assert place in world.text
    assert 'class="land" fill-rule="evenodd" d="M' in world.text
    assert "http" not in re.sub(
        r'(href|xmlns)="[^"]*"', "", world.text.split("<svg", 1)[1].split("</svg>")[0]
    )
    one = client.get(f"/ui/investigations/{case}/map?device=samsung%7Csm-g930v%7C").text
    assert one.count("<circle") == 1 and "Takoma Park" in one
    empty = client.get(f"/ui/investigations/{case}/map?kind=video").text
    assert "<circle" not in empty and "carries a usable GPS position" in empty

    series = client.get(f"/ui/investigations/{case}/series")
    assert series.status_code == 200
    series_id = min(ev.ids[n] for n in ("aaa-orig.jpg", "blur-a-little.jpg", "high-contrast.jpg"))
    assert f'id="series-{series_id}"' in series.text and "bridge-series" in series.text
    strip = re.findall(r'src="/ui/investigations/items/(\d+)/preview"', series.text)
    assert len(strip) == 3
