"""API keys and roles on every route family; hostile or broken input never gives a 500 and
never changes the database."""

from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from conftest import audited
from vangnet.auth.keys import revoke_key
from vangnet.store.db import make_engine

from .conftest import BRIDGE, AppFactory, content_count, make_key, poll

PDQ = "fff8316824b44f40247eb99c1161385e6732a2a6c3e335083306565ae715dae6"

# (method, path, json body) across the HMA and /v1 route families
ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/c/banks", None),
    ("POST", "/c/banks", {"name": "X"}),
    ("GET", "/c/bank/BANK", None),
    ("PUT", "/c/bank/BANK", {"enabled": False}),
    ("DELETE", "/c/bank/BANK", None),
    ("POST", "/c/bank/BANK/signal", {"pdq": PDQ}),
    ("GET", "/c/signal_type", None),
    ("GET", f"/m/raw_lookup?signal_type=pdq&signal={PDQ}", None),
    ("GET", f"/m/lookup?signal_type=pdq&signal={PDQ}", None),
    ("GET", "/m/index/status", None),
    ("POST", "/h/hash", None),
    ("GET", "/v1/banks", None),
    ("POST", "/v1/banks", {"name": "X"}),
    ("GET", "/v1/banks/BANK", None),
    ("PATCH", "/v1/banks/BANK", {"note": "x"}),
    ("DELETE", "/v1/banks/BANK", None),
    ("POST", "/v1/banks/BANK/hashes", {"items": []}),
    ("GET", "/v1/banks/BANK/content", None),
    ("GET", "/v1/content/search?signal_type=pdq&value=" + PDQ, None),
    ("POST", "/v1/lookup", {"signal_type": "pdq", "value": PDQ}),
    ("POST", "/v1/lookup/batch", {"signal_type": "pdq", "values": [PDQ]}),
    ("POST", "/v1/match", None),
    ("POST", "/v1/hash", None),
    ("POST", "/v1/classify", None),
    ("GET", "/v1/index/status", None),
]


def _call(client: TestClient, method: str, path: str, body: Any, **kw: Any) -> Any:
    if body is None:
        return client.request(method, path, **kw)
    return client.request(method, path, json=body, **kw)


def _assert_error_shape(path: str, response: Any) -> None:
    body = response.json()
    if path.startswith("/v1"):
        assert set(body) == {"error"}, body
        assert set(body["error"]) == {"code", "message"}
        assert body["error"]["message"]
    else:
        assert set(body) == {"message"}, body
        assert body["message"]


def test_no_key_is_401_everywhere(make_client: AppFactory, admin_key: str) -> None:
    client = make_client()
    for method, path, body in ROUTES:
        r = _call(client, method, path, body)
        assert r.status_code == 401, (method, path, r.text)
        _assert_error_shape(path, r)
        wrong = _call(client, method, path, body, headers={"X-API-Key": "vn_not-a-real-key"})
        assert wrong.status_code == 401, (method, path)
    assert client.get("/status").status_code == 200  # liveness needs no key, like HMA


def test_revoked_key_and_bearer(make_client: AppFactory, db_url: str) -> None:
    client = make_client()
    secret = make_key(db_url, "curator", name="to-revoke")
    assert client.get("/c/banks", headers={"X-API-Key": secret}).status_code == 200
    bearer = {"Authorization": f"Bearer {secret}"}
    assert client.get("/c/banks", headers=bearer).status_code == 200
    assert client.get("/v1/banks", headers=bearer).status_code == 200
    assert client.get("/v1/banks", headers={"Authorization": f"Basic {secret}"}).status_code == 401

    engine = audited(make_engine(db_url))
    try:
        with Session(engine) as session:
            revoke_key(session, secret[:8])
            session.commit()
    finally:
        engine.dispose()
    # Servers drop cached keys when the set of revoked keys changes (within a fraction of
    # a second); the bound below is generous, not a timing assertion.
    assert poll(lambda: client.get("/c/banks", headers=bearer).status_code == 401)
    for headers in ({"X-API-Key": secret}, bearer):
        r = client.get("/c/banks", headers=headers)
        assert r.status_code == 401
        assert "revoked" in r.json()["message"]
        v1 = client.get("/v1/banks", headers=headers)
        assert v1.status_code == 401
        assert v1.json()["error"]["code"] == "unauthorized"


