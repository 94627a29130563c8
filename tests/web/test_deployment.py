"""The server refuses demo settings on a non-loopback address (and allows them on loopback)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from vangnet.auth import users
from vangnet.cli import app
from vangnet.config import Settings, reset_settings
from vangnet.web.deployment import insecure_reasons


def test_demo_settings_are_refused_on_a_network_address(db_engine: Engine) -> None:
    loopback = Settings(host="127.0.0.1", require_api_keys=False)
    assert insecure_reasons(loopback, db_engine) == []
    exposed = Settings(host="0.0.0.0", require_api_keys=False)
    reasons = insecure_reasons(exposed, db_engine)
    assert any("API keys are off" in r for r in reasons)
    assert any("VANGNET_COOKIE_SECURE" in r for r in reasons)
    production = Settings(host="0.0.0.0", cookie_secure=True)
    assert insecure_reasons(production, db_engine) == []
    with Session(db_engine) as s:
        users.create_user(
            s, username="demo-reviewer", password="x" * 12, role="reviewer", actor="test"
        )
        s.commit()
    assert any("demo-reviewer" in r for r in insecure_reasons(production, db_engine))
    with Session(db_engine) as s:
        users.set_disabled(s, "demo-reviewer", disabled=True, actor="test")
        s.commit()
    assert insecure_reasons(production, db_engine) == []


def test_serve_refuses_with_a_clear_message(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    reset_settings()
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == 2, result.output
    assert "insecure_config" in result.output and "VANGNET_COOKIE_SECURE" in result.output
    assert "Traceback" not in result.output
