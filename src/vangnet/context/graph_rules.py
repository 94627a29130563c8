"""The weights and thresholds of the graph's reasons, as data: ``graph_rules.toml`` beside this
module, or the file the setting ``context_graph_rules`` names (every key present; a missing,
unknown or out-of-range key is a `ValidationError` naming it).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any, Self

from vangnet.config import Settings
from vangnet.errors import ValidationError

SHIPPED = "graph_rules.toml"


def _section(raw: dict[str, Any], name: str, cls: type[Any], where: str) -> Any:
    table = raw.get(name)
    if not isinstance(table, dict):
        raise ValidationError(f"{where}: no [{name}] table")
    want = {f.name: f.type for f in fields(cls)}
    unknown = sorted(set(table) - set(want))
    missing = sorted(set(want) - set(table))
    if unknown or missing:
        raise ValidationError(
            f"{where}: [{name}] "
            + "; ".join(
                part
                for part in (
                    f"unknown keys {', '.join(unknown)}" if unknown else "",
                    f"missing keys {', '.join(missing)}" if missing else "",
                )
                if part
            )
        )
    values: dict[str, Any] = {}
    for key, kind in want.items():
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError(f"{where}: [{name}] {key} must be a number")
        if kind == "int":
            if not isinstance(value, int) or value < 1:
                raise ValidationError(f"{where}: [{name}] {key} must be a whole number >= 1")
        elif not 0.0 <= float(value) <= 1.0:
            raise ValidationError(f"{where}: [{name}] {key} must be in [0, 1]")
        values[key] = value if kind == "int" else float(value)
    return cls(**values)


@dataclass(frozen=True, slots=True)
class HubRule:
    min_senders: int
    min_countries: int
    base: float
    per_sender: float
    per_country: float
    max: float

    def weight(self, senders: int, countries: int) -> float:
        extra = self.per_sender * (senders - self.min_senders) + self.per_country * max(
            0, countries - 1
        )
        return min(self.max, self.base + extra)


@dataclass(frozen=True, slots=True)
class AlertRule:
    account_weight: float
    session_weight: float


@dataclass(frozen=True, slots=True)
class MatchRule:
    weight: float
    confirmed_weight: float


@dataclass(frozen=True, slots=True)
class PropagationRule:
    weight: float
    min_score: float


@dataclass(frozen=True, slots=True)
class GraphRules:
    """Every rule of the graph's reasons (see ``graph_rules.toml``)."""

    hub_beneficiary: HubRule
    linked_to_alert: AlertRule
    linked_to_media_match: MatchRule
    paid_by_known_viewer: PropagationRule
    shared_device: PropagationRule
    shared_handle: PropagationRule

    @classmethod
    def parse(cls, text: str, *, where: str) -> Self:
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError(f"{where}: not TOML: {exc}") from None
        unknown = sorted(set(raw) - {f.name for f in fields(cls)})
        if unknown:
            raise ValidationError(f"{where}: unknown tables {', '.join(unknown)}")
        return cls(
            hub_beneficiary=_section(raw, "hub_beneficiary", HubRule, where),
            linked_to_alert=_section(raw, "linked_to_alert", AlertRule, where),
            linked_to_media_match=_section(raw, "linked_to_media_match", MatchRule, where),
            paid_by_known_viewer=_section(raw, "paid_by_known_viewer", PropagationRule, where),
            shared_device=_section(raw, "shared_device", PropagationRule, where),
            shared_handle=_section(raw, "shared_handle", PropagationRule, where),
        )

    @classmethod
    def shipped(cls) -> Self:
        text = resources.files("vangnet.context").joinpath(SHIPPED).read_text("utf-8")
        return cls.parse(text, where=SHIPPED)

    @classmethod
    def load(cls, path: Path) -> Self:
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValidationError(f"cannot read graph rules {path}: {exc}") from None
        return cls.parse(text, where=str(path))

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        path = settings.context_graph_rules
        return cls.shipped() if path is None else cls.load(path)
