"""Registry of signal types, loaded from the ``vangnet.signals`` entry-point group.

Built-ins register through the same entry points as third-party plug-ins (see
``pyproject.toml``). Names must be unique; a clash is an error at start-up.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from vangnet.errors import NotFoundError, VangnetError
from vangnet.signals.base import SignalType

GROUP = "vangnet.signals"


class PluginError(VangnetError):
    code = "plugin_error"


@cache
def signal_types() -> dict[str, type[SignalType]]:
    """All installed signal types by name, checked for unique names."""
    found: dict[str, type[SignalType]] = {}
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, SignalType)):
            raise PluginError(f"entry point {ep.name!r} ({ep.value}) is not a SignalType")
        if cls.name != ep.name:
            raise PluginError(f"entry point {ep.name!r} names a class called {cls.name!r}")
        if cls.name in found:
            raise PluginError(f"two signal types are named {cls.name!r}")
        found[cls.name] = cls
    return found


def get_signal_type(name: str) -> type[SignalType]:
    try:
        return signal_types()[name]
    except KeyError:
        known = ", ".join(sorted(signal_types()))
        raise NotFoundError(f"unknown signal type {name!r} (installed: {known})") from None
