"""The one registry every plug-in point uses (`vangnet.plugins.Registry`): entry points load
once, a broken plug-in is reported and the others load, names are unique, run-time
registration adds and removes."""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import EntryPoint

import pytest

from vangnet.errors import NotFoundError
from vangnet.plugins import PluginError, Registry


class Thing:
    name = "thing"


class Other:
    name = "other"


def _as_thing(obj: object, label: str) -> type:
    if not (isinstance(obj, type) and hasattr(obj, "name")):
        raise PluginError(f"{label} is not a thing")
    return obj


def _registry(*points: tuple[str, str]) -> Registry[type]:
    def find(group: str) -> Iterable[EntryPoint]:
        return [EntryPoint(name=n, value=v, group=group) for n, v in points]

    return Registry("test.things", what="thing", check=_as_thing, find=find)


def test_loads_entry_points_and_reports_the_broken_ones(caplog: pytest.LogCaptureFixture) -> None:
    registry = _registry(
        ("thing", f"{__name__}:Thing"),
        ("missing", "vangnet_no_such_module:Thing"),
        ("notathing", "os:sep"),  # loads, but is not a plug-in of this point
        ("misnamed", f"{__name__}:Other"),  # its name is not the entry point's
    )
    assert registry.loaded() == {"thing": Thing}
    failed = registry.failed()
    assert set(failed) == {"missing", "notathing", "misnamed"}
    assert "ModuleNotFoundError" in failed["missing"]
    assert "is not a thing" in failed["notathing"]
    assert "called 'other'" in failed["misnamed"]
    assert "thing plug-in 'missing' failed to load" in caplog.text
    with pytest.raises(PluginError, match="installed but failed to load"):
        registry.get("missing")
    with pytest.raises(NotFoundError, match=r"unknown thing 'nothing' \(installed: thing\)"):
        registry.get("nothing")


def test_names_are_unique() -> None:
    twice = _registry(("thing", f"{__name__}:Thing"), ("thing", f"{__name__}:Thing"))
    assert twice.loaded() == {"thing": Thing}  # the same class twice is one plug-in

    class Impostor:
        name = "thing"

    registry = _registry(("thing", f"{__name__}:Thing"))
    with pytest.raises(PluginError, match="two things are named 'thing'"):
        registry.register(Impostor)
    assert registry.loaded() == {"thing": Thing}


def test_register_and_unregister() -> None:
    registry = _registry(("thing", f"{__name__}:Thing"))
    assert registry.register(Other) is Other
    assert registry.get("other") is Other
    registry.unregister("other")
    assert "other" not in registry.loaded()
    with pytest.raises(PluginError):
        registry.register("not a class")


def test_a_plug_in_under_several_keys() -> None:
    class Multi:
        schemes = ("a", "b")

    registry: Registry[type] = Registry(
        "test.multi",
        what="source",
        check=_as_thing_or_multi,
        keys=lambda cls: cls.schemes,
        find=lambda group: [],
    )
    registry.register(Multi)
    assert registry.loaded() == {"a": Multi, "b": Multi}
    registry.unregister("b")
    assert registry.loaded() == {}


def _as_thing_or_multi(obj: object, label: str) -> type:
    if not isinstance(obj, type):
        raise PluginError(f"{label} is not a class")
    return obj
