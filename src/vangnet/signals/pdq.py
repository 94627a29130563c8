"""PDQ: Meta's 256-bit perceptual image hash, computed by the C++ reference (`pdqhash`)."""

from __future__ import annotations

import re

from vangnet.errors import InvalidHashError
from vangnet.signals.base import ContentType, IndexKind, SignalType

PDQ_HEX_LENGTH = 64
_HEX = re.compile(r"[0-9a-f]{64}")


def pdq_distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


class PdqSignal(SignalType):
    name = "pdq"
    index_kind = IndexKind.HAMMING
    default_threshold = 31
    content_types = frozenset({ContentType.PHOTO})
    description = "PDQ perceptual hash of a photo (256 bits, Hamming distance), with quality."

    @classmethod
    def validate(cls, value: str) -> str:
        text = value.strip().lower() if isinstance(value, str) else ""
        if not _HEX.fullmatch(text):
            raise InvalidHashError("not a PDQ hash: expected 64 hexadecimal characters")
        return text

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        return pdq_distance(a, b)
