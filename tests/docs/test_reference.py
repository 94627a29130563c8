"""The reference pages of the documentation site name every setting, command and route.

The pages are read as committed (`docs/reference/*.md`); the settings, commands and routes are
found independently of the generator: the fields of `Settings`, a walk of the Typer app as
`vangnet --help` sees it, and `/openapi.json` of a running app.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

with warnings.catch_warnings():
    # Starlette 1.x deprecates its TestClient on httpx (wants httpx2); the project pins httpx.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from vangnet.api.app import create_app
from vangnet.cli import app as cli_app
from vangnet.cli import reference
from vangnet.config import Settings

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
SETTINGS_PAGE = DOCS / "reference" / "settings.md"
CLI_PAGE = DOCS / "reference" / "cli.md"
API_PAGE = DOCS / "reference" / "api.md"


def test_every_setting_is_in_the_settings_page_with_a_description() -> None:
    page = SETTINGS_PAGE.read_text(encoding="utf-8")
    missing = [n for n in Settings.model_fields if f"`VANGNET_{n.upper()}`" not in page]
    assert not missing, f"settings not in {SETTINGS_PAGE.name}: {missing}"
    undocumented = [
        n for n, f in Settings.model_fields.items() if not (f.description or "").strip()
    ]
    assert not undocumented, f"settings without a description: {undocumented}"


def _walk(app: typer.Typer, path: str) -> Iterator[str]:
    """Every command as typed, from the Typer app's registrations (not the generator's walk)."""
    for command in app.registered_commands:
        assert command.callback is not None
        if not command.hidden:
            yield f"{path} {command.name or command.callback.__name__.replace('_', '-')}"
    for group in app.registered_groups:
        assert group.typer_instance is not None and group.name
        yield f"{path} {group.name}"
        yield from _walk(group.typer_instance, f"{path} {group.name}")


def test_every_command_and_sub_command_is_in_the_cli_page() -> None:
    commands = list(_walk(cli_app, "vangnet"))
    assert {"vangnet bank add", "vangnet case decide", "vangnet triage"} <= set(commands)
    page = CLI_PAGE.read_text(encoding="utf-8")
    # each has its own section (a heading) in the page
    headings = set(re.findall(r"^### `(vangnet[^`]*)`", page, flags=re.MULTILINE))
    missing = [c for c in commands if c not in headings]
    assert not missing, f"commands without a section in {CLI_PAGE.name}: {missing}"


@pytest.fixture
def openapi(tmp_path: Path) -> dict[str, object]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'docs.db'}")
    with TestClient(create_app(settings, start_background=False)) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200, response.text
    schema: dict[str, object] = response.json()
    return schema


def test_every_v1_and_openmediamatch_route_is_in_the_api_page(
    openapi: dict[str, object],
) -> None:
    routes = reference.api_routes(openapi)
    paths = {path for _, path, _ in routes}
    assert {"/v1/match", "/m/raw_lookup", "/c/banks", "/h/hash"} <= paths
    page = API_PAGE.read_text(encoding="utf-8")
    missing = [f"{m} {p}" for m, p, _ in routes if f"`{m} {p}`" not in page]
    assert not missing, f"routes not in {API_PAGE.name}: {missing}"


def test_the_generated_blocks_are_up_to_date() -> None:
    stale = [
        page.path.name
        for page in reference.pages(DOCS)
        if reference.generated_block(page.path.read_text(encoding="utf-8"), page.block)
        != page.render().strip("\n")
    ]
    assert not stale, f"out of date: {stale}; run scripts/docs-reference"


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VANGNET_EGRESS_ALLOW": '["loopback"]'}
    return subprocess.run(
        [str(REPO / "scripts" / "docs-reference"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_scripts_docs_reference_checks_and_rewrites_a_stale_page(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(DOCS / "reference", docs / "reference")
    settings_page = docs / "reference" / "settings.md"
    current = settings_page.read_text(encoding="utf-8")
    # a setting's row removed by hand: the check says so and changes nothing
    stale = current.replace(
        next(line for line in current.splitlines() if "`VANGNET_PORT`" in line) + "\n", ""
    )
    settings_page.write_text(stale, encoding="utf-8")

    checked = _script("--check", "--docs", str(docs))
    assert checked.returncode == 1, checked.stderr
    assert "settings.md: out of date" in checked.stderr
    assert "scripts/docs-reference" in checked.stderr
    assert settings_page.read_text(encoding="utf-8") == stale

    assert reference.main(["--docs", str(docs)]) == 0  # what the script runs, in-process
    assert settings_page.read_text(encoding="utf-8") == current
    assert reference.main(["--check", "--docs", str(docs)]) == 0


def test_a_page_without_its_markers_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(DOCS / "reference", docs / "reference")
    (docs / "reference" / "api.md").write_text("# HTTP API reference\n", encoding="utf-8")
    assert reference.main(["--check", "--docs", str(docs)]) == 2
    err = capsys.readouterr().err
    assert "api.md" in err and "<!-- generated:api" in err
