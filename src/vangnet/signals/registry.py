"""Registry of signal types, loaded from the ``vangnet.signals`` entry-point group.

Built-ins register through the same entry points as third-party plug-ins (see
``pyproject.toml``); `register_signal_type` adds one at run time (tests, embedding). Names
must be unique and each type must name an installed index; a clash is an error at start-up.
A plug-in that fails to import is reported by `failed_signal_types` (and `vangnet plugins`,
the index status and the log) instead of stopping every other signal type. The loading rules
are those of every plug-in point (`vangnet.plugins.Registry`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib.metadata import EntryPoint, entry_points

from vangnet.plugins import PluginError, Registry, subclass_check
from vangnet.signals.base import FrameHashes, SignalType

GROUP = "vangnet.signals"

__all__ = [
    "GROUP",
    "PluginError",
    "failed_signal_types",
    "frame_signal_types",
    "get_signal_type",
    "register_signal_type",
    "signal_types",
    "unregister_signal_type",
]


_is_signal_type: Callable[[object, str], type[SignalType]] = subclass_check(SignalType)


#: The longest signal type name: what the database's ``signal_type`` columns hold.
MAX_NAME = 32


def as_signal_type(obj: object, label: str) -> type[SignalType]:
    """``obj`` as a signal type, or `PluginError` saying why it is not one."""
    cls = _is_signal_type(obj, label)
    if len(cls.name) > MAX_NAME:
        raise PluginError(
            f"signal type name {cls.name[:40]!r}... is {len(cls.name)} characters long; "
            f"at most {MAX_NAME} (the database stores it in columns of that width)"
        )
    if not isinstance(getattr(cls, "index", None), str) or not cls.index:
        raise PluginError(f"signal type {cls.name!r} names no index (class variable 'index')")
    return cls


def _find(group: str) -> Iterable[EntryPoint]:
    return entry_points(group=group)  # looked up at call time: tests replace it


REGISTRY: Registry[type[SignalType]] = Registry(
    GROUP, what="signal type", check=as_signal_type, find=_find
)


def signal_types() -> dict[str, type[SignalType]]:
    """All installed signal types by name (those that loaded), checked for unique names."""
    return REGISTRY.loaded()


def frame_signal_types() -> frozenset[str]:
    """The names of the installed per-frame signal types (`FrameHashes`: ``vpdq``,
    ``vpdq_cropped``, ``vpdq_regions``, a plug-in's): a value of one is a list of frames,
    not one hash."""
    return frozenset(n for n, c in signal_types().items() if issubclass(c, FrameHashes))


def failed_signal_types() -> dict[str, str]:
    """Signal plug-ins that failed to load: name -> why."""
    return REGISTRY.failed()


def get_signal_type(name: str) -> type[SignalType]:
    return REGISTRY.get(name)


def register_signal_type(cls: type[SignalType]) -> type[SignalType]:
    """Register a signal type at run time, as an entry point would (usable as a class
    decorator). Its name must be new."""
    return REGISTRY.register(cls)


def unregister_signal_type(name: str) -> None:
    """Undo `register_signal_type` (entry-point types stay)."""
    REGISTRY.unregister(name)


def _reset() -> None:
    REGISTRY.reset()