def test_roles(make_client: AppFactory, db_url: str, admin_key: str) -> None:
    client = make_client()
    admin = {"X-API-Key": admin_key}
    assert client.post("/c/banks", json={"name": "ROLES"}, headers=admin).status_code == 201
    assert client.post("/c/bank/ROLES/signal", json={"pdq": PDQ}, headers=admin).status_code == 200

    matcher = {"X-API-Key": make_key(db_url, "matcher")}
    r = client.post("/c/banks", json={"name": "NOT_MINE"}, headers=matcher)
    assert r.status_code == 403
    assert r.json()["message"]
    v1 = client.post("/v1/banks", json={"name": "NOT_MINE"}, headers=matcher)
    assert v1.status_code == 403
    assert v1.json()["error"]["code"] == "forbidden"
    assert (
        client.post("/v1/banks/ROLES/hashes", json={"items": []}, headers=matcher).status_code
        == 403
    )
    lookup = client.get(
        "/m/raw_lookup", params={"signal_type": "pdq", "signal": PDQ}, headers=matcher
    )
    assert lookup.status_code == 200
    v1_lookup = client.post(
        "/v1/lookup", json={"signal_type": "pdq", "value": PDQ}, headers=matcher
    )
    assert v1_lookup.status_code == 200

    reviewer = {"X-API-Key": make_key(db_url, "reviewer")}
    assert client.get("/c/banks", headers=reviewer).status_code == 200
    for method, path, body in [
        ("GET", f"/m/raw_lookup?signal_type=pdq&signal={PDQ}", None),
        ("POST", "/v1/lookup", {"signal_type": "pdq", "value": PDQ}),
        ("POST", "/v1/match", None),
        ("POST", "/c/banks", {"name": "NOPE"}),
    ]:
        r = _call(client, method, path, body, headers=reviewer)
        assert r.status_code == 403, (method, path, r.text)
        _assert_error_shape(path, r)
    assert [b["name"] for b in client.get("/c/banks", headers=admin).json()] == ["ROLES"]


def test_demo_mode_only_on_loopback(make_client: AppFactory) -> None:
    demo = make_client(require_api_keys=False, host="127.0.0.1")
    assert demo.post("/c/banks", json={"name": "DEMO"}).status_code == 201
    assert demo.get("/v1/banks").status_code == 200

    # On a network address the server refuses demo settings outright ...
    from vangnet.web.deployment import InsecureDeployment

    with pytest.raises(InsecureDeployment, match="API keys are off"):
        make_client(require_api_keys=False, host="0.0.0.0")
    with pytest.raises(InsecureDeployment, match="VANGNET_COOKIE_SECURE"):
        make_client(host="0.0.0.0")
    # ... and with production settings every request needs a key.
    exposed = make_client(host="0.0.0.0", cookie_secure=True)
    assert exposed.get("/c/banks").status_code == 401
    assert exposed.get("/v1/banks").status_code == 401


# -- bad input ---------------------------------------------------------------------------------


