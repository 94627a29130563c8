"""The suite's shared fixtures load (an app answers with a key, refuses without one)."""

from __future__ import annotations

from typing import Any


def test_app_refuses_a_request_without_a_key(client: Any) -> None:
    assert client.get("/v1/banks").status_code == 200
    assert client.get("/v1/banks", headers={"X-API-Key": ""}).status_code == 401
