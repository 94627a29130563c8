"""``POST /v1/match`` finds banked photos shown inside other pictures (issue 12, point 1),
against a hash-only bank (PDQ values pushed through the API, no media): all the work is on
the query side. The setting ``match_regions`` turns it off."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from region_composites import TRANSFORMS, load, png

from .conftest import AppFactory, refresh

SLACK = 8


def _hash_only_bank(client: TestClient, photos: list[Path]) -> dict[str, int]:
    r = client.post("/v1/banks", json={"name": "HASHES", "category_profile": "vics"})
    assert r.status_code == 201, r.text
    items = []
    for path in photos:
        pdq = client.post("/v1/hash", content=path.read_bytes()).json()["pdq"]
        items.append({"signal_type": "pdq", "value": pdq, "category": "vics:1"})
    r = client.post("/v1/banks/HASHES/hashes", json={"items": items})
    assert r.status_code == 200, r.text
    refresh(client)
    content_of: dict[str, int] = {}
    for path in photos:
        body = client.post("/v1/match?record=false", content=path.read_bytes()).json()
        (whole,) = body["matches"]
        # the photo as banked: a whole-picture match, as before (no region, no transform)
        assert whole["distance"] == 0 and "region" not in whole and "transform" not in whole
        content_of[path.name] = whole["content_id"]
    return content_of


def test_match_finds_banked_photos_in_composites(
    client: TestClient, make_client: AppFactory, admin_key: str, shared_data: Path
) -> None:
    bsds = shared_data / "photos" / "bsds500"
    banked = sorted((bsds / "test").glob("*.jpg"))[:5]
    others = [load(p) for p in sorted((bsds / "val").glob("*.jpg"))[:8]]
    content_of = _hash_only_bank(client, banked)
    found = 0
    queries: list[bytes] = []
    for i, path in enumerate(banked):
        name = list(TRANSFORMS)[i % len(TRANSFORMS)]
        composite, (x, y, w, h) = TRANSFORMS[name](load(path), others[i : i + 3])
        data = png(composite)
        queries.append(data)
        r = client.post("/v1/match?record=false", content=data)
        assert r.status_code == 200, r.text
        matches = r.json()["matches"]
        assert all(m["content_id"] == content_of[path.name] for m in matches), (name, matches)
        if not matches:
            continue
        found += 1
        (m,) = matches
        region = m["region"]
        assert m["transform"] == "identity" and m["signal_type"] == "pdq"
        assert abs(region["x"] - x) <= SLACK and abs(region["y"] - y) <= SLACK, (name, region)
        assert abs(region["x"] + region["w"] - x - w) <= SLACK, (name, region)
        assert abs(region["y"] + region["h"] - y - h) <= SLACK, (name, region)
    assert found >= 4, found
    # distractors: other photos and their own composites match nothing
    for i, photo in enumerate(others[:5]):
        composite, _ = list(TRANSFORMS.values())[i](photo, others[5:8])
        for data in (png(photo), png(composite)):
            assert client.post("/v1/match?record=false", content=data).json()["matches"] == []

    # with match_regions off, only the whole picture is looked up: the composites are missed
    plain = make_client(match_regions=False)
    plain.headers["X-API-Key"] = admin_key
    missed = [plain.post("/v1/match?record=false", content=q).json()["matches"] for q in queries]
    assert missed == [[]] * len(queries)


def test_rotated_photo_in_a_composite_says_region_and_transform(
    client: TestClient, shared_data: Path
) -> None:
    """A bank that asks for dihedral matching: a banked photo rotated by 90 degrees, then
    padded, is found in its region under a rotation; rotated alone, the whole picture's
    dihedral variant matches (no region, a transform)."""
    path = sorted((shared_data / "photos" / "bsds500" / "test").glob("*.jpg"))[0]
    r = client.post(
        "/v1/banks",
        json={
            "name": "TURNING",
            "category_profile": "vics",
            "thresholds": {"pdq": {"dihedral": True}},
        },
    )
    assert r.status_code == 201, r.text
    pdq = client.post("/v1/hash", content=path.read_bytes()).json()["pdq"]
    r = client.post(
        "/v1/banks/TURNING/hashes",
        json={"items": [{"signal_type": "pdq", "value": pdq, "category": "vics:1"}]},
    )
    assert r.status_code == 200, r.text
    refresh(client)
    rotated = load(path).rotate(90, expand=True)
    (whole,) = client.post("/v1/match?record=false", content=png(rotated)).json()["matches"]
    assert "region" not in whole and whole["transform"] not in (None, "identity")
    composite, (x, y, w, h) = TRANSFORMS["padded"](rotated, [])
    (m,) = client.post("/v1/match?record=false", content=png(composite)).json()["matches"]
    assert m["transform"] == whole["transform"]
    region = m["region"]
    assert abs(region["x"] - x) <= SLACK and abs(region["y"] - y) <= SLACK, (region, x, y)
    assert abs(region["x"] + region["w"] - x - w) <= SLACK, (region, w)
    assert abs(region["y"] + region["h"] - y - h) <= SLACK, (region, h)
