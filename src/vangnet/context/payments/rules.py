"""The payment and session indicator rules, as data: weights, thresholds, windows, corridors,
keyword lists, merchant categories, reference exchange rates and amount bands.

The bundled ``default_rules.toml`` (beside this module) documents every key and its public
source; a deployment points the setting ``context_payment_rules`` at its own copy (TOML or
JSON). `load_rules` validates the file with pydantic and refuses a bad one with a
`vangnet.errors.ValidationError` (exit 6) that names the key, so no indicator ever runs with
a half-read rule.
"""

from __future__ import annotations

import json
import tomllib
from datetime import date
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vangnet.config import Settings
from vangnet.errors import ValidationError

DEFAULT_RULES = "default_rules.toml"

Weight = float


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _upper_codes(values: list[str]) -> list[str]:
    return [v.strip().upper() for v in values]


class Fx(_Strict):
    """Approximate reference rates to EUR on ``date`` (for the bands, not for accounting)."""

    date: date
    to_eur: dict[str, float]

    @field_validator("to_eur")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        for code, rate in value.items():
            if not rate > 0:
                raise ValueError(f"rate of {code} must be > 0")
        return {k.upper(): v for k, v in value.items()}


class Band(_Strict):
    """An amount band in ``currency`` (inclusive bounds)."""

    min: float = Field(ge=0)
    max: float = Field(gt=0)
    currency: str

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if self.min > self.max:
            raise ValueError("min must be <= max")
        return self


class Indicator(_Strict):
    weight: Weight = Field(ge=0, le=1)


class Banded(Indicator):
    band: str = "fatf"


class LowValueCorridor(Banded):
    min_count: int = Field(ge=1)
    window_days: float = Field(gt=0)


class HubBeneficiary(Banded):
    min_senders: int = Field(ge=2)
    min_countries: int = Field(ge=1)


class CoverNarrative(Banded):
    min_count: int = Field(ge=1)


class Purchases(Indicator):
    min_corridor_payments: int = Field(ge=1)


class Escalation(Indicator):
    min_payments: int = Field(ge=3)
    min_rho: float = Field(ge=-1, le=1)
    min_amount_ratio: float = Field(gt=0)
    min_frequency_ratio: float = Field(gt=0)


class Night(Banded):
    night_start: int = Field(ge=0, le=23)
    night_end: int = Field(ge=0, le=24)
    min_count: int = Field(ge=1)
    min_share: float = Field(ge=0, le=1)


class NightAcrossZones(Indicator):
    day_start: int = Field(ge=0, le=23)
    day_end: int = Field(ge=0, le=24)
    min_count: int = Field(ge=1)


class RoundAmounts(Banded):
    multiple: float = Field(gt=0)
    min_count: int = Field(ge=1)
    min_share: float = Field(ge=0, le=1)


class Structuring(Indicator):
    margin: float = Field(gt=0, lt=1)
    window_days: float = Field(gt=0)
    min_count: int = Field(ge=2)
    split_min_beneficiaries: int = Field(ge=2)
    split_min_count: int = Field(ge=2)
    split_max_share: float = Field(gt=0, le=1)
    thresholds: dict[str, float]

    @field_validator("thresholds")
    @classmethod
    def _upper(cls, value: dict[str, float]) -> dict[str, float]:
        return {k.upper(): v for k, v in value.items()}


class NewBeneficiaries(Banded):
    window_days: float = Field(gt=0)
    min_new: int = Field(ge=2)


class NoFamilyLink(Banded):
    min_count: int = Field(ge=1)
    family_min_eur: float = Field(ge=0)
    family_max_day_spread: int = Field(ge=0, le=31)
    family_max_per_month: float = Field(gt=0)


class Egmont(Banded):
    corridor: str = "egmont"
    window_days: float = Field(gt=0)
    min_count: int = Field(ge=1)
    min_keyword_payments: int = Field(ge=0)


class CryptoYoung(Indicator):
    min_age: int = Field(ge=0)
    max_age: int = Field(ge=0)


class PaymentIndicators(_Strict):
    low_value_corridor: LowValueCorridor
    hub_beneficiary: HubBeneficiary
    pays_hub: Indicator
    cover_narrative: CoverNarrative
    purchases: Purchases
    travel: Purchases
    escalation: Escalation
    night: Night
    night_across_zones: NightAcrossZones
    round_amounts: RoundAmounts
    structuring: Structuring
    new_beneficiaries: NewBeneficiaries
    no_family_link: NoFamilyLink
    egmont: Egmont
    crypto_young: CryptoYoung


