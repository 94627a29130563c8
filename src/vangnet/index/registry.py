"""Registry of matching indexes, loaded from the ``vangnet.indexes`` entry-point group.

Built-ins register through the same entry points as third-party plug-ins (see
``pyproject.toml``); `register_index` adds one at run time (tests, embedding). Names must be
unique; a clash is an error at start-up. An index that fails to import is reported by
`failed_indexes` (and `vangnet plugins`), and only the signal types it serves stop matching.
"""

from __future__ import annotations

import logging
import threading
from importlib.metadata import entry_points

from vangnet.errors import NotFoundError, VangnetError
from vangnet.index.base import SignalIndex

GROUP = "vangnet.indexes"

log = logging.getLogger(__name__)


class IndexPluginError(VangnetError):
    """An index plug-in is missing, broken or does not fit its signal type."""

    code = "plugin_error"
    status = 503


_lock = threading.Lock()
_loaded: dict[str, type[SignalIndex]] | None = None
_failed: dict[str, str] = {}
_extra: dict[str, type[SignalIndex]] = {}


def _load() -> dict[str, type[SignalIndex]]:
    global _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        found: dict[str, type[SignalIndex]] = {}
        failed: dict[str, str] = {}
        for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
            try:
                cls = ep.load()
            except Exception as error:  # a broken plug-in is reported, never fatal
                failed[ep.name] = f"cannot load {ep.value}: {type(error).__name__}: {error}"
                log.error("index plug-in %r failed to load: %s", ep.name, failed[ep.name])
                continue
            if not (isinstance(cls, type) and issubclass(cls, SignalIndex)):
                raise IndexPluginError(f"entry point {ep.name!r} ({ep.value}) is not a SignalIndex")
            if cls.name != ep.name:
                raise IndexPluginError(
                    f"entry point {ep.name!r} names an index called {cls.name!r}"
                )
            found[cls.name] = cls
        for name, cls in _extra.items():
            if name in found:
                raise IndexPluginError(f"two indexes are named {name!r}")
            found[name] = cls
        _failed.clear()
        _failed.update(failed)
        _loaded = found
        return found


def _reset() -> None:
    global _loaded
    with _lock:
        _loaded = None


def indexes() -> dict[str, type[SignalIndex]]:
    """All installed indexes by name (those that loaded)."""
    return dict(_load())


def failed_indexes() -> dict[str, str]:
    """Index plug-ins that failed to load: name -> why."""
    _load()
    return dict(_failed)


def get_index(name: str) -> type[SignalIndex]:
    try:
        return _load()[name]
    except KeyError:
        why = failed_indexes().get(name)
        if why:
            raise IndexPluginError(f"index {name!r} failed to load ({why})") from None
        known = ", ".join(sorted(_load()))
        raise NotFoundError(f"unknown index {name!r} (installed: {known})") from None


def register_index(cls: type[SignalIndex]) -> type[SignalIndex]:
    """Register an index class at run time (usable as a class decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, SignalIndex)):
        raise IndexPluginError(f"{cls!r} is not a SignalIndex")
    if cls.name in _load() and _load()[cls.name] is not cls:
        raise IndexPluginError(f"two indexes are named {cls.name!r}")
    _extra[cls.name] = cls
    _reset()
    return cls


def unregister_index(name: str) -> None:
    """Undo `register_index` (entry-point indexes stay)."""
    _extra.pop(name, None)
    _reset()
