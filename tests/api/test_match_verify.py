"""The wider net over HTTP (issue 12, point 2): a photo banked through HMA's file upload
(``POST /c/bank/{bank}/content``) keeps its local features; ``POST /v1/match`` and HMA's
``POST /m/lookup`` of a 25 %-cropped copy find it beyond the PDQ threshold, verified
(``inliers`` in /v1/match; HMA's answer keeps its own shape). With the bank's
verify_threshold at its threshold (``PATCH /v1/banks``) neither does."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from region_composites import load, png

from .conftest import AppFactory, refresh


def _crop(path: Path, share: float) -> bytes:
    photo = load(path)
    cut_w, cut_h = round(photo.width * share), round(photo.height * share)
    box = (
        cut_w // 2,
        cut_h // 2,
        photo.width - (cut_w - cut_w // 2),
        photo.height - (cut_h - cut_h // 2),
    )
    return png(photo.crop(box))


def test_a_crop_of_a_photo_banked_through_hma_is_found_by_its_features(
    client: TestClient, shared_data: Path
) -> None:
    photos = sorted((shared_data / "photos" / "bsds500" / "test").glob("*.jpg"))[:2]
    r = client.post("/c/banks", json={"name": "KNOWN"})
    assert r.status_code == 201, r.text
    ids = []
    for path in photos:
        r = client.post(
            "/c/bank/KNOWN/content", files={"photo": (path.name, path.read_bytes(), "image/jpeg")}
        )
        assert r.status_code == 200, r.text
        ids.append(r.json()["id"])
    r = client.patch("/v1/banks/KNOWN", json={"thresholds": {"pdq": {"verify_threshold": 160}}})
    assert r.status_code == 200, r.text
    refresh(client)
    query = _crop(photos[0], 0.25)
    unrelated = png(load(sorted((shared_data / "photos" / "bsds500" / "val").glob("*.jpg"))[0]))

    r = client.post("/v1/match?record=false", content=query)
    assert r.status_code == 200, r.text
    (match,) = [m for m in r.json()["matches"] if m["signal_type"] == "pdq"]
    assert match["content_id"] == ids[0] and match["inliers"] >= 20
    assert "crop" in match or match["distance"] > 31  # the centred crop: a banked crop
    r = client.post("/v1/match?record=false", content=unrelated)
    assert [m for m in r.json()["matches"] if m["signal_type"] == "pdq"] == []

    r = client.post("/m/lookup", files={"photo": ("q.png", query, "image/png")})
    assert r.status_code == 200, r.text
    (hit,) = r.json()["pdq"]["KNOWN"]
    assert hit == {"bank_content_id": ids[0], "distance": str(match["distance"])}
    r = client.post("/m/lookup", files={"photo": ("u.png", unrelated, "image/png")})
    assert r.json()["pdq"] == {}

    r = client.patch("/v1/banks/KNOWN", json={"thresholds": {"pdq": {"verify_threshold": 31}}})
    assert r.status_code == 200, r.text
    refresh(client)
    r = client.post("/v1/match?record=false", content=query)
    assert [m for m in r.json()["matches"] if m["signal_type"] == "pdq"] == []
    r = client.post("/m/lookup", files={"photo": ("q.png", query, "image/png")})
    assert r.json()["pdq"] == {}


#: The feature index's queries are covered on both databases by tests/match/test_feature_index.py.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_candidates_left_unverified_are_said_in_the_answer_and_the_metrics(
    make_client: AppFactory, admin_key: str, shared_data: Path
) -> None:
    """``match_verify_max`` 1 and a verify_threshold of 256 (every banked photo a candidate
    of every photo): ``POST /v1/match`` verifies the closest one and says how many were left
    (``unverified``); ``/v1/metrics`` counts them and the feature index's entries."""
    client = make_client(match_verify_max=1)
    client.headers["X-API-Key"] = admin_key
    photos = sorted((shared_data / "photos" / "bsds500" / "test").glob("*.jpg"))[:3]
    r = client.post("/c/banks", json={"name": "KNOWN"})
    assert r.status_code == 201, r.text
    for path in photos:
        r = client.post(
            "/c/bank/KNOWN/content", files={"photo": (path.name, path.read_bytes(), "image/jpeg")}
        )
        assert r.status_code == 200, r.text
    r = client.patch("/v1/banks/KNOWN", json={"thresholds": {"pdq": {"verify_threshold": 256}}})
    assert r.status_code == 200, r.text
    refresh(client)

    def metric(name: str) -> str:
        text = client.get("/v1/metrics").text
        (line,) = [x for x in text.splitlines() if x.startswith(name)]
        return line.split()[-1]

    assert metric("vangnet_match_unverified_candidates_total") == "0"
    assert metric('vangnet_index_featured_entries{signal_type="pdq"}') == "3"
    unrelated = png(load(sorted((shared_data / "photos" / "bsds500" / "val").glob("*.jpg"))[0]))
    r = client.post("/v1/match?record=false", content=unrelated)
    assert r.status_code == 200, r.text
    assert [m for m in r.json()["matches"] if m["signal_type"] == "pdq"] == []
    assert r.json()["unverified"] == 2
    assert metric("vangnet_match_unverified_candidates_total") == "2"
    assert metric("vangnet_match_over_verify_budget_total") == "1"
    # a banked photo itself: its exact match needs no verification; of the two others one
    # is verified (no match), one left
    r = client.post("/v1/match?record=false", content=png(load(photos[0])))
    assert r.json()["unverified"] == 1
    assert [m["distance"] for m in r.json()["matches"] if m["signal_type"] == "pdq"] == [0]
    assert metric("vangnet_match_unverified_candidates_total") == "3"
    assert metric("vangnet_match_over_verify_budget_total") == "2"
