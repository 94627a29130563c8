"""Issue 10, findings 6 and 11 (oversized integers): per-key quotas for streams and request
rates, depth and size limits on stored JSON (a listing never answers 500 for everyone), and
integers from paths, queries and headers range-checked (400, never 500).

All traffic goes to the app in-process (Starlette's TestClient) on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from typing import Any

HUGE = [2**31, 2**63, 10**20]


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
