"""Triage's ``classify`` step and the workbench ordered by it, on SQLite and PostgreSQL:
`vangnet triage` scores three benign photos with the real open-nsfw classifier (progress
and the summary count them; each item keeps its scores, priority signal and summary), and
``--no-classify`` skips the step. The workbench sorts by score, filters by a minimum score
and shows "likely new material" (likely, no bank match) as its own view; the CSV export has
the score columns.

The threshold for "likely" is set between the photos' own open-nsfw scores (measured here
first), so that two of the three benign photos count as likely, one of them banked: what
is shown is the workbench's logic, not a claim about the photos.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cli_invoke import invoke, json_lines
from vangnet.banks.bank import create_bank
from vangnet.banks.categories import Category
from vangnet.banks.contents import add_content
from vangnet.config import Settings, get_settings
from vangnet.errors import ExitCode
from vangnet.signals.classifiers.enabled import enabled_classifiers
from vangnet.signals.classifiers.scoring import score_pictures
from vangnet.signals.hashing import hash_bytes, signal_values
from vangnet.store.models import TriageItem, TriageRun
from web.conftest import WebFactory, login, make_user

PHOTOS = ("100075.jpg", "100080.jpg", "100098.jpg")


def _scores(folder: Path) -> dict[str, float]:
    """Each photo's open-nsfw score, scored here as the step scores it."""
    (classifier,) = enabled_classifiers(Settings(classifiers=["opennsfw"]))
    names = sorted(p.name for p in folder.iterdir())
    pictures = [np.asarray(Image.open(folder / n).convert("RGB")) for n in names]
    readings = score_pictures(pictures, [classifier])
    return {n: r.scores["opennsfw"].value for n, r in zip(names, readings, strict=True)}


def _items(engine: Engine, case_id: int) -> dict[str, TriageItem]:
    with Session(engine) as s:
        rows = s.scalars(select(TriageItem).where(TriageItem.case_id == case_id))
        return {r.name: r for r in rows}


def _shown(client: object, case_id: int, query: str) -> list[int]:
    r = client.get(f"/ui/investigations/{case_id}?{query}")  # type: ignore[attr-defined]
    assert r.status_code == 200, r.text[:500]
    return [int(i) for i in re.findall(r'<li class="item" data-item="(\d+)"', r.text)]


def test_triage_classifies_and_the_workbench_orders_by_it(
    db_engine: Engine,
    db_url: str,
    shared_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    web_factory: WebFactory,
) -> None:
    folder = tmp_path / "seized"
    folder.mkdir()
    for name in PHOTOS:
        shutil.copyfile(shared_data / "photos/bsds500/train" / name, folder / name)
    scores = _scores(folder)
    low, middle, high = sorted(scores, key=lambda n: scores[n])
    assert scores[low] < scores[middle] < scores[high] < 0.5  # benign: none likely at 0.5
    threshold = round((scores[low] + scores[middle]) / 2, 6)
    with Session(db_engine) as s:  # the highest-scoring photo is known material
        create_bank(s, name="KNOWN", category_profile="vics")
        data = (folder / high).read_bytes()
        add_content(
            s,
            bank="KNOWN",
            signals=signal_values(hash_bytes(data, settings=get_settings())),
            category=Category.parse("vics:1"),
        )
        s.commit()

    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    monkeypatch.setenv("VANGNET_CLASSIFIERS", "opennsfw")
    monkeypatch.setenv("VANGNET_CLASSIFIER_THRESHOLDS", json.dumps({"opennsfw": threshold}))
    args = ("triage", str(folder), "--workers", "1", "--no-ocr", "--json")
    (summary,) = json_lines(*args, "--case", "SCORED")
    assert summary["processed"] == 3 and summary["failed"] == 0
    assert summary["classified"] == 3 and summary["likely_new"] == 1  # middle: high is banked
    items = _items(db_engine, summary["case_id"])
    for name, item in items.items():
        found = item.findings["classifiers"]
        assert found["scores"] == {"opennsfw": pytest.approx(scores[name], rel=1e-3, abs=1e-6)}
        assert found["errors"] == []
        priority = found["priority"]
        assert priority["value"] == pytest.approx(
            scores[name] / 2, rel=1e-3, abs=1e-6
        )  # no face: half
        assert priority["summary"].startswith(f"nudity {scores[name]:.2f} (open-nsfw)")
        assert item.priority_signal == priority["value"]
        assert item.signal_likely is (name != low)
        assert not [p for p in item.item_metadata.get("problems", []) if "classif" in p]

    # the step skipped: no scores, the run says so
    (skipped,) = json_lines(*args, "--case", "UNSCORED", "--no-classify")
    assert skipped["classified"] == 0 and skipped["likely_new"] == 0
    assert all(
        i.priority_signal is None and "classifiers" not in i.findings
        for i in _items(db_engine, skipped["case_id"]).values()
    )
    with Session(db_engine) as s:
        run = s.scalars(select(TriageRun).where(TriageRun.case_id == skipped["case_id"])).one()
        assert run.options["classify"] is False

    # the export: the score columns, by their names
    exported = invoke("case", "export", "SCORED", "--format", "csv").stdout
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(exported))}
    assert rows[middle]["classifier_likely"] == "True"
    assert float(rows[middle]["classifier_priority"]) == pytest.approx(scores[middle] / 2, abs=1e-6)
    assert rows[middle]["classifier_scores"].startswith("opennsfw=")
    assert rows[middle]["classifier_summary"].startswith("nudity")
    html = invoke("case", "export", "SCORED", "--format", "html").stdout
    assert f"classifiers (likely): {rows[middle]['classifier_summary']}" in html

    # the workbench: sorted by score, a minimum score, the likely-new view, bad input refused
    make_user(db_url, "ana", "analyst")
    client = web_factory(classifiers=["opennsfw"])
    login(client, "ana")
    case_id = summary["case_id"]
    ids = {name: item.id for name, item in items.items()}
    assert _shown(client, case_id, "sort=score") == [ids[high], ids[middle], ids[low]]
    kept = {name: float(item.priority_signal or 0) for name, item in items.items()}
    above = (kept[low] + kept[middle]) / 2
    assert _shown(client, case_id, f"sort=score&min_score={above}") == [ids[high], ids[middle]]
    assert _shown(client, case_id, "flag=likely_new") == [ids[middle]]
    page = client.get(f"/ui/investigations/{case_id}")
    tile = re.search(r'id="tile-likely_new"[^>]*><span class="num">(\d+)</span>', page.text)
    assert tile is not None and tile.group(1) == "1"
    assert "likely new" in client.get(f"/ui/investigations/{case_id}?flag=likely_new").text
    shown = client.get(f"/ui/investigations/items/{ids[middle]}").text
    assert "<strong>Likely new material</strong>" in shown
    assert f"nudity {scores[middle]:.2f} (open-nsfw)" in shown
    for bad in ("min_score=2", "min_score=x", "sort=size"):
        assert client.get(f"/ui/investigations/{case_id}?{bad}").status_code == 400, bad

    # a bad classifiers setting stops a run before it starts
    monkeypatch.setenv("VANGNET_CLASSIFIERS", "no_such_classifier")
    invoke(*args, "--case", "NEVER", code=ExitCode.INVALID_DATA)