def _bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid-looking PNG of a few hundred bytes whose header claims ``width`` x ``height``."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _bad_payloads(shared_data: Path) -> dict[str, bytes]:
    jpeg = (shared_data / BRIDGE / "aaa-orig.jpg").read_bytes()
    return {
        "zero-bytes": b"",
        "truncated-jpeg": jpeg[: len(jpeg) // 3],
        "jpeg-header-only": jpeg[:200],
        "random-bytes": random.Random(1234).randbytes(5000),
        "text-file": b"just some plain text, not a picture\n" * 20,
        "decompression-bomb": _bomb_png(),
    }


@pytest.fixture
def bad_client(client: TestClient) -> TestClient:
    assert client.post("/c/banks", json={"name": "INPUT"}).status_code == 201
    r = client.post("/c/bank/INPUT/signal", json={"pdq": PDQ})
    assert r.status_code == 200
    return client


def _never_500(response: Any, what: object) -> None:
    assert 400 <= response.status_code < 500, (what, response.status_code, response.text)


def test_bad_uploads(bad_client: TestClient, shared_data: Path) -> None:
    client = bad_client
    before = content_count(client, "INPUT")
    for name, data in _bad_payloads(shared_data).items():
        files = {"photo": (f"{name}.jpg", data, "image/jpeg")}
        for path in ("/c/bank/INPUT/content", "/m/lookup", "/h/hash"):
            r = client.post(path, files=files)
            _never_500(r, (name, path))
            _assert_error_shape(path, r)
        for path in ("/v1/match", "/v1/hash"):
            r = client.post(path, content=data)
            _never_500(r, (name, path))
            _assert_error_shape(path, r)
            r = client.post(path, files={"file": (f"{name}.jpg", data, "image/jpeg")})
            _never_500(r, (name, path, "multipart"))
        assert content_count(client, "INPUT") == before, name

    bomb = client.post("/v1/match", content=_bomb_png())
    assert bomb.status_code == 413
    assert bomb.json()["error"]["code"] == "media_too_large"
    empty = client.post("/v1/hash", content=b"")
    assert empty.json()["error"]["code"] == "empty_input"


def test_upload_over_limit_is_413(
    make_client: AppFactory, admin_key: str, shared_data: Path
) -> None:
    client = make_client(max_upload_bytes=10_000)
    client.headers["X-API-Key"] = admin_key
    assert client.post("/c/banks", json={"name": "LIMITED"}).status_code == 201
    data = (shared_data / BRIDGE / "aaa-orig.jpg").read_bytes()
    assert len(data) > 10_000
    for path in ("/c/bank/LIMITED/content", "/m/lookup", "/h/hash"):
        r = client.post(path, files={"photo": ("big.jpg", data, "image/jpeg")})
        assert r.status_code == 413, (path, r.text)
        assert "limit" in r.json()["message"]
    for path in ("/v1/match", "/v1/hash"):
        r = client.post(path, content=data)
        assert r.status_code == 413, path
        assert r.json()["error"]["code"] == "media_too_large"
    assert content_count(client, "LIMITED") == 0


def test_malformed_requests(bad_client: TestClient, shared_data: Path) -> None:
    client = bad_client
    before = content_count(client, "INPUT")
    photo = (shared_data / BRIDGE / "aaa-orig.jpg").read_bytes()

    # malformed multipart bodies
    for ctype, body in [
        ("multipart/form-data; boundary=XYZ", b"--XYZ\r\nnot a header line\r\n\r\ndata"),
        ("multipart/form-data; boundary=XYZ", b"garbage with no boundary at all"),
        ("multipart/form-data", b"--XYZ\r\n"),  # no boundary parameter
        ("application/octet-stream", photo),  # not multipart at all
    ]:
        for path in ("/c/bank/INPUT/content", "/m/lookup", "/h/hash"):
            r = client.post(path, content=body, headers={"content-type": ctype})
            _never_500(r, (ctype, body[:20], path))
            _assert_error_shape(path, r)

    # wrong multipart field name, two files, and a video field holding a photo
    for files in (
        {"picture": ("a.jpg", photo, "image/jpeg")},
        [("photo", ("a.jpg", photo, "image/jpeg")), ("photo", ("b.jpg", photo, "image/jpeg"))],
        {"video": ("a.mp4", photo, "video/mp4")},
    ):
        for path in ("/c/bank/INPUT/content", "/m/lookup", "/h/hash"):
            r = client.post(path, files=files)
            assert r.status_code == 400, (files, path, r.text)
            assert r.json()["message"]

    # malformed hashes
    for value in ("xyz", "ab" * 31, "ab" * 33, "", "g" * 64):
        r = client.post("/c/bank/INPUT/signal", json={"pdq": value})
        assert r.status_code == 400, value
        r = client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": value})
        assert r.status_code == 400, value
        r = client.post("/v1/lookup", json={"signal_type": "pdq", "value": value})
        assert r.status_code == 400, value
        r = client.post(
            "/v1/banks/INPUT/hashes", json={"items": [{"signal_type": "pdq", "value": value}]}
        )
        assert r.status_code == 400, value
    r = client.post("/c/bank/INPUT/signal", json={"pdq": 12345})
    assert r.status_code == 400

    # JSON bodies of the wrong type (a list instead of an object), and not JSON at all
    for method, path in [
        ("POST", "/c/banks"),
        ("PUT", "/c/bank/INPUT"),
        ("POST", "/c/bank/INPUT/signal"),
        ("POST", "/v1/banks"),
        ("PATCH", "/v1/banks/INPUT"),
        ("POST", "/v1/banks/INPUT/hashes"),
        ("POST", "/v1/lookup"),
        ("POST", "/v1/lookup/batch"),
    ]:
        r = client.request(method, path, json=[{"pdq": PDQ}])
        assert r.status_code == 400, (method, path, r.text)
        _assert_error_shape(path, r)
        r = client.request(
            method, path, content=b"{not json", headers={"content-type": "application/json"}
        )
        _never_500(r, (method, path, "not json"))
        _assert_error_shape(path, r)
    r = client.post("/v1/banks/INPUT/hashes", json={"items": {"signal_type": "pdq"}})
    assert r.status_code == 400
    r = client.put("/c/bank/INPUT", json={"enabled_ratio": "lots"})
    assert r.status_code == 400

    assert content_count(client, "INPUT") == before
    assert [b["name"] for b in client.get("/c/banks").json()] == ["INPUT"]
    assert client.get("/c/bank/INPUT").json()["matching_enabled_ratio"] == 1.0
