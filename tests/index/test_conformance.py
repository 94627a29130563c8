"""The built-in indexes pass the index conformance kit, and the kit catches a broken one."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from vangnet.index.base import Hit
from vangnet.index.builtins import DigestIndex, PdqMihIndex
from vangnet.index.conformance import check_index
from vangnet.index.hamming_index import HammingIndex
from vangnet.index.registry import get_index, indexes
from vangnet.signals.base import HammingBits, SignalType
from vangnet.signals.exact import Md5Signal, Sha256Signal
from vangnet.signals.pdq import PdqSignal


class Bits64(SignalType, HammingBits):
    name = "bits64_kit"
    index = "hamming"
    bits = 64
    default_threshold = 8

    @classmethod
    def validate(cls, value: str) -> str:
        from vangnet.errors import InvalidHashError

        text = value.strip().lower()
        if len(text) != 16 or any(c not in "0123456789abcdef" for c in text):
            raise InvalidHashError("not 64 bits")
        return text

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        return (int(a, 16) ^ int(b, 16)).bit_count()


def _near(rng: random.Random, value: str, bits: int) -> str:
    n = int(value, 16)
    for b in rng.sample(range(len(value) * 4), bits):
        n ^= 1 << b
    return f"{n:0{len(value)}x}"


def _values(digits: int, max_flip: int) -> list[str]:
    rng = random.Random(digits)
    base = [f"{rng.getrandbits(digits * 4):0{digits}x}" for _ in range(20)]
    return base + [_near(rng, base[0], k) for k in range(1, max_flip, 3)]


def test_builtin_indexes_are_registered() -> None:
    assert {"pdq", "exact", "frames", "hamming", "vector"} <= set(indexes())


def test_pdq_index_conforms() -> None:
    check_index(PdqMihIndex, PdqSignal, _values(64, 40))


def test_digest_index_conforms() -> None:
    check_index(DigestIndex, Md5Signal, _values(32, 2))
    check_index(DigestIndex, Sha256Signal, _values(64, 2))


def test_hamming_index_conforms() -> None:
    check_index(HammingIndex, Bits64, _values(16, 12))


def test_frames_index_conforms() -> None:
    from vangnet.signals.vpdq import VpdqFrame, VpdqRegionsSignal, VpdqSignal, serialize

    pdqs = _values(64, 40)

    def video(hashes: list[str], region: str = "") -> str:
        return serialize([VpdqFrame(i, 100, h, float(i), region) for i, h in enumerate(hashes)])

    videos = [video(pdqs[i : i + 3]) for i in range(0, len(pdqs) - 3, 3)]
    check_index(get_index("frames"), VpdqSignal, videos)
    halves = [video(pdqs[i : i + 2], ("top", "left")[i % 2]) for i in range(0, len(pdqs) - 2, 2)]
    check_index(get_index("frames"), VpdqRegionsSignal, halves)


def test_kit_catches_an_index_that_misses_hits() -> None:
    class Lossy(HammingIndex):
        name = "lossy"

        def query_many(self, values: Sequence[str], threshold: int) -> list[list[Hit]]:
            return [
                [h for h in hits if h[1] == 0] for hits in super().query_many(values, threshold)
            ]

    with pytest.raises(AssertionError, match="expected"):
        check_index(Lossy, Bits64, _values(16, 12))


def test_a_digest_match_ignores_quality_floors() -> None:
    """As before the index protocol: only perceptual hashes have a quality."""
    from vangnet.index.base import MatchRules

    digest = "ab" * 16
    index = DigestIndex.build(Md5Signal, [digest], [7])
    floor = MatchRules(threshold=0, quality_floor=50)
    found = index.lookup([digest], 0, lambda ids: dict.fromkeys(ids, floor), qualities=[10])
    assert [f.id for f in found[0]] == [7]
    pdq = PdqMihIndex.build(PdqSignal, ["cd" * 32], [8])
    low = pdq.lookup(["cd" * 32], 31, lambda ids: dict.fromkeys(ids, floor), qualities=[10])
    assert low == [[]]  # a PDQ query below the bank's quality floor does not match
