"""Registry of matching indexes, loaded from the ``vangnet.indexes`` entry-point group.

Built-ins register through the same entry points as third-party plug-ins (see
``pyproject.toml``); `register_index` adds one at run time (tests, embedding). Names must be
unique; a clash is an error at start-up. An index that fails to import is reported by
`failed_indexes` (and `vangnet plugins`), and only the signal types it serves stop matching.
The loading rules are those of every plug-in point (`vangnet.plugins.Registry`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib.metadata import EntryPoint, entry_points

from vangnet.index.base import SignalIndex
from vangnet.plugins import PluginError, Registry, subclass_check

GROUP = "vangnet.indexes"


class IndexPluginError(PluginError):
    """An index plug-in is missing, broken or does not fit its signal type."""


#: ``cls`` as an index class, or `IndexPluginError` saying why it is not one.
as_index: Callable[[object, str], type[SignalIndex]] = subclass_check(
    SignalIndex, error=IndexPluginError
)


def _find(group: str) -> Iterable[EntryPoint]:
    return entry_points(group=group)  # looked up at call time: tests replace it


REGISTRY: Registry[type[SignalIndex]] = Registry(
    GROUP, what="index", check=as_index, find=_find, error=IndexPluginError
)


def indexes() -> dict[str, type[SignalIndex]]:
    """All installed indexes by name (those that loaded)."""
    return REGISTRY.loaded()


def failed_indexes() -> dict[str, str]:
    """Index plug-ins that failed to load: name -> why."""
    return REGISTRY.failed()


def get_index(name: str) -> type[SignalIndex]:
    return REGISTRY.get(name)


def register_index(cls: type[SignalIndex]) -> type[SignalIndex]:
    """Register an index class at run time (usable as a class decorator)."""
    return REGISTRY.register(cls)


def unregister_index(name: str) -> None:
    """Undo `register_index` (entry-point indexes stay)."""
    REGISTRY.unregister(name)


def _reset() -> None:
    REGISTRY.reset()
