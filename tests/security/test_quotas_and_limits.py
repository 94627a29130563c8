"""Issue 10, findings 6 and 11 (oversized integers): per-key quotas for streams and request
rates, depth and size limits on stored JSON (a listing never answers 500 for everyone), and
integers from paths, queries and headers range-checked (400, never 500).

All traffic goes to the app in-process (Starlette's TestClient) on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.conftest import AppFactory, make_key, poll
from conftest import audited
from vangnet.config import get_settings
from vangnet.live.streams import create_stream
from vangnet.store.db import make_engine, writer
from vangnet.store.models import ApiKey, Case, Stream

from ._decide import persons_key

HUGE = [2**31, 2**63, 10**20]
PDQ = "0f0f0f0f33cc33cc55aa55aa0ff00ff0f0f0f0f0cc33cc33aa55aa55f00ff00f"


def _error_code(response: Any) -> str:
    code: str = response.json()["error"]["code"]
    return code


# -- finding 11: oversized integers ------------------------------------------------------------


QUERY_INTEGERS = [
    ("/v1/alerts?after_id={v}", 2**31),
    ("/v1/alerts?stream_id={v}", 2**31),
    ("/v1/banks/B/content?after_id={v}", 2**31),
    ("/v1/audit?before_seq={v}", 2**63),  # audit sequence numbers are 64-bit
]


def test_oversized_query_integers_are_refused_with_400(client: Any) -> None:
    assert client.post("/v1/banks", json={"name": "B"}).status_code == 201
    for path, smallest_too_big in QUERY_INTEGERS:
        for value in [v for v in HUGE if v >= smallest_too_big]:
            r = client.get(path.format(v=value))
            assert r.status_code == 400, (path, value, r.text)
            assert _error_code(r) == "invalid_request"
    # the largest valid values still answer (an empty page)
    assert client.get(f"/v1/alerts?after_id={2**31 - 1}").json()["alerts"] == []
    assert client.get(f"/v1/audit?before_seq={2**63 - 1}").status_code == 200


def _feed_status(client: Any, seconds: float, **request: Any) -> int | str:
    """The status of a feed request that is refused, or "streaming" when the feed was
    accepted (it never ends on its own; the app's shutdown closes it)."""
    outcome: list[int | str] = []

    def run() -> None:
        try:
            outcome.append(client.get("/v1/alerts/feed", **request).status_code)
        except Exception as error:  # the app failed after the stream began
            outcome.append(f"error: {error!r}")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return outcome[0] if outcome else "streaming"


def test_oversized_feed_cursor_is_refused_with_400(client: Any) -> None:
    for value in [*HUGE, -1]:
        status = _feed_status(client, 5.0, headers={"Last-Event-ID": str(value)})
        assert status == 400, (value, status)
        if value > 0:
            status = _feed_status(client, 5.0, params={"after_id": value})
            assert status == 400, (value, status)
    r = client.get("/v1/alerts/feed", headers={"Last-Event-ID": str(2**63)})
    assert _error_code(r) == "invalid_value"


def _id_routes(client: Any) -> list[tuple[str, str]]:
    """Every operation of the API whose path holds an integer id."""
    spec = client.get("/openapi.json").json()
    found = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            params = operation.get("parameters", [])
            ints = [
                p["name"]
                for p in params
                if p["in"] == "path" and p.get("schema", {}).get("type") == "integer"
            ]
            if ints:
                found.append((method.upper(), path))
    return found


def test_every_integer_path_parameter_is_range_checked(client: Any) -> None:
    assert client.post("/v1/banks", json={"name": "B"}).status_code == 201
    routes = _id_routes(client)
    assert len(routes) >= 10  # streams, alerts, webhooks, cases, content (HMA and native)
    for method, path in routes:
        for value in HUGE:
            url = path.replace("{bank_name}", "B").replace("{name}", "B")
            for name in ("stream_id", "alert_id", "delivery_id", "case_id", "content_id"):
                url = url.replace("{" + name + "}", str(value))
            r = client.request(method, url, json={} if method != "GET" else None)
            assert r.status_code in (400, 404, 422), (method, url, r.status_code, r.text)
            assert r.status_code < 500


# -- finding 6: nested and oversized JSON ------------------------------------------------------


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


def test_deeply_nested_stream_metadata_is_refused_and_nothing_is_stored(client: Any) -> None:
    kept = client.post("/v1/streams", json={"metadata": {"room": "a"}})
    assert kept.status_code == 201, kept.text
    for levels in (40, 300, 900):
        r = client.post("/v1/streams", json={"metadata": _nested(levels)})
        assert r.status_code == 422, (levels, r.status_code, r.text[:200])
        assert _error_code(r) == "json_limit_exceeded"
    r = client.post("/v1/streams", json={"metadata": {"note": "nul\x00inside"}})
    assert r.status_code == 422 and _error_code(r) == "json_limit_exceeded", r.text
    listed = client.get("/v1/streams")
    assert listed.status_code == 200, listed.text
    assert [s["id"] for s in listed.json()["streams"]] == [kept.json()["id"]]
    assert client.post("/v1/streams", json={"metadata": _nested(30)}).status_code == 201


def test_a_stored_row_nested_too_deeply_does_not_break_the_listing(
    client: Any, db_url: str
) -> None:
    """A row written before the limits existed (900 levels, under 16 KB) is listed with an
    error marker; every other row and the listing itself still answer."""
    good = client.post("/v1/streams", json={"metadata": {"room": "a"}}).json()["id"]
    bad = client.post("/v1/streams", json={}).json()["id"]
    engine = audited(make_engine(db_url))
    try:
        with Session(writer(engine)) as session:
            row = session.get(Stream, bad)
            assert row is not None
            row.stream_metadata = _nested(900)
            session.commit()
    finally:
        engine.dispose()
    listed = client.get("/v1/streams")
    assert listed.status_code == 200, listed.text
    by_id = {s["id"]: s for s in listed.json()["streams"]}
    assert by_id[good]["metadata"] == {"room": "a"}
    assert by_id[bad]["metadata"]["error"]["code"] == "json_limit_exceeded"
    shown = client.get(f"/v1/streams/{bad}")
    assert shown.status_code == 200, shown.text
    assert shown.json()["metadata"]["error"]["code"] == "json_limit_exceeded"
    assert client.get("/v1/streams", params={"active": True}).status_code == 200


def test_notes_and_item_fields_have_size_limits(client: Any) -> None:
    assert client.post("/v1/banks", json={"name": "B"}).status_code == 201
    r = client.post("/v1/banks", json={"name": "C", "note": "x" * 10_001})
    assert r.status_code == 422 and _error_code(r) == "json_limit_exceeded", r.text
    r = client.patch("/v1/banks/B", json={"note": "a\x00b"})
    assert r.status_code == 422 and _error_code(r) == "json_limit_exceeded", r.text
    item = {"signal_type": "pdq", "value": PDQ}
    for field, value in [("note", "x" * 10_001), ("series", "\x00"), ("external_id", "e" * 256)]:
        r = client.post("/v1/banks/B/hashes", json={"items": [{**item, field: value}]})
        assert r.status_code == 422, (field, r.status_code, r.text)
    meta = {"json": _nested(300)}
    r = client.post(
        "/c/bank/B/content",
        params={"metadata": json.dumps(meta)},
        files={"photo": ("p.png", b"not an image", "image/png")},
    )
    assert r.status_code == 422 and "nested deeper" in r.json()["message"], r.text
    r = client.post("/c/bank/B/content", params={"metadata": "[" * 5_000})
    assert r.status_code == 400, r.text
    assert client.get("/v1/banks/B").json()["stats"]["content"] == 0
    assert client.get("/v1/banks/B").json()["note"] is None


# -- finding 6: per-key quotas -----------------------------------------------------------------


def test_a_key_may_not_start_more_streams_than_its_quota(
    make_client: AppFactory, db_url: str
) -> None:
    app = make_client(key_max_streams=3)
    one, other = make_key(db_url, "matcher", "one"), make_key(db_url, "matcher", "other")
    started = []
    for _ in range(3):
        r = app.post("/v1/streams", json={}, headers={"X-API-Key": one})
        assert r.status_code == 201, r.text
        started.append(r.json()["id"])
    refused = app.post("/v1/streams", json={}, headers={"X-API-Key": one})
    assert refused.status_code == 429, refused.text
    assert _error_code(refused) == "quota_exceeded"
    listed = app.get("/v1/streams", headers={"X-API-Key": one}).json()["streams"]
    assert sorted(s["id"] for s in listed) == started  # nothing was created
    # another key has its own quota; a stopped stream frees a place
    assert app.post("/v1/streams", json={}, headers={"X-API-Key": other}).status_code == 201
    stop = app.post(f"/v1/streams/{started[0]}/stop", headers={"X-API-Key": one})
    assert stop.status_code == 200, stop.text
    assert app.post("/v1/streams", json={}, headers={"X-API-Key": one}).status_code == 201
    assert app.post("/v1/streams", json={}, headers={"X-API-Key": one}).status_code == 429


def test_streams_resumed_after_a_restart_respect_the_quota(
    make_client: AppFactory, db_url: str
) -> None:
    """Streams a key had queued (as if started before a restart, or before a lower quota) are
    resumed only up to the quota; the rest fail with a reason instead of running."""
    key = make_key(db_url, "matcher", "busy")
    engine = audited(make_engine(db_url))
    try:
        with Session(engine) as session:
            key_id = session.scalars(select(ApiKey.id).where(ApiKey.name == "busy")).one()
            ids = [
                create_stream(session, url=None, api_key_id=key_id, settings=get_settings()).id
                for _ in range(5)
            ]
            session.commit()
    finally:
        engine.dispose()
    app = make_client(key_max_streams=2)
    app.headers["X-API-Key"] = key

    def states() -> dict[int, str]:
        streams = app.get("/v1/streams").json()["streams"]
        return {s["id"]: s["state"] for s in streams}

    assert poll(lambda: all(s != "connecting" for s in states().values()), timeout=10)
    seen = states()
    assert [seen[i] for i in ids] == ["live", "live", "failed", "failed", "failed"], seen
    failed = app.get(f"/v1/streams/{ids[-1]}").json()
    assert "quota" in failed["reason"]
    assert app.post("/v1/streams", json={}).status_code == 429


def test_a_key_beyond_its_request_rate_gets_429_with_retry_after(
    make_client: AppFactory, db_url: str
) -> None:
    app = make_client(key_rate_per_second=0.5, key_rate_burst=5)
    fast, calm = make_key(db_url, "matcher", "fast"), make_key(db_url, "matcher", "calm")
    answers = [app.get("/v1/banks", headers={"X-API-Key": fast}).status_code for _ in range(8)]
    assert answers[:5] == [200] * 5 and answers[5:] == [429] * 3, answers
    r = app.get("/v1/banks", headers={"X-API-Key": fast})
    assert r.status_code == 429 and _error_code(r) == "rate_limited"
    assert 1 <= int(r.headers["Retry-After"]) <= 2
    assert app.get("/v1/banks", headers={"X-API-Key": calm}).status_code == 200
    # unknown keys are refused as before (401), not counted against anyone
    assert app.get("/v1/banks", headers={"X-API-Key": "vn_nope"}).status_code == 401


def test_nul_characters_in_urls_are_refused_with_400(client: Any) -> None:
    """Found by the fuzzer on PostgreSQL (which cannot hold NUL in text): 500 before."""
    for url in (
        "/v1/audit?action=a%00b",
        "/v1/banks/A%00B",
        "/v1/content/search?signal_type=pdq&value=%00",
    ):
        r = client.get(url)
        assert r.status_code == 400, (url, r.text)
        assert _error_code(r) == "invalid_request"


def test_nul_in_a_decision_note_is_refused_and_the_case_is_unchanged(
    client: Any, db_url: str
) -> None:
    """Found by the deeper fuzzing run: 500 on PostgreSQL before."""
    engine = audited(make_engine(db_url))
    try:
        with Session(writer(engine)) as session:
            case = Case(key="fuzz-nul", title="fuzz", kind="upload", status="open")
            session.add(case)
            session.commit()
            case_id = case.id
    finally:
        engine.dispose()
    client.headers["X-API-Key"] = persons_key(db_url, "admin", "nul-tester")  # may decide
    for body in (
        {"decision": "escalate", "note": "see\x00this"},
        {"decision": "confirm", "category": "vics:\x001"},
    ):
        r = client.post(f"/v1/cases/{case_id}/decisions", json=body)
        assert r.status_code == 422, r.text
        assert _error_code(r) == "json_limit_exceeded"
    assert client.get(f"/v1/cases/{case_id}").json()["status"] == "open"
