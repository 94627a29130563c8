"""Checks of what a caller gives the banks package: bank names, category profiles, the
matching ratio, per-signal-type thresholds, the live policy, and signal values.

A new bank's thresholds come from each signal type's `bank_defaults` under the caller's
settings (`default_thresholds`); nothing here reads the settings in force (without settings,
`documented_settings` gives the documented defaults).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import Any

from vangnet.banks.categories import get_profile
from vangnet.config import Settings
from vangnet.errors import ValidationError
from vangnet.signals.registry import get_signal_type, signal_types

BANK_NAME = re.compile(r"[A-Z0-9_]{1,255}")


# Allowed per-signal-type threshold settings and their ranges.
_THRESHOLD_KEYS: dict[str, tuple[type, float, float]] = {
    "threshold": (int, 0, 256),
    "verify_threshold": (int, 0, 256),
    "quality_floor": (int, 0, 100),
    "dihedral": (bool, 0, 1),
    "query_match_pct": (float, 0.0, 100.0),
    "index_match_pct": (float, 0.0, 100.0),
}


class Unset(enum.Enum):
    """Marks an argument that was not given (distinct from None, which clears a field)."""

    UNSET = enum.auto()


UNSET = Unset.UNSET


def validator(signal_type: str) -> Callable[[str], str]:
    return get_signal_type(signal_type).validate


def check_name(name: str) -> str:
    if not isinstance(name, str) or not BANK_NAME.fullmatch(name):
        raise ValidationError(
            f"invalid bank name {name!r}: use 1-255 capital letters, digits and underscores"
        )
    return name


def check_profile(profile: str) -> str:
    return get_profile(profile).name


def check_ratio(ratio: float) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 <= ratio <= 1:
        raise ValidationError("matching_enabled_ratio must be a number from 0 to 1")
    return float(ratio)


@cache
def documented_settings() -> Settings:
    """The settings at their documented defaults (no environment, no settings file): what
    a caller that passes no settings gets."""
    return Settings.model_construct()


def default_thresholds(settings: Settings) -> dict[str, dict[str, Any]]:
    """Thresholds a new bank starts with: each signal type's `bank_defaults` under the
    caller's ``settings`` (e.g. ``pdq_threshold`` and ``pdq_quality_floor`` for PDQ)."""
    return {
        name: rules
        for name, cls in signal_types().items()
        if (rules := cls.bank_defaults(settings))
    }


def merge_thresholds(
    base: Mapping[str, Mapping[str, Any]], given: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """``base`` updated per signal type with the validated settings in ``given``."""
    if not isinstance(given, Mapping):
        raise ValidationError("thresholds must map signal types to settings")
    merged = {name: dict(settings) for name, settings in base.items()}
    known = signal_types()
    for name, settings in given.items():
        if name not in known:
            raise ValidationError(f"thresholds name unknown signal type {name!r}")
        if not isinstance(settings, Mapping):
            raise ValidationError(f"thresholds for {name} must be an object")
        target = merged.setdefault(name, {})
        for key, value in settings.items():
            if key not in _THRESHOLD_KEYS:
                allowed = ", ".join(_THRESHOLD_KEYS)
                raise ValidationError(f"unknown threshold setting {key!r} (allowed: {allowed})")
            kind, low, high = _THRESHOLD_KEYS[key]
            if kind is bool:
                if not isinstance(value, bool):
                    raise ValidationError(f"{name}.{key} must be true or false")
            elif (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or (kind is int and value != int(value))
                or not low <= value <= high
            ):
                raise ValidationError(f"{name}.{key} must be a {kind.__name__} in {low}..{high}")
            target[key] = kind(value)
    return merged


#: Actions a bank's live alert may ask the platform for (webhook events besides alert.created).
ACTIONS = ("stream.terminate", "account.suspend", "content.remove")


def merge_policy(base: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated with the validated policy keys in ``given`` (None removes a key):
    ``live_min_frames`` and ``live_window`` (ints 1-1000), ``actions`` (a list of `ACTIONS`)."""
    if not isinstance(given, Mapping):
        raise ValidationError("policy must be an object")
    merged = dict(base)
    for key, value in given.items():
        if value is None:
            merged.pop(key, None)
        elif key in ("live_min_frames", "live_window"):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
                raise ValidationError(f"policy.{key} must be an integer from 1 to 1000")
            merged[key] = value
        elif key == "actions":
            if not isinstance(value, list | tuple) or any(a not in ACTIONS for a in value):
                raise ValidationError(f"policy.actions must be a list of: {', '.join(ACTIONS)}")
            merged[key] = list(dict.fromkeys(value))
        else:
            allowed = "live_min_frames, live_window, actions"
            raise ValidationError(f"unknown policy setting {key!r} (allowed: {allowed})")
    if merged.get("live_min_frames", 1) > merged.get("live_window", 1000):
        raise ValidationError("policy.live_min_frames cannot exceed policy.live_window")
    return merged


def signal_pairs(signals: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Validated, canonical, de-duplicated (signal type, value) pairs."""
    items = signals.items() if isinstance(signals, Mapping) else signals
    out: dict[tuple[str, str], None] = {}
    for signal_type, value in items:
        out[(signal_type, validator(signal_type)(value))] = None
    if not out:
        raise ValidationError("content needs at least one signal")
    return list(out)
