"""Helpers of the audit and accountability tests: the app's mutating routes and CLI commands,
a case made through the API (a benign photo banked, then uploaded), the CLI in-process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from fastapi import FastAPI
from starlette.routing import BaseRoute
from starlette.testclient import TestClient
from typer.testing import CliRunner

from vangnet.config import reset_settings

PHOTO = Path("threatexchange/pdq/data/bridge-mods/aaa-orig.jpg")
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


def _walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's included routers
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from _walk(included.routes, prefix + str(getattr(context, "prefix", "")))
            continue
        mount = getattr(route, "routes", None)
        path = str(getattr(route, "path", ""))
        if mount is not None and not getattr(route, "methods", None):
            yield from _walk(list(mount), prefix + path)
            continue
        for method in getattr(route, "methods", None) or ():
            yield method, prefix + path


def mutating_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) of the app's route table that can change state."""
    return {(m, p) for m, p in _walk(list(app.routes)) if m in MUTATING}


def cli_commands(app: typer.Typer, prefix: str = "") -> Iterator[str]:
    """Every command of the Typer app, as typed ("bank create")."""
    for command in app.registered_commands:
        assert command.callback is not None
        name = command.name or command.callback.__name__.replace("_", "-")
        yield prefix + name
    for group in app.registered_groups:
        assert group.typer_instance is not None and group.name
        yield from cli_commands(group.typer_instance, f"{prefix}{group.name} ")


class Cli:
    """`vangnet` in-process, with this test's home and database."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0, stdin: str | None = None) -> Any:
        from vangnet.cli import app

        reset_settings()
        result = self.runner.invoke(app, list(args), input=stdin)
        assert "Traceback" not in result.output, result.output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"vangnet {' '.join(args)} raised") from result.exception
        assert result.exit_code == code, (args, result.exit_code, result.output)
        return result

    def json(self, *args: str, code: int = 0) -> Any:
        return json.loads(self(*args, code=code).stdout)


def key_header(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def bank_photo(client: TestClient, key: str, shared_data: Path, bank: str = "LEADS") -> int:
    """Bank the benign photo through the OpenMediaMatch routes; returns its content id."""
    if client.get(f"/c/bank/{bank}", headers=key_header(key)).status_code == 404:
        r = client.post("/c/banks", json={"name": bank}, headers=key_header(key))
        assert r.status_code == 201, r.text
    data = (shared_data / PHOTO).read_bytes()
    meta = json.dumps({"content_id": "src-17", "content_uri": "https://example.org/item/17"})
    r = client.post(
        f"/c/bank/{bank}/content",
        params={"metadata": meta},
        files={"photo": (PHOTO.name, data, "image/jpeg")},
        headers=key_header(key),
    )
    assert r.status_code == 200, r.text
    client.app.state.services.indexes.refresh()  # type: ignore[attr-defined]  # matchable now
    return int(r.json()["id"])


def upload_case(client: TestClient, key: str, shared_data: Path, account: str = "acct-1") -> int:
    """Upload the (banked) photo to /v1/match: a match filed in a case; returns its id."""
    data = (shared_data / PHOTO).read_bytes()
    r = client.post(
        "/v1/match",
        params={"account": account, "platform": "example"},
        files={"file": (PHOTO.name, data, "image/jpeg")},
        headers=key_header(key),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["matches"], body
    return int(body["case_id"])


def audit_entries(client: TestClient, key: str, **filters: Any) -> list[dict[str, Any]]:
    r = client.get("/v1/audit", params={"limit": 1000, **filters}, headers=key_header(key))
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()["entries"]
    return entries
