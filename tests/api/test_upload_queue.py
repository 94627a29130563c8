"""Uploads scored by the classifiers and the review queue ordered by the priority signal, on
SQLite and PostgreSQL, through ``POST /v1/match``, ``GET /v1/cases`` and `vangnet case list`:

- an upload that matches nothing but is likely new material (a registered test classifier
  giving controlled scores) is filed as a case of source classifier, with its sealed upload
  as evidence and its scores; one that is not likely is not filed, nor is one with
  ``record=false`` or with ``classify_uploads`` off;
- a matched upload's case keeps its scores (and is not "likely new material");
- the queue sorts by priority (default) or by score, filters by a minimum score and shows the
  "likely new material" view; bad values are refused with nothing changed;
- the real open-nsfw classifier reads a benign photo as not likely: no case.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.test_review_api import _bank_photo
from cli_invoke import invoke
from vangnet.errors import ExitCode
from vangnet.signals.classifiers import base
from vangnet.signals.classifiers.base import Classifier, Pixels, Score
from vangnet.signals.classifiers.enabled import forget_instances
from vangnet.store.models import Case, CaseEvent, EvidenceItem

from .conftest import BRIDGE, AppFactory

RED = "test_queue_red"


class _Red(Classifier):
    """A sexual-content classifier with controlled scores: the share of pure red pixels."""

    name = RED
    version = "1"
    measures = "sexual_content"
    default_threshold = 0.5

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        out = []
        for p in pictures:
            red = (p[..., 0] > 200) & (p[..., 1] < 60) & (p[..., 2] < 60)
            value = round(float(red.mean()), 4)
            out.append(Score(RED, "1", "sexual_content", value, summary=f"red {value:.2f}"))
        return out


@pytest.fixture
def red() -> Iterator[None]:
    base.REGISTRY.register(_Red)
    forget_instances()
    try:
        yield
    finally:
        base.REGISTRY.unregister(RED)
        forget_instances()


def _png(share: float, seed: int, size: int = 96) -> bytes:
    """A noise picture (a distinct PDQ each ``seed``) whose left ``share`` is pure red."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 200, (size, size, 3), dtype=np.uint8)
    pixels[:, : round(size * share)] = (255, 0, 0)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def _with_red(data: bytes, share: float) -> bytes:
    """The photo ``data`` with its left ``share`` painted pure red (still hashable)."""
    picture = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).copy()
    picture[:, : round(picture.shape[1] * share)] = (255, 0, 0)
    out = io.BytesIO()
    Image.fromarray(picture).save(out, "PNG")
    return out.getvalue()


def _client(make_client: AppFactory, admin_key: str, **settings: object) -> TestClient:
    client = make_client(classifiers=[RED], **settings)
    client.headers["X-API-Key"] = admin_key
    return client


def _queue(client: TestClient, query: str = "") -> list[dict[str, object]]:
    r = client.get(f"/v1/cases?status=all{query}")
    assert r.status_code == 200, r.text
    cases: list[dict[str, object]] = r.json()["cases"]
    return cases


