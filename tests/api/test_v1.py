"""The native /v1 API: match, hash, lookups, bank curation, batch adds, content listing."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from .conftest import BRIDGE, DIH, UNRELATED, VIDEOS, content_count, refresh

PDQ_A = "fff8316824b44f40247eb99c1161385e6732a2a6c3e335083306565ae715dae6"
PDQ_B = "0f0f0f0f33cc33cc55aa55aa0ff00ff0f0f0f0f0cc33cc33aa55aa55f00ff00f"


def _flip(value: str, bits: int) -> str:
    """``value`` with its ``bits`` lowest bits inverted."""
    return format(int(value, 16) ^ ((1 << bits) - 1), "064x")


def _bank(client: TestClient, name: str, **fields: object) -> dict[str, object]:
    r = client.post("/v1/banks", json={"name": name, **fields})
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()
    return body


def test_match_photo_with_dihedral(client: TestClient, shared_data: Path) -> None:
    _bank(client, "PLAIN", category_profile="vics")
    _bank(client, "ROTATING", category_profile="vics", thresholds={"pdq": {"dihedral": True}})
    original = (shared_data / DIH / "bridge-1-original.jpg").read_bytes()
    hashed = client.post("/v1/hash", content=original)
    assert hashed.status_code == 200
    pdq = hashed.json()["pdq"]
    for bank in ("PLAIN", "ROTATING"):
        r = client.post(
            f"/v1/banks/{bank}/hashes",
            json={"items": [{"signal_type": "pdq", "value": pdq, "category": "vics:1"}]},
        )
        assert r.status_code == 200, r.text
    refresh(client)

    r = client.post("/v1/match", content=original)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["hashes"]["pdq"] == pdq
    assert body["hashes"]["content_type"] == "photo"
    assert {"md5", "sha1", "sha256", "pdq_quality"} <= set(body["hashes"])
    pdq_matches = [m for m in body["matches"] if m["signal_type"] == "pdq"]
    assert {m["bank"] for m in pdq_matches} == {"PLAIN", "ROTATING"}
    for m in pdq_matches:
        assert {"bank", "content_id", "signal_type", "distance", "category"} <= set(m)
        assert m["distance"] == 0
        assert m["category"] == "vics:1"

    rotated = (shared_data / DIH / "bridge-2-rotate-90.jpg").read_bytes()
    r = client.post("/v1/match", content=rotated)
    assert r.status_code == 200
    banks = {m["bank"] for m in r.json()["matches"] if m["signal_type"] == "pdq"}
    assert banks == {"ROTATING"}  # only the bank that asks for dihedral matching

    # a bank filter narrows the search; an unknown bank is a 404
    only = client.post("/v1/match?bank=PLAIN", content=original).json()["matches"]
    assert {m["bank"] for m in only} == {"PLAIN"}
    missing = client.post("/v1/match?bank=NOPE", content=original)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"

    unrelated = (shared_data / UNRELATED).read_bytes()
    assert client.post("/v1/match", content=unrelated).json()["matches"] == []


def test_match_multipart_upload(client: TestClient, shared_data: Path) -> None:
    data = (shared_data / BRIDGE / "aaa-orig.jpg").read_bytes()
    r = client.post("/v1/match", files={"file": ("a.jpg", data, "image/jpeg")})
    assert r.status_code == 200, r.text
    assert r.json()["hashes"]["path"] == "a.jpg"
    assert r.json()["matches"] == []


def test_lookup_and_batch(client: TestClient) -> None:
    _bank(client, "HASHES")
    added = client.post(
        "/v1/banks/HASHES/hashes",
        json={
            "items": [
                {"signal_type": "pdq", "value": PDQ_A},
                {"signal_type": "pdq", "value": PDQ_B},
                {"signal_type": "md5", "value": "0" * 32},
            ]
        },
    ).json()
    id_a, id_b, id_md5 = added["content_ids"]
    refresh(client)

    one = client.post("/v1/lookup", json={"signal_type": "pdq", "value": _flip(PDQ_A, 3)})
    assert one.status_code == 200
    assert [(m["content_id"], m["distance"]) for m in one.json()["matches"]] == [(id_a, 3)]
    md5 = client.post("/v1/lookup", json={"signal_type": "md5", "value": "0" * 32}).json()
    assert [m["content_id"] for m in md5["matches"]] == [id_md5]

    values = [PDQ_B, _flip(PDQ_A, 200), PDQ_A, _flip(PDQ_B, 10)]
    batch = client.post("/v1/lookup/batch", json={"signal_type": "pdq", "values": values})
    assert batch.status_code == 200
    results = batch.json()["results"]
    assert len(results) == len(values)
    assert [[m["content_id"] for m in ms] for ms in results] == [[id_b], [], [id_a], [id_b]]
    assert results[3][0]["distance"] == 10

    bad = client.post(
        "/v1/lookup/batch", json={"signal_type": "pdq", "values": [PDQ_A], "qualities": [1, 2]}
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["message"]
    invalid = client.post("/v1/lookup", json={"signal_type": "pdq", "value": "zz"})
    assert invalid.status_code == 400
    assert set(invalid.json()["error"]) == {"code", "message"}


def test_bank_crud(client: TestClient) -> None:
    created = _bank(
        client,
        "CURATED",
        category_profile="vics",
        thresholds={"pdq": {"threshold": 20, "dihedral": True}},
        note="benign test bank",
    )
    assert created["category_profile"] == "vics"
    assert created["enabled"] is True
    thresholds = created["thresholds"]
    assert isinstance(thresholds, dict)
    assert thresholds["pdq"]["threshold"] == 20 and thresholds["pdq"]["dihedral"] is True

    dup = client.post("/v1/banks", json={"name": "CURATED"})
    assert dup.status_code == 409
    assert dup.json()["error"]["code"] == "conflict"
    bad_profile = client.post("/v1/banks", json={"name": "OTHER", "category_profile": "nope"})
    assert bad_profile.status_code in (400, 404)
    bad_thr = client.post("/v1/banks", json={"name": "OTHER", "thresholds": {"pdq": {"x": 1}}})
    assert bad_thr.status_code == 400

    listed = client.get("/v1/banks").json()["banks"]
    assert [b["name"] for b in listed] == ["CURATED"]
    shown = client.get("/v1/banks/CURATED").json()
    assert shown["stats"]["content"] == 0
    assert client.get("/v1/banks/NOPE").status_code == 404

    patched = client.patch(
        "/v1/banks/CURATED", json={"name": "RENAMED", "matching_enabled_ratio": 0.0}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "RENAMED"
    assert patched.json()["enabled"] is False
    assert patched.json()["thresholds"]["pdq"]["threshold"] == 20  # untouched

    assert client.delete("/v1/banks/RENAMED").json() == {"deleted": "RENAMED"}
    assert client.delete("/v1/banks/RENAMED").status_code == 404
    assert client.get("/v1/banks").json()["banks"] == []


def test_batch_add_idempotent_and_all_or_nothing(client: TestClient) -> None:
    _bank(client, "BATCH", category_profile="vics")
    items = [
        {"signal_type": "pdq", "value": PDQ_A, "category": "vics:1", "source": "case-1"},
        {"signal_type": "md5", "value": "a" * 32, "external_id": "ext-2"},
    ]
    first = client.post("/v1/banks/BATCH/hashes", json={"items": items})
    assert first.status_code == 200, first.text
    assert first.json()["count"] == 2
    again = client.post("/v1/banks/BATCH/hashes", json={"items": items})
    assert again.json()["content_ids"] == first.json()["content_ids"]
    assert content_count(client, "BATCH") == 2

    before = content_count(client, "BATCH")
    for bad_item in (
        {"signal_type": "pdq", "value": "not-hex"},
        {"signal_type": "nope", "value": "00"},
        {"signal_type": "pdq", "value": PDQ_B, "category": "vics:99"},
    ):
        payload = {
            "items": [
                {"signal_type": "pdq", "value": PDQ_B},
                {"signal_type": "sha1", "value": "b" * 40},
                bad_item,
            ]
        }
        r = client.post("/v1/banks/BATCH/hashes", json=payload)
        # an unknown signal type is reported as not_found (404), a malformed value as 400
        assert r.status_code in (400, 404), (bad_item, r.text)
        assert "items[2]" in r.json()["error"]["message"]
        assert content_count(client, "BATCH") == before, bad_item
    search = client.get("/v1/content/search", params={"signal_type": "sha1", "value": "b" * 40})
    assert search.json()["items"] == []
    missing = client.post("/v1/banks/NOPE/hashes", json={"items": items})
    assert missing.status_code == 404


def test_content_pagination_and_search(client: TestClient) -> None:
    _bank(client, "PAGES")
    values = [format(i, "032x") for i in range(1, 8)]
    ids = client.post(
        "/v1/banks/PAGES/hashes",
        json={"items": [{"signal_type": "md5", "value": v} for v in values]},
    ).json()["content_ids"]
    seen: list[int] = []
    after = 0
    for _ in range(10):
        page = client.get("/v1/banks/PAGES/content", params={"after_id": after, "limit": 3})
        assert page.status_code == 200
        body = page.json()
        assert len(body["items"]) <= 3
        seen += [item["id"] for item in body["items"]]
        if body["next_after_id"] is None:
            break
        after = body["next_after_id"]
    assert seen == ids
    item = client.get("/v1/banks/PAGES/content", params={"limit": 1}).json()["items"][0]
    assert item["bank"] == "PAGES"
    assert item["signals"] == [{"signal_type": "md5", "value": values[0]}]
    assert client.get("/v1/banks/PAGES/content", params={"limit": 0}).status_code == 400

    found = client.get("/v1/content/search", params={"signal_type": "md5", "value": values[4]})
    assert found.status_code == 200
    assert [i["id"] for i in found.json()["items"]] == [ids[4]]
    upper = client.get(
        "/v1/content/search", params={"signal_type": "md5", "value": values[4].upper()}
    )
    assert [i["id"] for i in upper.json()["items"]] == [ids[4]]
    none = client.get("/v1/content/search", params={"signal_type": "md5", "value": "f" * 32})
    assert none.json()["items"] == []

    deleted = client.delete(f"/v1/banks/PAGES/content/{ids[0]}")
    assert deleted.json() == {"deleted": ids[0]}
    assert content_count(client, "PAGES") == len(values) - 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_video_bank_and_match(client: TestClient, shared_data: Path) -> None:
    """vPDQ end to end (SQLite only: video hashing is the slow part, not the database)."""
    r = client.post("/c/banks", json={"name": "VIDEOS"})
    assert r.status_code == 201
    banked = (shared_data / VIDEOS / "chair-orig-22-sd-bar.mp4").read_bytes()
    added = client.post(
        "/c/bank/VIDEOS/content", files={"video": ("chair.mp4", banked, "video/mp4")}
    )
    assert added.status_code == 200, added.text
    content_id = added.json()["id"]
    assert {"vpdq", "md5"} <= set(added.json()["signals"])
    assert "pdq" not in added.json()["signals"]
    refresh(client)

    variant = (shared_data / VIDEOS / "chair-20-sd-bar.mp4").read_bytes()
    r = client.post("/v1/match", content=variant)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["hashes"]["content_type"] == "video"
    vpdq = [m for m in body["matches"] if m["signal_type"] == "vpdq"]
    assert [m["content_id"] for m in vpdq] == [content_id]
    assert vpdq[0]["bank"] == "VIDEOS"
    assert vpdq[0]["query_match_pct"] >= 80.0
    assert 0 <= vpdq[0]["index_match_pct"] <= 100.0
