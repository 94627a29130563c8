"""Fixtures for bank tests."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import entry_points

import pytest

from vangnet.signals import registry
from vangnet.signals.base import SignalType


@pytest.fixture(autouse=True)
def _loadable_signal_types(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Use the installed signal types; while a declared plug-in module is not written yet
    (e.g. vpdq), fall back to the ones that import, so these tests do not depend on it."""
    try:
        registry.signal_types()
    except ImportError:
        loaded: dict[str, type[SignalType]] = {}
        for ep in entry_points(group=registry.GROUP):
            try:
                loaded[ep.name] = ep.load()
            except ImportError:
                continue
        monkeypatch.setattr(registry, "signal_types", lambda: loaded)
    yield