def test_likely_uploads_are_filed_and_the_queue_orders_by_score(
    red: None,
    make_client: AppFactory,
    admin_key: str,
    db_url: str,
    shared_data: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = _client(make_client, admin_key)
    # likely (0.9 red), no bank knows it: a classifier case with the sealed upload
    likely = client.post("/v1/match?account=a1&platform=p", content=_png(0.9, 1))
    assert likely.status_code == 200, likely.text
    body = likely.json()
    assert body["matches"] == []
    assert body["priority"]["likely"] is True
    assert body["priority"]["value"] == pytest.approx(0.9 / 2, abs=0.01)  # no face: half
    assert body["priority"]["summary"].startswith("red 0.90 (test_queue_red)")
    assert body["classifier_errors"] == []
    new_case = body["case_id"]

    # not likely (0.3 red): answered, never filed
    low = client.post("/v1/match?account=a2", content=_png(0.3, 2)).json()
    assert low["priority"]["likely"] is False and "case_id" not in low
    # likely but record=false: not filed
    unrecorded = client.post("/v1/match?account=a3&record=false", content=_png(0.8, 3)).json()
    assert unrecorded["priority"]["likely"] is True and "case_id" not in unrecorded

    # a matched upload keeps its scores (0.6 red over a banked photo)
    matched_data = _with_red((shared_data / BRIDGE / "aaa-orig.jpg").read_bytes(), 0.6)
    _bank_photo(client, matched_data)
    matched = client.post("/v1/match?account=a4", content=matched_data).json()
    assert matched["matches"] and matched["priority"]["likely"] is True
    matched_case = matched["case_id"]
    # a second likely upload, lower score: its own case
    second = client.post("/v1/match?account=a5", content=_png(0.7, 5)).json()["case_id"]

    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    with Session(engine) as s:
        case = s.get_one(Case, new_case)
        assert case.kind == "upload" and case.signal_likely is True
        assert case.priority_signal == pytest.approx(0.45, abs=0.01)
        assert case.subject["scores"] == {RED: pytest.approx(0.9, abs=0.01)}
        (item,) = s.scalars(select(EvidenceItem).where(EvidenceItem.case_id == new_case))
        assert item.kind == "upload" and item.sha256  # sealed in the vault as uploads are
        events = [
            e.summary for e in s.scalars(select(CaseEvent).where(CaseEvent.case_id == new_case))
        ]
        assert any("likely new material: red 0.90" in e for e in events), events
        assert s.get_one(Case, matched_case).signal_likely is True
        assert len(list(s.scalars(select(Case)))) == 3  # nothing filed for the others

    # the queue: by priority (the matched case's points first), every entry with its signal
    default = _queue(client)
    assert default[0]["id"] == matched_case
    by_id = {c["id"]: c for c in default}
    assert by_id[new_case]["matches"] == 0 and by_id[new_case]["items"] == 1
    signal = by_id[new_case]["classifier"]
    assert isinstance(signal, dict) and signal["likely"] is True
    assert signal["summary"].startswith("nudity 0.90")
    new_priority = by_id[new_case]["priority"]
    assert isinstance(new_priority, dict) and new_priority["score"] > 0  # scores alone count
    # by score: highest signal first
    scored = _queue(client, "&order=score")
    assert [c["id"] for c in scored] == [new_case, second, matched_case]
    # minimum score: 0.4 keeps 0.45 and 0.35 goes
    assert [c["id"] for c in _queue(client, "&order=score&min_score=0.4")] == [new_case]
    # likely new material: likely and no match
    likely_new = _queue(client, "&likely_new=true&order=score")
    assert [c["id"] for c in likely_new] == [new_case, second]
    # bad values: refused
    for bad in ("&order=size", "&min_score=2", "&min_score=x"):
        refused = client.get(f"/v1/cases?status=all{bad}")
        assert refused.status_code == 400 and refused.json()["error"]["message"], bad

    # the CLI: the same view, and bad input with its exit code
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    rows = json.loads(invoke("case", "list", "--likely-new", "--order", "score", "--json").stdout)
    assert [r["id"] for r in rows] == [new_case, second]
    table = invoke("case", "list", "--status", "all", "--order", "score").stdout
    assert "0.45" in table and "signal" in table
    invoke("case", "list", "--order", "size", code=ExitCode.INVALID_DATA)
    invoke("case", "list", "--min-score", "1.5", code=ExitCode.INVALID_DATA)


def test_classify_uploads_off_files_nothing_new(
    red: None, make_client: AppFactory, admin_key: str
) -> None:
    client = _client(make_client, admin_key, classify_uploads=False)
    body = client.post("/v1/match", content=_png(0.9, 7)).json()
    assert "priority" not in body and "case_id" not in body
    assert _queue(client) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_open_nsfw_reads_a_benign_photo_as_not_likely(
    make_client: AppFactory, admin_key: str, shared_data: Path
) -> None:
    client = make_client(classifiers=["opennsfw"])
    client.headers["X-API-Key"] = admin_key
    data = (shared_data / "photos/bsds500/train/100075.jpg").read_bytes()
    body = client.post("/v1/match", content=data).json()
    assert body["priority"]["likely"] is False and body["priority"]["value"] < 0.25
    assert body["priority"]["parts"][0]["classifier"] == "opennsfw"
    assert "case_id" not in body and _queue(client) == []


class _Broken(Classifier):
    """A classifier plug-in whose model breaks on every picture."""

    name = "test_queue_broken"
    version = "1"
    measures = "sexual_content"

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        raise RuntimeError("model broke")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_failing_classifier_is_named_and_the_others_still_count(
    red: None, make_client: AppFactory, admin_key: str
) -> None:
    base.REGISTRY.register(_Broken)
    forget_instances()
    try:
        client = make_client(classifiers=[RED, _Broken.name])
        client.headers["X-API-Key"] = admin_key
        body = client.post("/v1/match", content=_png(0.9, 21)).json()
    finally:
        base.REGISTRY.unregister(_Broken.name)
    assert body["classifier_errors"] == [
        {"classifier": _Broken.name, "message": "RuntimeError: model broke"}
    ]
    assert body["priority"]["likely"] is True and body["case_id"]
    (case,) = _queue(client)
    assert case["classifier"] is not None and case["classifier"]["likely"] is True
