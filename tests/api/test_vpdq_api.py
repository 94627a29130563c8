"""The API hash routes give Meta's vPDQ under ``vpdq`` (and the bar-cropped frames under
``vpdq_cropped``); a hash-only lookup of a standard ``vpdq`` finds a banked letterboxed
copy through its ``vpdq_cropped`` frames."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from vangnet.signals.pdq import pdq_distance
from vangnet.signals.vpdq import parse

from .conftest import VIDEOS, refresh

PADDED = "test-padded-dimensions"


def _reference(shared_data: Path) -> dict[int, str]:
    text = (shared_data / "threatexchange/video/vpdq-hashes" / f"{PADDED}.txt").read_text()
    return {int(n): h for n, _q, h, _t in (line.split(",") for line in text.split())}


def _near(frames: list[dict[str, Any]], ref: dict[int, str]) -> float:
    return sum(pdq_distance(f["pdq"], ref[f["frame"]]) <= 31 for f in frames) / len(frames)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_hash_routes_give_the_standard_vpdq(client: TestClient, shared_data: Path) -> None:
    """SQLite only: video hashing is the slow part, not the database."""
    data = (shared_data / VIDEOS / f"{PADDED}.mp4").read_bytes()
    ref = _reference(shared_data)
    r = client.post("/v1/hash", content=data)
    assert r.status_code == 200, r.text
    body = r.json()
    assert _near(body["vpdq"], ref) >= 0.9
    assert _near(body["vpdq_cropped"], ref) == 0.0  # measured 82-108 bits

    r = client.post("/h/hash", files={"video": ("v.mp4", data, "video/mp4")})
    assert r.status_code == 200, r.text
    signals = r.json()
    standard = parse(signals["vpdq"])
    assert [f.pdq for f in standard] == [f["pdq"] for f in body["vpdq"]]
    assert [f.pdq for f in parse(signals["vpdq_cropped"])] == [
        f["pdq"] for f in body["vpdq_cropped"]
    ]

    # OpenMediaMatch bank routes: an uploaded video is banked and served with Meta's vPDQ
    assert client.post("/c/banks", json={"name": "OMM"}).status_code == 201
    added = client.post("/c/bank/OMM/content", files={"video": ("v.mp4", data, "video/mp4")})
    assert added.status_code == 200, added.text
    content = client.get(
        f"/c/bank/OMM/content/{added.json()['id']}", params={"include_signals": "true"}
    ).json()
    banked = parse(content["signals"]["vpdq"])
    near = [f for f in banked if pdq_distance(f.pdq, ref[round(f.timestamp * 30)]) <= 31]
    assert len(banked) >= 4 and len(near) / len(banked) >= 0.9
    cropped = parse(content["signals"]["vpdq_cropped"])
    assert all(pdq_distance(f.pdq, ref[round(f.timestamp * 30)]) > 31 for f in cropped)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_hash_only_lookup_of_standard_vpdq_finds_letterboxed_copy(
    client: TestClient, shared_data: Path
) -> None:
    barred = client.post(
        "/v1/hash", content=(shared_data / VIDEOS / "pattern-sd-grey-bar.mp4").read_bytes()
    ).json()
    original = client.post(
        "/v1/hash", content=(shared_data / VIDEOS / "pattern-hd-no-bar.mp4").read_bytes()
    ).json()
    assert "vpdq_cropped" not in original

    def value(frames: list[dict[str, Any]]) -> str:
        return json.dumps([f"{f['pdq']},{f['quality']},{f['timestamp']:.3}" for f in frames])

    assert client.post("/v1/banks", json={"name": "VIDEOS"}).status_code == 201
    items = [
        {"signal_type": "vpdq", "value": value(barred["vpdq"])},
        {"signal_type": "vpdq_cropped", "value": value(barred["vpdq_cropped"])},
    ]
    r = client.post("/v1/banks/VIDEOS/hashes", json={"items": items})
    assert r.status_code == 200, r.text
    refresh(client)
    query = {"signal_type": "vpdq", "value": value(original["vpdq"])}
    r = client.post("/v1/lookup", json=query)
    assert r.status_code == 200, r.text
    found = [(m["bank"], m["signal_type"], m["query_match_pct"]) for m in r.json()["matches"]]
    assert found == [("VIDEOS", "vpdq_cropped", 100.0)]
    r = client.post("/v1/lookup", json={"signal_type": "vpdq_cropped", "value": "[]"})
    assert r.status_code == 400, r.text
