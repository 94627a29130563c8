"""A broken plug-in is reported and isolated: its signal type's index is marked failed (index
status with the banks holding its values, metrics, `vangnet plugins`, the log), its lookups
answer 503, and every other index keeps serving, through a restart too."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.conftest import AppFactory, refresh
from vangnet.cli import app as cli_app
from vangnet.errors import InvalidHashError
from vangnet.index.hamming_index import HammingIndex
from vangnet.index.registry import register_index, unregister_index
from vangnet.signals import registry
from vangnet.signals.base import HammingBits, SignalType
from vangnet.signals.registry import register_signal_type, unregister_signal_type

PHOTO = Path("threatexchange/pdq/data/bridge-mods/aaa-orig.jpg")


class ExplodingIndex(HammingIndex):
    """An index plug-in with a bug: it cannot hold a single value."""

    name = "test_exploding"

    def add(self, values: Sequence[str], ids: Sequence[int]) -> None:
        raise RuntimeError("boom: the index plug-in is broken")

    @classmethod
    def build(cls, signal_type: type[SignalType], values: Sequence[str], ids: Sequence[int]) -> Any:
        if values:
            raise RuntimeError("boom: the index plug-in is broken")
        return super().build(signal_type, values, ids)


class Broken64(SignalType, HammingBits):
    name = "test_broken64"
    index = "test_exploding"
    bits = 64
    default_threshold = 4

    @classmethod
    def validate(cls, value: str) -> str:
        text = value.strip().lower()
        if len(text) != 16 or any(c not in "0123456789abcdef" for c in text):
            raise InvalidHashError("not a test_broken64 value")
        return text

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        return (int(a, 16) ^ int(b, 16)).bit_count()


@pytest.fixture(autouse=True)
def _plugins() -> Iterator[None]:
    register_index(ExplodingIndex)
    register_signal_type(Broken64)
    yield
    unregister_signal_type(Broken64.name)
    unregister_index(ExplodingIndex.name)


def test_a_failing_index_is_reported_and_the_others_keep_serving(
    make_client: AppFactory, admin_key: str, shared_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    client.headers["X-API-Key"] = admin_key
    photo = (shared_data / PHOTO).read_bytes()
    pdq = client.post("/v1/hash", content=photo).json()["pdq"]
    assert client.post("/v1/banks", json={"name": "MIXED"}).is_success
    items = [
        {"signal_type": "pdq", "value": pdq},
        {"signal_type": Broken64.name, "value": "00000000ffffffff"},
    ]
    assert client.post("/v1/banks/MIXED/hashes", json={"items": items}).status_code == 200
    refresh(client)
    assert "boom" in caplog.text  # logged

    status = client.get("/v1/index/status").json()
    broken = status[Broken64.name]
    assert broken["present"] is False and "boom" in broken["error"]
    assert broken["banks"] == ["MIXED"]  # the banks whose values it cannot serve
    assert status["pdq"] == {"present": True, "built_to": status["pdq"]["built_to"], "size": 1}

    ok = client.post("/v1/lookup", json={"signal_type": "pdq", "value": pdq})
    assert [m["bank"] for m in ok.json()["matches"]] == ["MIXED"]
    refused = client.post(
        "/v1/lookup", json={"signal_type": Broken64.name, "value": "00000000ffffffff"}
    )
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "index_unavailable"
    upload = client.post("/v1/match", content=photo).json()
    assert [m["signal_type"] for m in upload["matches"]] == ["pdq"] and upload["case_id"]

    metrics = client.get("/v1/metrics").text
    assert f'vangnet_index_failed{{signal_type="{Broken64.name}"}} 1' in metrics
    assert 'vangnet_index_failed{signal_type="pdq"} 0' in metrics

    # a restart builds every index from the database: the broken one fails again, alone
    again = make_client()
    again.headers["X-API-Key"] = admin_key
    restarted = again.get("/v1/index/status").json()
    assert "boom" in restarted[Broken64.name]["error"] and restarted["pdq"]["size"] == 1
    assert again.post("/v1/lookup", json={"signal_type": "pdq", "value": pdq}).json()["matches"]


def test_a_plug_in_that_fails_to_load_is_listed(
    monkeypatch: pytest.MonkeyPatch, make_client: AppFactory, admin_key: str
) -> None:
    missing = EntryPoint(
        name="test_missing", value="vangnet_no_such_plugin:Signal", group=registry.GROUP
    )

    def with_missing(*, group: str) -> list[EntryPoint]:
        return [*entry_points(group=group), missing]

    monkeypatch.setattr(registry, "entry_points", with_missing)
    registry._reset()
    try:
        assert "pdq" in registry.signal_types()  # the others load
        assert "ModuleNotFoundError" in registry.failed_signal_types()["test_missing"]
        result = CliRunner().invoke(cli_app, ["plugins", "--json"])
        assert result.exit_code == 0, result.output
        rows = {(r["kind"], r["name"]): r for r in json.loads(result.stdout)}
        assert (
            "vangnet_no_such_plugin" in rows[("failed", "signal_type:test_missing")]["description"]
        )
        assert rows[("signal_type", Broken64.name)]["index"] == ExplodingIndex.name
        assert ("index", "hamming") in rows

        client = make_client()
        client.headers["X-API-Key"] = admin_key
        status = client.get("/v1/index/status").json()
        assert status["test_missing"]["present"] is False and status["pdq"]["present"] is True
        r = client.post("/v1/lookup", json={"signal_type": "test_missing", "value": "00"})
        assert r.status_code == 503 and "failed to load" in r.json()["error"]["message"]
    finally:
        monkeypatch.undo()
        registry._reset()
