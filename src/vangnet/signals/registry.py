"""Registry of signal types, loaded from the ``vangnet.signals`` entry-point group.

Built-ins register through the same entry points as third-party plug-ins (see
``pyproject.toml``); `register_signal_type` adds one at run time (tests, embedding). Names
must be unique and each type must name an installed index; a clash is an error at start-up.
A plug-in that fails to import is reported by `failed_signal_types` (and `vangnet plugins`,
the index status and the log) instead of stopping every other signal type.
"""

from __future__ import annotations

import logging
import threading
from importlib.metadata import entry_points

from vangnet.errors import NotFoundError, VangnetError
from vangnet.signals.base import SignalType

GROUP = "vangnet.signals"

log = logging.getLogger(__name__)


class PluginError(VangnetError):
    """A signal plug-in is broken: it failed to load, or its name or index is wrong."""

    code = "plugin_error"
    status = 503


_lock = threading.Lock()
_loaded: dict[str, type[SignalType]] | None = None
_failed: dict[str, str] = {}
_extra: dict[str, type[SignalType]] = {}


def _check(cls: object, label: str) -> type[SignalType]:
    if not (isinstance(cls, type) and issubclass(cls, SignalType)):
        raise PluginError(f"{label} is not a SignalType")
    if not isinstance(getattr(cls, "index", None), str) or not cls.index:
        raise PluginError(f"signal type {cls.name!r} names no index (class variable 'index')")
    return cls


def signal_types() -> dict[str, type[SignalType]]:
    """All installed signal types by name (those that loaded), checked for unique names."""
    global _loaded
    with _lock:
        if _loaded is None:
            found: dict[str, type[SignalType]] = {}
            failed: dict[str, str] = {}
            for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
                try:
                    loaded = ep.load()
                except Exception as error:  # a broken plug-in is reported, never fatal
                    failed[ep.name] = f"cannot load {ep.value}: {type(error).__name__}: {error}"
                    log.error("signal plug-in %r failed to load: %s", ep.name, failed[ep.name])
                    continue
                cls = _check(loaded, f"entry point {ep.name!r} ({ep.value})")
                if cls.name != ep.name:
                    raise PluginError(f"entry point {ep.name!r} names a class called {cls.name!r}")
                if cls.name in found:
                    raise PluginError(f"two signal types are named {cls.name!r}")
                found[cls.name] = cls
            for name, cls in _extra.items():
                if name in found:
                    raise PluginError(f"two signal types are named {name!r}")
                found[name] = cls
            _failed.clear()
            _failed.update(failed)
            _loaded = found
        return _loaded


def failed_signal_types() -> dict[str, str]:
    """Signal plug-ins that failed to load: name -> why."""
    signal_types()
    return dict(_failed)


def get_signal_type(name: str) -> type[SignalType]:
    try:
        return signal_types()[name]
    except KeyError:
        why = failed_signal_types().get(name)
        if why:
            raise PluginError(
                f"signal type {name!r} is installed but failed to load ({why})"
            ) from None
        known = ", ".join(sorted(signal_types()))
        raise NotFoundError(f"unknown signal type {name!r} (installed: {known})") from None


def register_signal_type(cls: type[SignalType]) -> type[SignalType]:
    """Register a signal type at run time, as an entry point would (usable as a class
    decorator). Its name must be new."""
    checked = _check(cls, repr(cls))
    current = signal_types()
    if checked.name in current and current[checked.name] is not checked:
        raise PluginError(f"two signal types are named {checked.name!r}")
    _extra[checked.name] = checked
    _reset()
    return checked


def unregister_signal_type(name: str) -> None:
    """Undo `register_signal_type` (entry-point types stay)."""
    _extra.pop(name, None)
    _reset()


def _reset() -> None:
    global _loaded
    with _lock:
        _loaded = None
