"""The warning and the route to anonymous help a deterrence answer carries, per language, as
data (``data/help.toml``, or the file the setting ``deterrence_help_file`` names)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from vangnet.errors import ValidationError

LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[a-z]{2})?$")


@dataclass(frozen=True, slots=True)
class HelpRoute:
    """Where a searcher can get anonymous help: ``name``, ``url``, ``phone`` (None when no
    number is verified) and the warning ``message`` in its language."""

    name: str
    url: str
    phone: str | None
    message: str

    def as_json(self) -> dict[str, str | None]:
        return {"name": self.name, "url": self.url, "phone": self.phone}


@dataclass(frozen=True)
class HelpBook:
    """Routes by language and the ``default`` one."""

    routes: dict[str, HelpRoute]
    default: str

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(self.routes)

    def known(self, language: str | None) -> str | None:
        """The listed language a code resolves to (itself, else its base), else None."""
        if not language:
            return None
        language = language.lower()
        if language in self.routes:
            return language
        base = language.split("-")[0]
        return base if base in self.routes else None

    def route(self, language: str | None) -> HelpRoute:
        return self.routes[self.known(language) or self.default]


def _route(source: object, name: str, data: Any) -> HelpRoute:
    if not isinstance(data, dict):
        raise ValidationError(f"help routes {source}: [routes.{name}] must be a table")
    try:
        url, title, message = str(data["url"]), str(data["name"]), str(data["message"])
    except KeyError as error:
        raise ValidationError(f"help routes {source}: [routes.{name}] needs {error}") from None
    if not url.startswith("https://") or not title.strip() or not message.strip():
        raise ValidationError(
            f"help routes {source}: [routes.{name}] needs a name, an https url and a message"
        )
    phone = str(data.get("phone", "")).strip() or None
    return HelpRoute(title, url, phone, message)


def load_help(path: Path | None = None) -> HelpBook:
    """The help routes in ``path``, or the bundled ones."""
    source = path if path is not None else files("vangnet.context.deterrence") / "data/help.toml"
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValidationError(f"help routes {source}: {error}") from None
    raw = data.get("routes")
    if not isinstance(raw, dict) or not raw:
        raise ValidationError(f"help routes {source}: no [routes.<language>] tables")
    bad = sorted(k for k in raw if k != "multi" and not LANGUAGE.match(k))
    if bad:
        raise ValidationError(f"help routes {source}: not language codes: {', '.join(bad)}")
    routes = {k: _route(source, k, v) for k, v in raw.items()}
    default = data.get("default")
    if default not in routes:
        raise ValidationError(f"help routes {source}: default must name one of the routes")
    return HelpBook(routes, str(default))
