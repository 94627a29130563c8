"""The signal plug-in interface: built-ins are registered through entry points, and a new
photo hasher is picked up by `hash_bytes` with no change elsewhere."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

import vangnet.signals.hashing
from vangnet.config import get_settings
from vangnet.errors import InvalidHashError, NotFoundError
from vangnet.index.registry import indexes
from vangnet.signals.base import BytesHasher, HammingBits, ImageHasher, SignalType
from vangnet.signals.registry import get_signal_type, signal_types


class TinyAverageHash(SignalType, HammingBits, ImageHasher):
    """A 64-bit average hash: small enough to live in a test, well under 100 lines."""

    name = "tiny_ahash"
    index = "hamming"
    bits = 64
    default_threshold = 10

    @classmethod
    def validate(cls, value: str) -> str:
        text = value.strip().lower()
        if len(text) != 16 or any(c not in "0123456789abcdef" for c in text):
            raise InvalidHashError("not a tiny_ahash value")
        return text

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        return (int(a, 16) ^ int(b, 16)).bit_count()

    @classmethod
    def hash_picture(cls, img: Image.Image) -> tuple[str, int | None]:
        small = img.convert("L").resize((8, 8))
        pixels = [int(p) for p in small.tobytes()]
        mean = sum(pixels) / 64
        bits = sum(1 << i for i, p in enumerate(pixels) if p > mean)
        return f"{bits:016x}", None


def test_builtins_are_registered() -> None:
    installed = signal_types()
    assert {"pdq", "vpdq", "md5", "sha1", "sha256"} <= set(installed)
    for name, cls in installed.items():
        assert cls.name == name and cls.index in indexes()
    assert issubclass(installed["pdq"], ImageHasher)
    assert all(issubclass(installed[n], BytesHasher) for n in ("md5", "sha1", "sha256"))
    with pytest.raises(NotFoundError):
        get_signal_type("no_such_signal")


def test_new_image_hasher_is_used_by_hash_bytes(
    monkeypatch: pytest.MonkeyPatch, shared_data: Path
) -> None:
    extended = {**signal_types(), TinyAverageHash.name: TinyAverageHash}
    monkeypatch.setattr(vangnet.signals.hashing, "signal_types", lambda: extended)
    photo = shared_data / "photos/public-domain/skimage_astronaut.png"
    result = vangnet.signals.hashing.hash_bytes(photo.read_bytes(), settings=get_settings())
    assert TinyAverageHash.validate(result["tiny_ahash"]) == result["tiny_ahash"]
    assert "tiny_ahash_quality" not in result  # this hasher has no quality
    assert result["pdq"] and result["md5"]  # the built-ins still run
    values = vangnet.signals.hashing.signal_values(result)
    assert values["tiny_ahash"] == result["tiny_ahash"]

    buf = io.BytesIO()
    Image.open(photo).convert("RGB").resize((300, 300)).save(buf, "JPEG", quality=70)
    again = vangnet.signals.hashing.hash_bytes(buf.getvalue(), settings=get_settings())
    assert TinyAverageHash.distance(result["tiny_ahash"], again["tiny_ahash"]) <= 10
