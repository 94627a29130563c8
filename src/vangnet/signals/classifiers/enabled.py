"""Which classifiers a deployment runs (the ``classifiers`` setting), built once per process.

Left unset, the setting is the bundled default set (`DEFAULT_SET`), of which those that are
installed run (a bundled classifier may come as an optional extra). Set, every name must be
installed: one that is not is a settings error (`ValidationError`, exit code 6, as for other
bad settings) naming the installed ones. Models load once per process, on first use (a live
monitor builds them when it starts), and are shared by every caller; a classifier whose model
fails to load is logged and stays enabled as a stand-in that fails every picture, so each
reading says why it has no score.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable, Sequence
from typing import Any

from vangnet.config import Settings
from vangnet.errors import ValidationError
from vangnet.signals.classifiers.base import (
    Classifier,
    ClassifierError,
    Pixels,
    Score,
    classifier_types,
    failed_classifiers,
)

log = logging.getLogger(__name__)

#: The bundled classifiers a deployment runs unless its ``classifiers`` setting says otherwise.
DEFAULT_SET = ("opennsfw", "faces")

_lock = threading.Lock()
_instances: dict[tuple[type[Classifier], Hashable], Classifier] = {}
_start_failed: dict[str, str] = {}


def enabled_names(settings: Settings) -> tuple[str, ...]:
    """The names of the classifiers ``settings`` enable, in order.

    Raises `ValidationError` when the setting names a classifier that is not installed (or
    failed to load)."""
    names = tuple(dict.fromkeys(settings.classifiers))
    installed = classifier_types()
    if "classifiers" not in settings.model_fields_set:
        return tuple(n for n in names if n in installed)
    broken = failed_classifiers()
    for name in names:
        if name in installed:
            continue
        if name in broken:
            why = f"classifier {name!r} is installed but failed to load ({broken[name]})"
        else:
            have = ", ".join(sorted(installed)) or "none"
            why = f"classifier {name!r} is not installed (installed: {have})"
        raise ValidationError(
            f"invalid configuration: VANGNET_CLASSIFIERS: {why}; `vangnet plugins` lists them"
        )
    return names


def _unstarted(cls: type[Classifier], why: str) -> Classifier:
    """A stand-in for a classifier that could not be started: it fails every picture."""

    def score_many(self: Classifier, pictures: Sequence[Pixels]) -> list[Score]:
        raise ClassifierError(f"classifier {cls.name!r} could not be started: {why}")

    def init(self: Classifier) -> None:
        pass

    namespace: dict[str, Any] = {
        "name": cls.name,
        "version": cls.version,
        "measures": cls.measures,
        "description": cls.description,
        "licence": cls.licence,
        "max_side": cls.max_side,
        "batch_size": cls.batch_size,
        "__init__": init,
        "score_many": score_many,
    }
    stand_in: type[Classifier] = type(f"Unstarted{cls.__name__}", (Classifier,), namespace)
    return stand_in()


def _instance(cls: type[Classifier], settings: Settings) -> Classifier:
    key = (cls, cls.settings_key(settings))
    found = _instances.get(key)
    if found is None:
        try:
            found = cls.from_settings(settings)
        except Exception as error:
            log.exception("classifier %s could not be started", cls.name)
            _start_failed[cls.name] = f"{type(error).__name__}: {error}"
            found = _unstarted(cls, _start_failed[cls.name])
        _instances[key] = found
    return found


def enabled_classifiers(settings: Settings) -> tuple[Classifier, ...]:
    """One instance of each classifier ``settings`` enable (`enabled_names`), built on first
    use and shared by every later call in this process."""
    names = enabled_names(settings)
    installed = classifier_types()
    with _lock:
        return tuple(_instance(installed[name], settings) for name in names)


def start_failures() -> dict[str, str]:
    """Classifiers of this process whose model could not be started: name -> why."""
    with _lock:
        return dict(_start_failed)


def forget_instances() -> None:
    """Drop the classifiers built so far (tests that change the registry)."""
    with _lock:
        _instances.clear()
        _start_failed.clear()
