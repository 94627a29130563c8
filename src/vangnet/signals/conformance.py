"""Conformance kit for signal types: run it on your plug-in (the built-ins run it too).

Usage, in a test of your package::

    from vangnet.signals.conformance import SignalCases, check_signal_type

    def test_my_signal_conforms() -> None:
        check_signal_type(MySignal, SignalCases(
            valid=["00ff..."], invalid=["", "xyz"], near=[("00ff...", "01ff...")],
            far=[("00ff...", "ff00...")],
        ))

`check_signal_type` raises `AssertionError` naming the first rule broken: the class shape
(name, index, threshold, bank defaults), validation (canonical values are fixed points, bad
values raise `InvalidHashError`), the distance (0 to itself, symmetric, integer, ``near``
pairs within the default threshold and ``far`` pairs beyond it), the hashers it declares
(a picture and some bytes hash to valid values). To check its index with it too, call
``vangnet.index.conformance.check_plugin`` instead (the same cases).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image

from vangnet.config import Settings
from vangnet.errors import InvalidHashError
from vangnet.signals.base import BytesHasher, ImageHasher, SignalType

_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
#: what a bank may store per signal type (`vangnet.banks.validation`)
BANK_RULE_KEYS = frozenset(
    {"threshold", "quality_floor", "dihedral", "query_match_pct", "index_match_pct"}
)


@dataclass(frozen=True)
class SignalCases:
    """The case table of one signal type."""

    valid: Sequence[str]  # values that validate (at least two different ones)
    invalid: Sequence[str] = ("", "not a hash")
    near: Sequence[tuple[str, str]] = ()  # pairs that match at the default threshold
    far: Sequence[tuple[str, str]] = ()  # pairs that do not
    #: (raw, canonical) pairs: validate(raw) == canonical
    canonical: Sequence[tuple[str, str]] = field(default_factory=tuple)


def _fail(cls: type[SignalType], message: str) -> AssertionError:
    return AssertionError(f"signal type {getattr(cls, 'name', cls)!r}: {message}")


def check_signal_type(cls: type[SignalType], cases: SignalCases) -> None:
    """Check ``cls`` against the signal-type contract with ``cases``."""
    if not (isinstance(cls, type) and issubclass(cls, SignalType)):
        raise AssertionError(f"{cls!r} is not a SignalType subclass")
    if not isinstance(getattr(cls, "name", None), str) or not _NAME.fullmatch(cls.name):
        raise _fail(cls, "name must be a lower-case identifier of at most 64 characters")
    if not isinstance(getattr(cls, "index", None), str) or not cls.index:
        raise _fail(cls, "the class variable 'index' must name an index")
    if not isinstance(cls.default_threshold, int) or cls.default_threshold < 0:
        raise _fail(cls, "default_threshold must be an integer >= 0")
    if not cls.content_types:
        raise _fail(cls, "content_types must not be empty")
    defaults = cls.bank_defaults(
        Settings.model_construct()
    )  # the documented defaults, no environment
    if not isinstance(defaults, dict) or set(defaults) - BANK_RULE_KEYS:
        raise _fail(cls, f"bank_defaults may only set {sorted(BANK_RULE_KEYS)}")
    if len(set(cases.valid)) < 2:
        raise _fail(cls, "the case table needs at least two different valid values")

    canonical = []
    for value in cases.valid:
        try:
            once = cls.validate(value)
        except InvalidHashError as error:
            raise _fail(cls, f"valid value {value!r} was refused: {error.message}") from None
        if not isinstance(once, str) or cls.validate(once) != once:
            raise _fail(cls, f"validate is not idempotent on {value!r}")
        canonical.append(once)
    for raw, expected in cases.canonical:
        if cls.validate(raw) != expected:
            raise _fail(cls, f"validate({raw!r}) is not {expected!r}")
    for value in cases.invalid:
        try:
            cls.validate(value)
        except InvalidHashError:
            continue
        except Exception as error:
            raise _fail(
                cls, f"invalid value {value!r} raised {error!r}, not InvalidHashError"
            ) from error
        raise _fail(cls, f"invalid value {value!r} was accepted")

    for a in canonical:
        if cls.distance(a, a) != 0:
            raise _fail(cls, f"distance of {a!r} to itself is not 0")
        for b in canonical:
            d = cls.distance(a, b)
            if not isinstance(d, int) or d < 0 or d != cls.distance(b, a):
                raise _fail(cls, f"distance({a!r}, {b!r}) is not a symmetric integer >= 0")
    for a, b in cases.near:
        if not cls.matches(cls.validate(a), cls.validate(b)):
            raise _fail(cls, f"near pair {a!r}, {b!r} does not match at the default threshold")
    for a, b in cases.far:
        if cls.matches(cls.validate(a), cls.validate(b)):
            raise _fail(cls, f"far pair {a!r}, {b!r} matches at the default threshold")

    if issubclass(cls, ImageHasher):
        picture = Image.linear_gradient("L").convert("RGB").rotate(30)
        value, quality = cls.hash_picture(picture)
        if cls.validate(value) != value:
            raise _fail(cls, "hash_picture returned a value that is not canonical")
        if quality is not None and not 0 <= quality <= 100:
            raise _fail(cls, "hash_picture's quality must be None or 0-100")
    if issubclass(cls, BytesHasher):
        value = cls.hash_bytes(b"vangnet conformance")
        if cls.validate(value) != value:
            raise _fail(cls, "hash_bytes returned a value that is not canonical")
