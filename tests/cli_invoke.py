"""`vangnet` run in-process the way its tests of matching run it: settings read afresh from
the environment each time (tests change it between runs), no traceback, the exit code
expected; ``json_lines`` for the commands that print one JSON object a line (``--json``)."""

from __future__ import annotations

import json
from typing import Any

from click.testing import Result
from typer.testing import CliRunner

from vangnet.cli import app
from vangnet.config import reset_settings


def invoke(*args: str, code: int = 0) -> Result:
    """``vangnet ARGS``; asserts it exited with ``code`` and printed no traceback."""
    reset_settings()
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == code, (args, result.exit_code, result.output)
    return result


def json_lines(*args: str) -> list[dict[str, Any]]:
    """The JSON objects ``vangnet ARGS`` printed, one a line."""
    return [json.loads(x) for x in invoke(*args).stdout.splitlines() if x.strip()]
