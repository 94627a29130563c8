"""The signal-type plug-in interface.

A signal type is a kind of hash: how to validate and normalise a value, how far apart two
values are, the default match threshold, and which index serves it (`SignalType.index`, a
name in `vangnet.index.registry`). Hashers are capability mixins: a signal that can hash a
file's bytes implements `BytesHasher`, one that hashes a decoded picture implements
`ImageHasher`. What an index needs of its values is a mixin too: `FrameHashes` (the frame
index), `HammingBits` (the generic Hamming index), `vangnet.signals.vectors.FloatVector`
(the vector index).

A new signal type is a class of well under 100 lines registered under the entry-point group
``vangnet.signals`` or with `vangnet.signals.registry.register_signal_type`; check it with
`vangnet.signals.conformance`. See ``docs/plugins.md``.

`ContentType` (photo or video) is what `vangnet.media` sniffs; it is re-exported here because
a signal type declares the content types it hashes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from vangnet.media.sniff import ContentType as ContentType  # re-exported: signal types use it

if TYPE_CHECKING:
    from PIL import Image

    from vangnet.config import Settings


@dataclass(frozen=True)
class VpdqFrame:
    """One hashed frame of a per-frame signal (`FrameHashes`): decode-order frame number, PDQ
    quality, PDQ hex, seconds, and the part of the frame hashed (``""`` for the whole frame,
    else one of `vangnet.signals.vpdq.REGIONS`)."""

    frame: int
    quality: int
    pdq: str
    timestamp: float
    region: str = ""


class SignalType(ABC):
    """One kind of hash. Subclasses set the class variables and implement two methods."""

    name: ClassVar[str]
    #: the index that serves this type, by its registry name ("pdq", "exact", "frames",
    #: "hamming", "vector" or a plug-in's)
    index: ClassVar[str]
    #: the largest distance that still matches, in this type's unit, when a bank sets none
    default_threshold: ClassVar[int] = 0
    content_types: ClassVar[frozenset[ContentType]] = frozenset(ContentType)
    description: ClassVar[str] = ""

    @classmethod
    @abstractmethod
    def validate(cls, value: str) -> str:
        """Return the canonical form of ``value`` or raise `InvalidHashError`."""

    @classmethod
    @abstractmethod
    def distance(cls, a: str, b: str) -> int:
        """Distance between two canonical values (0 = identical)."""

    @classmethod
    def matches(cls, a: str, b: str, threshold: int | None = None) -> bool:
        limit = cls.default_threshold if threshold is None else threshold
        return cls.distance(a, b) <= limit

    @classmethod
    def bank_defaults(cls, settings: Settings) -> dict[str, Any]:
        """The rules a new bank stores for this type (threshold, quality floor, ...); by
        default none, so matching uses `default_threshold`."""
        return {}


class BytesHasher(ABC):
    """Capability: hashes the raw bytes of any file (exact signals)."""

    @classmethod
    @abstractmethod
    def hash_bytes(cls, data: bytes) -> str: ...


class ImageHasher(ABC):
    """Capability: hashes a decoded picture (any mode; EXIF orientation already applied).

    `vangnet.signals.hashing.hash_bytes` calls every installed image hasher on each photo and
    reports its value under the signal's name (and the quality, when there is one, as
    ``<name>_quality``).
    """

    @classmethod
    @abstractmethod
    def hash_picture(cls, img: Image.Image) -> tuple[str, int | None]:
        """``(value, quality 0-100 or None)``."""


class FrameHashes(ABC):
    """Capability of per-frame signal types (index ``frames``): a value is a list of hashed
    frames.

    The frame index and the matcher read every such signal through these two methods, so a
    new per-frame signal needs no change to either."""

    #: Other per-frame signal types whose banked videos this type's query frames are also
    #: matched against (the same pictures hashed another way, e.g. ``vpdq`` and
    #: ``vpdq_cropped``), and whose query frames are matched against this type's index.
    matched_with: ClassVar[tuple[str, ...]] = ()

    @classmethod
    @abstractmethod
    def frames(cls, value: str) -> list[VpdqFrame]:
        """The frames of a value; raises `InvalidHashError`."""

    @classmethod
    @abstractmethod
    def serialize(cls, frames: list[VpdqFrame]) -> str:
        """The stored value for ``frames``."""


class HammingBits:
    """Capability of types served by the generic ``hamming`` index: a value is ``bits`` bits
    written as ``bits / 4`` lowercase hexadecimal digits; the distance is the Hamming
    distance."""

    bits: ClassVar[int]
