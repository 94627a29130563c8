"""The built-in signal types pass the conformance kit plug-in authors run (case tables)."""

from __future__ import annotations

import random

import pytest

from vangnet.index.conformance import check_plugin
from vangnet.signals.conformance import SignalCases, check_signal_type
from vangnet.signals.registry import get_signal_type, signal_types
from vangnet.signals.vpdq import VpdqFrame, serialize


def _hex(rng: random.Random, digits: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(digits))


def _flip(value: str, bits: int) -> str:
    n = int(value, 16)
    for b in range(bits):
        n ^= 1 << (b * 7 % (len(value) * 4))
    return f"{n:0{len(value)}x}"


def _video(pdqs: list[str], region: str = "") -> str:
    return serialize([VpdqFrame(i, 100, p, float(i), region) for i, p in enumerate(pdqs)])


RNG = random.Random(11)
PDQ = [_hex(RNG, 64) for _ in range(6)]
CASES: dict[str, SignalCases] = {
    "pdq": SignalCases(
        valid=[*PDQ, _flip(PDQ[0], 10)],
        invalid=["", "zz" * 32, "ab" * 31, "ab" * 33],
        near=[(PDQ[0], _flip(PDQ[0], 31))],
        far=[(PDQ[0], PDQ[1])],
        canonical=[(PDQ[0].upper(), PDQ[0])],
    ),
    "vpdq": SignalCases(
        valid=[_video(PDQ[:3]), _video(PDQ[3:]), _video([_flip(PDQ[0], 5)])],
        invalid=["", "not,a,video"],
        near=[(_video(PDQ[:2]), _video([_flip(PDQ[1], 20)]))],
        far=[(_video(PDQ[:2]), _video(PDQ[4:]))],
    ),
    "vpdq_regions": SignalCases(
        valid=[_video(PDQ[:3], "top"), _video(PDQ[3:], "left"), _video(PDQ[:1], "left")],
        invalid=["", _video(PDQ[:2])],
        near=[(_video(PDQ[:2], "top"), _video([_flip(PDQ[1], 3)], "top"))],
        far=[(_video(PDQ[:2], "top"), _video(PDQ[:2], "bottom"))],
    ),
    "md5": SignalCases(
        valid=[_hex(RNG, 32) for _ in range(4)],
        invalid=["", "g" * 32, "a" * 40],
        far=[("0" * 32, "0" * 31 + "1")],
        canonical=[("A" * 32, "a" * 32)],
    ),
    "sha1": SignalCases(
        valid=[_hex(RNG, 40) for _ in range(4)], invalid=["", "a" * 32], far=[("0" * 40, "1" * 40)]
    ),
    "sha256": SignalCases(
        valid=[_hex(RNG, 64) for _ in range(4)], invalid=["", "a" * 40], far=[("0" * 64, "1" * 64)]
    ),
}


def test_every_builtin_has_a_case_table() -> None:
    assert set(CASES) <= set(signal_types())


@pytest.mark.parametrize("name", sorted(CASES))
def test_builtin_signal_type_conforms(name: str) -> None:
    check_plugin(get_signal_type(name), CASES[name])


def test_kit_catches_a_broken_signal_type() -> None:
    from vangnet.signals.pdq import PdqSignal

    class Sloppy(PdqSignal):
        name = "sloppy"

        @classmethod
        def validate(cls, value: str) -> str:
            return value  # not canonical, accepts anything

    with pytest.raises(AssertionError, match="sloppy"):
        check_signal_type(Sloppy, CASES["pdq"])
