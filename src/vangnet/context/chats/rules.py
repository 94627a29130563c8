"""The rules that turn lexicon hits and behavioural features into a conversation's score and
reasons: weights, the child-age condition, indicator families, stages and night hours, as data
(``lexicon/rules.toml``, or the file the setting ``context_chat_rules`` names)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from vangnet.context.chats.lexicon import Category
from vangnet.errors import ValidationError


@dataclass(frozen=True)
class Rules:
    """See ``lexicon/rules.toml`` for each entry's meaning."""

    version: str
    threshold: float
    min_categories: int
    weights: dict[Category, float]
    child_age_requires: frozenset[Category]
    families: dict[str, tuple[Category, ...]]
    stages: tuple[tuple[Category, ...], ...]
    stage_weight: float
    stages_require: frozenset[Category]
    night_start: int
    night_end: int
    night_share: float
    night_weight: float

    def family_of(self, category: Category) -> str:
        for family, members in self.families.items():
            if category in members:
                return family
        raise KeyError(category)  # load_rules checks every category has a family

    def stage_of(self, category: Category) -> int | None:
        for index, members in enumerate(self.stages):
            if category in members:
                return index
        return None


def _unit(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValidationError(f"chat rules: {where} must be a number in 0-1")
    return float(value)


def _hour(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 23:
        raise ValidationError(f"chat rules: {where} must be an hour 0-23")
    return value


def _categories(where: str, value: Any) -> tuple[Category, ...]:
    try:
        return tuple(Category(v) for v in value)
    except (TypeError, ValueError):
        raise ValidationError(
            f"chat rules: {where} must list categories of {', '.join(Category)}"
        ) from None


def parse_rules(data: dict[str, Any], source: str) -> Rules:
    """`Rules` from a parsed rules file; a missing or bad entry is a `ValidationError`."""
    try:
        head, weights, features = data["rules"], data["weights"], data["features"]
        stages = data["stages"]
        version = str(head["version"])
        threshold = _unit("rules.threshold", head["threshold"])
        min_categories = int(head["min_categories"])
        by_category = {Category(k): _unit(f"weights.{k}", v) for k, v in weights.items()}
        requires = frozenset(
            _categories("child_age.requires_any", data["child_age"]["requires_any"])
        )
        families = {str(k): _categories(f"families.{k}", v) for k, v in data["families"].items()}
        order = tuple(_categories("stages.order", s) for s in stages["order"])
        rules = Rules(
            version=version,
            threshold=threshold,
            min_categories=min_categories,
            weights=by_category,
            child_age_requires=requires,
            families=families,
            stages=order,
            stage_weight=_unit("stages.stage_weight", stages["stage_weight"]),
            stages_require=frozenset(_categories("stages.requires_any", stages["requires_any"])),
            night_start=_hour("features.night_start", features["night_start"]),
            night_end=_hour("features.night_end", features["night_end"]),
            night_share=_unit("features.night_share", features["night_share"]),
            night_weight=_unit("features.night_weight", features["night_weight"]),
        )
    except KeyError as error:
        raise ValidationError(f"chat rules {source}: missing entry {error}") from None
    except (TypeError, ValueError) as error:
        raise ValidationError(f"chat rules {source}: {error}") from None
    missing = [c.value for c in Category if c not in rules.weights]
    if missing:
        raise ValidationError(f"chat rules {source}: no weight for {', '.join(missing)}")
    homeless = [c.value for c in Category if not any(c in f for f in families.values())]
    if homeless:
        raise ValidationError(f"chat rules {source}: no family for {', '.join(homeless)}")
    return rules


def load_rules(path: Path | None = None) -> Rules:
    """The rules in ``path``, or the bundled ``lexicon/rules.toml``."""
    source = path if path is not None else files("vangnet.context.chats") / "lexicon/rules.toml"
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValidationError(f"chat rules {source}: {error}") from None
    return parse_rules(data, str(source))
