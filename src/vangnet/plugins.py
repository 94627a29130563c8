"""One registry shape for every plug-in point: load an entry-point group, isolate failures,
keep names unique.

Every plug-in point (signal types, indexes, stream sources, bank formats, report formats,
classifiers) is a `Registry` over one entry-point group. Built-ins register through
the same entry points as third-party plug-ins (``pyproject.toml``); `Registry.register` adds
one at run time (tests, embedding). The rules are the same everywhere:

- A plug-in that cannot be imported, or imports as something that is not a plug-in of this
  point (the ``check`` says why), is **reported, not fatal**: `Registry.failed` names it
  with the reason, `vangnet plugins` and the log show it, and every other plug-in loads.
- **Names are unique**: two plug-ins claiming one name (or one of the several keys a plug-in
  may claim, such as the URL schemes of a stream source) is an error at start-up, raised by
  every call, because which of the two would run is a guess.
- The group is read once, at first use, and again after a run-time (un)registration.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from vangnet.errors import NotFoundError, VangnetError

log = logging.getLogger(__name__)

T = TypeVar("T")


class PluginError(VangnetError):
    """A plug-in is broken: it failed to load, or its name or shape is wrong."""

    code = "plugin_error"
    status = 503


def subclass_check(
    base: type[Any], *, error: type[VangnetError] = PluginError
) -> Callable[[object, str], Any]:
    """The ``check`` of a registry of classes: a subclass of ``base`` with a non-empty
    ``name``, or ``error`` saying why not. (``base`` is usually abstract, so the caller
    annotates the result: ``Callable[[object, str], type[Base]]``.)"""

    def check(obj: object, label: str) -> Any:
        if not (isinstance(obj, type) and issubclass(obj, base)):
            raise error(f"{label} is not a {base.__name__}")
        name: Any = getattr(obj, "name", None)
        if not isinstance(name, str) or not name:
            raise error(f"{label} has no name")
        return obj

    return check


def _group(group: str) -> Iterable[EntryPoint]:
    return entry_points(group=group)


class Registry(Generic[T]):
    """The plug-ins of one entry-point group, by name.

    ``check(obj, label)`` returns ``obj`` as a plug-in of this point or raises ``error`` saying
    why it is not. ``keys(plugin)`` are the names it is found under (by default its ``name``
    attribute, which must then equal the entry point's name); ``find(group)`` lists the entry
    points (tests replace it). ``what`` names one plug-in in messages ("signal type").
    """

    def __init__(
        self,
        group: str,
        *,
        what: str,
        check: Callable[[object, str], T],
        keys: Callable[[T], Sequence[str]] | None = None,
        find: Callable[[str], Iterable[EntryPoint]] = _group,
        error: type[VangnetError] = PluginError,
    ) -> None:
        self.group = group
        self.what = what
        self._check = check
        self._keys = keys
        self._find = find
        self._error = error
        self._lock = threading.Lock()
        self._loaded: dict[str, T] | None = None
        self._failed: dict[str, str] = {}
        self._extra: dict[str, T] = {}

    def keys_of(self, plugin: T) -> tuple[str, ...]:
        """The names ``plugin`` is registered under."""
        if self._keys is not None:
            return tuple(self._keys(plugin))
        name = getattr(plugin, "name", None)
        if not isinstance(name, str) or not name:
            raise self._error(f"{self.what} {plugin!r} has no name")
        return (name,)

    def _from_entry_point(self, ep: EntryPoint) -> T:
        plugin = self._check(ep.load(), f"entry point {ep.name!r} ({ep.value})")
        if self._keys is None and self.keys_of(plugin) != (ep.name,):
            raise self._error(
                f"entry point {ep.name!r} names a {self.what} called {self.keys_of(plugin)[0]!r}"
            )
        return plugin

    def _add(self, found: dict[str, T], plugin: T) -> None:
        for key in self.keys_of(plugin):
            if key in found and found[key] is not plugin:
                raise self._error(f"two {self.what}s are named {key!r}")
            found[key] = plugin

    def loaded(self) -> dict[str, T]:
        """Every plug-in that loaded, by name (a copy)."""
        with self._lock:
            if self._loaded is None:
                found: dict[str, T] = {}
                failed: dict[str, str] = {}
                for ep in sorted(self._find(self.group), key=lambda e: e.name):
                    try:
                        plugin = self._from_entry_point(ep)
                    except Exception as error:  # a broken plug-in is reported, never fatal
                        failed[ep.name] = f"cannot load {ep.value}: {type(error).__name__}: {error}"
                        log.error(
                            "%s plug-in %r failed to load: %s", self.what, ep.name, failed[ep.name]
                        )
                        continue
                    self._add(found, plugin)
                for plugin in dict.fromkeys(self._extra.values()):
                    self._add(found, plugin)
                self._failed = failed
                self._loaded = found
            return dict(self._loaded)

    def failed(self) -> dict[str, str]:
        """Plug-ins of the group that failed to load: entry-point name -> why."""
        self.loaded()
        return dict(self._failed)

    def get(self, name: str) -> T:
        """The plug-in called ``name``; `NotFoundError` naming the installed ones, or
        ``error`` when it is installed but failed to load."""
        found = self.loaded()
        try:
            return found[name]
        except KeyError:
            why = self.failed().get(name)
            if why:
                raise self._error(
                    f"{self.what} {name!r} is installed but failed to load ({why})"
                ) from None
            known = ", ".join(sorted(k for k in found if k))
            raise NotFoundError(f"unknown {self.what} {name!r} (installed: {known})") from None

    def register(self, obj: object) -> T:
        """Add a plug-in at run time, as an entry point would; its names must be new."""
        plugin = self._check(obj, repr(obj))
        current = self.loaded()
        for key in self.keys_of(plugin):
            if key in current and current[key] is not plugin:
                raise self._error(f"two {self.what}s are named {key!r}")
        for key in self.keys_of(plugin):
            self._extra[key] = plugin
        self.reset()
        return plugin

    def unregister(self, name: str) -> None:
        """Undo `register` for the plug-in found under ``name`` (entry points stay)."""
        plugin = self._extra.get(name)
        if plugin is not None:
            for key in [k for k, p in self._extra.items() if p is plugin]:
                del self._extra[key]
        self.reset()

    def reset(self) -> None:
        """Read the group again at next use."""
        with self._lock:
            self._loaded = None