class NearSession(Banded):
    window_hours: float = Field(gt=0)
    min_payments: int = Field(ge=1)


class NightSession(Indicator):
    min_count: int = Field(ge=1)


class SessionIndicators(_Strict):
    payment_near_session: NearSession
    payment_to_session_country: NearSession
    night_corridor_session: NightSession


class MerchantCategories(_Strict):
    risky: list[str]
    travel: list[str]


class Rules(_Strict):
    """One validated rules file (see ``default_rules.toml`` for every key)."""

    version: str
    max_rows: int = Field(ge=1)
    fx: Fx
    corridors: dict[str, list[str]]
    timezones: dict[str, str]
    keywords: dict[str, list[str]]
    merchant_categories: MerchantCategories
    bands: dict[str, Band]
    indicators: PaymentIndicators
    sessions: SessionIndicators

    @field_validator("corridors")
    @classmethod
    def _corridors(cls, value: dict[str, Any]) -> dict[str, list[str]]:
        if "use" not in value:
            raise ValueError("corridors.use (the lists that make up high_risk) is required")
        out = {k: (list(v) if k == "use" else _upper_codes(v)) for k, v in value.items()}
        for name in value["use"]:
            if name not in value:
                raise ValueError(f"corridors.use names an unknown list {name!r}")
        return out

    @field_validator("timezones")
    @classmethod
    def _zones(cls, value: dict[str, str]) -> dict[str, str]:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        for country, zone in value.items():
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"{country}: unknown time zone {zone!r}") from exc
        return {k.upper(): v for k, v in value.items()}

    @model_validator(mode="after")
    def _references(self) -> Rules:
        for name, band in self.bands.items():
            if band.currency.upper() not in self.fx.to_eur:
                raise ValueError(f"bands.{name}.currency {band.currency!r} has no fx.to_eur rate")
        for group in (self.indicators, self.sessions):
            for name in type(group).model_fields:
                rule = getattr(group, name)
                if isinstance(rule, Banded) and rule.band not in self.bands:
                    raise ValueError(f"{name}.band {rule.band!r} is not in bands")
        if self.indicators.egmont.corridor not in self.corridors:
            raise ValueError(f"indicators.egmont.corridor {self.indicators.egmont.corridor!r}")
        return self

    @property
    def high_risk(self) -> frozenset[str]:
        """The corridor countries: the union of the lists ``corridors.use`` names."""
        return frozenset(c for name in self.corridors["use"] for c in self.corridors[name])

    def band_eur(self, name: str) -> tuple[float, float]:
        """A band's bounds in EUR."""
        band = self.bands[name]
        rate = self.fx.to_eur[band.currency.upper()]
        return band.min * rate, band.max * rate

    @property
    def cover_words(self) -> tuple[str, ...]:
        """Every cover-narrative keyword of every language except the Egmont list."""
        return tuple(
            dict.fromkeys(w for lang, ws in self.keywords.items() if lang != "egmont" for w in ws)
        )


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def parse_rules(data: dict[str, Any], *, source: str) -> Rules:
    """Validated `Rules` from a decoded document; a bad one raises `ValidationError` naming
    the first bad key."""
    try:
        return Rules.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ValidationError(
            f"payment rules {source}: {_where(first['loc'])}: {first['msg']}{more}"
        ) from None


def load_rules(path: Path | None = None) -> Rules:
    """The rules in ``path`` (``.toml`` or ``.json``), or the bundled defaults."""
    if path is None:
        return default_rules()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"payment rules {path}: cannot read: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(f"payment rules {path}: not valid TOML/JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationError(f"payment rules {path}: the top level must be a table/object")
    return parse_rules(data, source=str(path))


@cache
def default_rules() -> Rules:
    """The bundled ``default_rules.toml``."""
    text = files("vangnet.context.payments").joinpath(DEFAULT_RULES).read_text(encoding="utf-8")
    return parse_rules(tomllib.loads(text), source=DEFAULT_RULES)


def euro_rates(settings: Settings) -> dict[str, float]:
    """Euros per unit of each currency, from the deployment's payment rules (``fx.to_eur``
    of ``context_payment_rules``, else the bundled defaults): the one table of rates every
    part of the context stage converts with (indicators, the graph's ``amount_eur``)."""
    return dict(load_rules(settings.context_payment_rules).fx.to_eur)
