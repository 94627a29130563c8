"""The settings registry: defaults, environment, config file, precedence, bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from vangnet.config import config_file_path, describe, get_settings, reset_settings
from vangnet.errors import ValidationError


def test_defaults_and_registry(tmp_path: Path) -> None:
    settings = get_settings()
    assert settings.home == tmp_path / "vangnet-home"  # from the isolated VANGNET_HOME
    assert settings.effective_database_url.startswith("sqlite:///")
    assert settings.pdq_threshold == 31 and settings.pdq_quality_floor == 50
    rows = {r["name"]: r for r in describe()}
    assert {"home", "database_url", "require_api_keys", "video_fps"} <= set(rows)
    assert all(r["help"] and r["env"] == f"VANGNET_{r['name'].upper()}" for r in rows.values())


def test_file_then_environment_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    path = config_file_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        'port = 6001\npdq_threshold = 20\ndatabase_url = "postgresql+psycopg://x@127.0.0.1/y"\n'
    )
    reset_settings()
    assert get_settings().port == 6001
    assert get_settings().effective_database_url == "postgresql+psycopg://x@127.0.0.1/y"
    monkeypatch.setenv("VANGNET_PORT", "6002")
    reset_settings()
    assert get_settings().port == 6002  # the environment wins over the file
    assert get_settings().pdq_threshold == 20


@pytest.mark.parametrize(
    ("env", "file"),
    [
        ({"VANGNET_PORT": "not-a-number"}, None),
        ({}, "port = [1, 2]\n"),
        ({}, "this is not toml ="),
        ({}, "unknown_setting = 1\n"),
    ],
)
def test_bad_values_are_clear_errors(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], file: str | None
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if file is not None:
        path = config_file_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(file)
    reset_settings()
    with pytest.raises(ValidationError, match="invalid configuration"):
        get_settings()
