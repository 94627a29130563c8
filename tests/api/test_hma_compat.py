"""OpenMediaMatch (HMA 1.1) compatible routes: paths, shapes and status codes, on SQLite and
PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from .conftest import BRIDGE, UNRELATED, AppFactory, content_count, poll, refresh
from .test_match_provenance import banked_and_inset

# A valid PDQ hash that is not the hash of any test photo.
SYNTHETIC_PDQ = "fff8316824b44f40247eb99c1161385e6732a2a6c3e335083306565ae715dae6"


def _photo(shared_data: Path, rel: Path | str) -> bytes:
    return (shared_data / rel).read_bytes()


def _make_bank(client: TestClient, name: str = "TEST_BANK") -> None:
    r = client.post("/c/banks", json={"name": name})
    assert r.status_code == 201, r.text


def _add_photo(client: TestClient, bank: str, data: bytes, name: str = "p.jpg") -> int:
    r = client.post(f"/c/bank/{bank}/content", files={"photo": (name, data, "image/jpeg")})
    assert r.status_code == 200, r.text
    content_id: int = r.json()["id"]
    return content_id


def _status(client: TestClient) -> None:
    r = client.get("/status")
    assert r.status_code == 200
    assert r.text == "I-AM-ALIVE"


def test_bank_crud(client: TestClient) -> None:
    r = client.post("/c/banks", json={"name": "TEST_BANK"})
    assert r.status_code == 201
    assert r.json() == {"name": "TEST_BANK", "matching_enabled_ratio": 1.0}

    dup = client.post("/c/banks", json={"name": "TEST_BANK"})
    assert dup.status_code == 403
    assert isinstance(dup.json()["message"], str) and dup.json()["message"]

    bad = client.post("/c/banks", json={"name": "lower_case"})
    assert bad.status_code == 400
    assert "message" in bad.json()

    listed = client.get("/c/banks")
    assert listed.status_code == 200
    assert listed.json() == [{"name": "TEST_BANK", "matching_enabled_ratio": 1.0}]

    shown = client.get("/c/bank/TEST_BANK")
    assert shown.status_code == 200
    assert shown.json() == {"name": "TEST_BANK", "matching_enabled_ratio": 1.0}

    missing = client.get("/c/bank/NO_SUCH_BANK")
    assert missing.status_code == 404
    assert set(missing.json()) == {"message"}

    renamed = client.put("/c/bank/TEST_BANK", json={"name": "RENAMED_BANK"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "RENAMED_BANK"
    assert client.get("/c/bank/TEST_BANK").status_code == 404

    disabled = client.put("/c/bank/RENAMED_BANK", json={"enabled": False})
    assert disabled.status_code == 200
    assert disabled.json() == {"name": "RENAMED_BANK", "matching_enabled_ratio": 0.0}

    gone = client.delete("/c/bank/RENAMED_BANK")
    assert gone.status_code == 200
    assert gone.json() == {"message": "Done"}
    assert client.get("/c/banks").json() == []


def _put_missing_bank_is_404(client: TestClient) -> None:
    r = client.put("/c/bank/NO_SUCH_BANK", json={"enabled": False})
    assert r.status_code == 404
    assert "message" in r.json()


def test_add_signal_and_raw_lookup(client: TestClient) -> None:
    _make_bank(client)
    r = client.post("/c/bank/TEST_BANK/signal", json={"pdq": SYNTHETIC_PDQ})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"id", "signals"}
    assert body["signals"] == {"pdq": SYNTHETIC_PDQ}
    refresh(client)

    raw = client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": SYNTHETIC_PDQ})
    assert raw.status_code == 200
    assert raw.json() == {"matches": [body["id"]]}

    with_distance = client.get(
        "/m/raw_lookup",
        params={"signal_type": "pdq", "signal": SYNTHETIC_PDQ, "include_distance": "true"},
    )
    assert with_distance.json() == {"matches": [{"bank_content_id": body["id"], "distance": "0"}]}

    # one bit flipped: still a match, at distance 1 (as a string, like HMA)
    flipped = format(int(SYNTHETIC_PDQ, 16) ^ 1, "064x")
    near = client.get(
        "/m/raw_lookup",
        params={"signal_type": "pdq", "signal": flipped, "include_distance": "true"},
    )
    assert near.json() == {"matches": [{"bank_content_id": body["id"], "distance": "1"}]}

    banks = client.get("/m/lookup", params={"signal_type": "pdq", "signal": SYNTHETIC_PDQ})
    assert banks.status_code == 200
    assert banks.json() == {"TEST_BANK": [{"bank_content_id": body["id"], "distance": "0"}]}
    only = {"signal_type": "pdq", "signal": SYNTHETIC_PDQ, "banks": "OTHER_BANK"}
    assert client.get("/m/lookup", params=only).json() == {}
    assert client.get("/m/raw_lookup", params=only).json() == {"matches": []}

    item = client.get(f"/c/bank/TEST_BANK/content/{body['id']}", params={"include_signals": "true"})
    assert item.status_code == 200
    assert item.json()["bank"] == {"name": "TEST_BANK", "matching_enabled_ratio": 1.0}
    assert item.json()["signals"] == {"pdq": SYNTHETIC_PDQ}
    assert item.json()["disable_until_ts"] == 0
    assert client.get("/c/bank/TEST_BANK/content/999999").status_code == 404


def test_add_invalid_signal_is_400(client: TestClient) -> None:
    _make_bank(client)
    for payload in ({"pdq": "not-a-hash"}, {"pdq": "ab" * 31}, {"no_such_type": "00"}, {}):
        r = client.post("/c/bank/TEST_BANK/signal", json=payload)
        assert r.status_code == 400, payload
        assert r.json()["message"], payload
    assert content_count(client, "TEST_BANK") == 0


def _add_signal_to_missing_bank_is_404(client: TestClient) -> None:
    r = client.post("/c/bank/NO_SUCH_BANK/signal", json={"pdq": SYNTHETIC_PDQ})
    assert r.status_code == 404
    assert "message" in r.json()


def test_signal_is_matchable_within_a_second(client: TestClient) -> None:
    """Freshness: the background poll alone (no refresh call) makes a new hash matchable."""
    _make_bank(client)
    added = client.post("/c/bank/TEST_BANK/signal", json={"pdq": SYNTHETIC_PDQ})
    assert added.status_code == 200
    content_id = added.json()["id"]

    def matched() -> bool:
        r = client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": SYNTHETIC_PDQ})
        return bool(r.status_code == 200 and r.json()["matches"] == [content_id])

    assert poll(matched, timeout=5.0), "hash never became matchable through the background poll"


def test_photo_content_and_near_duplicates(client: TestClient, shared_data: Path) -> None:
    _make_bank(client)
    orig = _photo(shared_data, BRIDGE / "aaa-orig.jpg")
    r = client.post(
        "/c/bank/TEST_BANK/content", files={"photo": ("aaa-orig.jpg", orig, "image/jpeg")}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    content_id = body["id"]
    assert isinstance(content_id, int)
    assert {"pdq", "md5", "sha1", "sha256"} <= set(body["signals"])
    assert len(body["signals"]["pdq"]) == 64
    assert len(body["signals"]["md5"]) == 32
    refresh(client)

    exact = client.get(
        "/m/raw_lookup", params={"signal_type": "pdq", "signal": body["signals"]["pdq"]}
    )
    assert exact.json() == {"matches": [content_id]}
    md5 = client.get(
        "/m/raw_lookup",
        params={"signal_type": "md5", "signal": body["signals"]["md5"], "include_distance": "1"},
    )
    assert md5.json() == {"matches": [{"bank_content_id": content_id, "distance": "0"}]}

    # a near-duplicate edit of the same photo matches by PDQ
    edit = _photo(shared_data, BRIDGE / "sharpen-a-lot.jpg")
    hashed = client.post("/h/hash", files={"photo": ("sharp.jpg", edit, "image/jpeg")})
    assert hashed.status_code == 200
    hashes = hashed.json()
    assert {"pdq", "md5", "sha1", "sha256"} <= set(hashes)
    assert "vpdq" not in hashes
    assert hashes["pdq"] != body["signals"]["pdq"]
    near = client.get(
        "/m/raw_lookup",
        params={"signal_type": "pdq", "signal": hashes["pdq"], "include_distance": "true"},
    )
    matches = near.json()["matches"]
    assert [m["bank_content_id"] for m in matches] == [content_id]
    assert isinstance(matches[0]["distance"], str)
    assert 0 < int(matches[0]["distance"]) <= 31

    # POST /m/lookup: banks per signal type
    lookup = client.post("/m/lookup", files={"photo": ("blur.jpg", edit, "image/jpeg")})
    assert lookup.status_code == 200, lookup.text
    per_type = lookup.json()
    assert list(per_type["pdq"]) == ["TEST_BANK"]
    assert per_type["pdq"]["TEST_BANK"][0]["bank_content_id"] == content_id
    assert per_type["md5"] == {}  # different bytes
    same = client.post("/m/lookup", files={"photo": ("o.jpg", orig, "image/jpeg")}).json()
    assert list(same["pdq"]) == ["TEST_BANK"] and list(same["md5"]) == ["TEST_BANK"]

    # an unrelated photo does not match
    other = _photo(shared_data, UNRELATED)
    other_hash = client.post("/h/hash", files={"photo": ("c.png", other, "image/png")}).json()
    none = client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": other_hash["pdq"]})
    assert none.json() == {"matches": []}
    unrelated = client.post("/m/lookup", files={"photo": ("c.png", other, "image/png")}).json()
    assert all(v == {} for v in unrelated.values())


def test_hash_types_filter(client: TestClient, shared_data: Path) -> None:
    orig = _photo(shared_data, BRIDGE / "aaa-orig.jpg")
    r = client.post("/h/hash?types=pdq", files={"photo": ("o.jpg", orig, "image/jpeg")})
    assert r.status_code == 200
    assert set(r.json()) == {"pdq"}
    bad = client.post("/h/hash?types=nope", files={"photo": ("o.jpg", orig, "image/jpeg")})
    assert bad.status_code == 400
    assert "message" in bad.json()


def _disabled_bank_not_in_lookup(client: TestClient) -> None:
    _make_bank(client)
    client.post("/c/bank/TEST_BANK/signal", json={"pdq": SYNTHETIC_PDQ})
    assert client.put("/c/bank/TEST_BANK", json={"enabled": False}).status_code == 200
    refresh(client)
    r = client.get("/m/lookup", params={"signal_type": "pdq", "signal": SYNTHETIC_PDQ})
    assert r.json() == {}


def _index_status_and_signal_types(client: TestClient) -> None:
    status = client.get("/m/index/status")
    assert status.status_code == 200
    assert "pdq" in status.json()
    one = client.get("/m/index/status", params={"signal_type": "pdq"})
    assert list(one.json()) == ["pdq"]
    unknown = client.get("/m/index/status", params={"signal_type": "nope"})
    assert unknown.status_code == 400
    assert "message" in unknown.json()

    types = client.get("/c/signal_type")
    assert types.status_code == 200
    names = {t["name"] for t in types.json()}
    assert {"pdq", "vpdq", "md5", "sha1", "sha256"} <= names
    assert all(t["enabled_ratio"] == 1.0 for t in types.json())


def _missing_params_are_400(client: TestClient) -> None:
    for path, params in [
        ("/m/raw_lookup", {"signal_type": "pdq"}),
        ("/m/raw_lookup", {"signal": SYNTHETIC_PDQ}),
        ("/m/raw_lookup", {}),
        ("/m/lookup", {"signal_type": "pdq"}),
        ("/m/lookup", {"signal": SYNTHETIC_PDQ}),
    ]:
        r = client.get(path, params=params)
        assert r.status_code == 400, (path, params)
        assert set(r.json()) == {"message"}


def _unknown_signal_type_is_400(client: TestClient) -> None:
    for path in ("/m/raw_lookup", "/m/lookup"):
        r = client.get(path, params={"signal_type": "nope", "signal": SYNTHETIC_PDQ})
        assert r.status_code == 400
        assert "nope" in r.json()["message"]


def _invalid_lookup_signal_is_400(client: TestClient) -> None:
    r = client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": "xyz"})
    assert r.status_code == 400
    assert r.json()["message"]
    r = client.get(
        "/m/raw_lookup",
        params={"signal_type": "pdq", "signal": SYNTHETIC_PDQ, "include_distance": "maybe"},
    )
    assert r.status_code == 400


def _delete_content(client: TestClient) -> None:
    _make_bank(client)
    cid = client.post("/c/bank/TEST_BANK/signal", json={"pdq": SYNTHETIC_PDQ}).json()["id"]
    r = client.delete(f"/c/bank/TEST_BANK/content/{cid}")
    assert r.json() == {"deleted": 1}
    assert client.delete(f"/c/bank/TEST_BANK/content/{cid}").json() == {"deleted": 0}
    refresh(client)
    raw = client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": SYNTHETIC_PDQ})
    assert raw.json() == {"matches": []}


def test_bank_crud_missing_banks(client: TestClient) -> None:
    _put_missing_bank_is_404(client)
    _add_signal_to_missing_bank_is_404(client)


def test_status_and_query_errors(client: TestClient) -> None:
    _status(client)
    _index_status_and_signal_types(client)
    _missing_params_are_400(client)
    _unknown_signal_type_is_400(client)
    _invalid_lookup_signal_is_400(client)


def test_disable_then_delete_content(client: TestClient) -> None:
    _disabled_bank_not_in_lookup(client)
    client.put("/c/bank/TEST_BANK", json={"enabled": True})
    client.delete("/c/bank/TEST_BANK")
    _delete_content(client)


def test_upload_lookup_finds_a_banked_photo_inside_another_picture(
    client: TestClient, make_client: AppFactory, admin_key: str, shared_data: Path
) -> None:
    """``POST /m/lookup`` matches a photo's regions and dihedral variants as ``POST
    /v1/match`` does (issue 12, point 4): a banked photo shown as a picture-in-picture inset
    is found, in HMA's own shape (no other keys); with ``match_regions`` off it is not."""
    banked, composite, _pasted = banked_and_inset(shared_data)
    _make_bank(client)
    content_id = _add_photo(client, "TEST_BANK", banked)
    refresh(client)
    upload = {"photo": ("pip.png", composite, "image/png")}

    r = client.post("/m/lookup", files=upload)
    assert r.status_code == 200, r.text
    per_type = r.json()
    assert per_type["md5"] == {} and per_type["sha256"] == {}  # other bytes
    (hit,) = per_type["pdq"]["TEST_BANK"]
    assert set(hit) == {"bank_content_id", "distance"}  # HMA's shape, nothing added
    assert hit["bank_content_id"] == content_id and isinstance(hit["distance"], str)
    assert int(hit["distance"]) <= 31
    # the same answer as the native API's region match
    native = client.post("/v1/match?record=false", content=composite).json()["matches"]
    assert [(m["content_id"], str(m["distance"])) for m in native] == [
        (content_id, hit["distance"])
    ]
    # the bank filter and the coin flip apply as before
    assert client.post("/m/lookup?banks=OTHER_BANK", files=upload).json()["pdq"] == {}
    # a banked photo as it is still matches at distance 0
    same = client.post("/m/lookup", files={"photo": ("b.jpg", banked, "image/jpeg")}).json()
    assert same["pdq"] == {"TEST_BANK": [{"bank_content_id": content_id, "distance": "0"}]}

    plain = make_client(match_regions=False)
    plain.headers["X-API-Key"] = admin_key
    assert plain.post("/m/lookup", files=upload).json()["pdq"] == {}
