"""The payment rules file: the bundled defaults, a user's TOML or JSON through the setting,
and bad files refused naming the key (exit 6, nothing run)."""

from __future__ import annotations

import json
import tomllib
from importlib.resources import files
from pathlib import Path

import pytest

from vangnet.config import Settings
from vangnet.context.payments.evaluator import PaymentsEvaluator
from vangnet.context.payments.rules import default_rules, load_rules
from vangnet.context.payments.sessions import SessionsEvaluator
from vangnet.errors import ExitCode, ValidationError


def _default() -> dict:
    text = files("vangnet.context.payments").joinpath("default_rules.toml").read_text()
    return tomllib.loads(text)


def test_defaults_cover_the_sources() -> None:
    rules = default_rules()
    assert {"PH", "TH", "VN", "KH", "ID", "MY", "DO", "CO", "MX"} <= rules.high_risk
    lo, hi = rules.band_eur("austrac")  # A$10-100
    assert lo == pytest.approx(10 * rules.fx.to_eur["AUD"]) and hi < 100
    assert "pang load" in rules.cover_words and "baon" in rules.cover_words
    assert {"vpn", "spyware", "video_capture", "live_streaming", "webcam_platform"} <= set(
        rules.merchant_categories.risky
    )


def test_a_users_json_rules_through_the_setting(tmp_path: Path) -> None:
    data = _default()
    data["indicators"]["low_value_corridor"]["min_count"] = 2
    data["fx"]["date"] = str(data["fx"]["date"])
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(data))
    settings = Settings(context_payment_rules=path)
    assert (
        PaymentsEvaluator.from_settings(settings).rules.indicators.low_value_corridor.min_count == 2
    )
    assert SessionsEvaluator.from_settings(settings).rules.version == data["version"]
    assert PaymentsEvaluator.from_settings(Settings()).rules is default_rules()


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda d: d["indicators"]["night"].update(weight=1.5), "indicators.night.weight"),
        (lambda d: d["indicators"].pop("escalation"), "indicators.escalation"),
        (lambda d: d["bands"]["fatf"].update(currency="ZZZ"), "bands.fatf.currency"),
        (lambda d: d["timezones"].update(NL="Mars/Olympus"), "Mars/Olympus"),
        (lambda d: d["corridors"]["use"].append("nowhere"), "nowhere"),
        (lambda d: d["indicators"]["night"].update(band="cheap"), "night.band"),
        (lambda d: d.update(surprise=1), "surprise"),
    ],
)
def test_bad_rules_are_refused_naming_the_key(tmp_path: Path, edit, named: str) -> None:
    data = _default()
    edit(data)
    data["fx"]["date"] = str(data["fx"]["date"])
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValidationError, match=named.replace(".", r"\.")) as info:
        load_rules(path)
    assert info.value.exit_code == ExitCode.INVALID_DATA


def test_unreadable_or_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot read"):
        load_rules(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("weight = = 1")
    with pytest.raises(ValidationError, match="not valid TOML/JSON"):
        load_rules(bad)
    top = tmp_path / "list.json"
    top.write_text("[1, 2]")
    with pytest.raises(ValidationError, match="top level"):
        load_rules(top)
