"""PDQ: Meta's 256-bit perceptual image hash, computed by the C++ reference (`pdqhash`).

Pictures (`hash_image`, `dihedral_hashes` given a Pillow image) are first shrunk to fit
within `PDQ_MAX_SIDE` x `PDQ_MAX_SIDE` exactly as Meta's reference tooling does
(``Image.thumbnail``: bicubic, ``reducing_gap=2``), which keeps the hashes within 0-2 bits
of ``python_reference.csv`` / ``bridge_mods.csv`` instead of up to 12. Raw arrays given to
`hash_pixels` (and video frames) are hashed exactly as given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pdqhash
from PIL import Image

from vangnet.errors import InvalidHashError, MediaError
from vangnet.media.image import to_rgb
from vangnet.signals.base import ContentType, ImageHasher, SignalType

if TYPE_CHECKING:
    from vangnet.config import Settings

PDQ_HEX_LENGTH = 64
_HEX = re.compile(r"[0-9a-f]{64}")

#: Order of `dihedral_hashes` (that of ``pdqhash.compute_dihedral``).
DIHEDRAL_NAMES = (
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "flip_vertical",
    "flip_horizontal",
    "rotate90_flip_vertical",
    "rotate90_flip_horizontal",
)

#: The same variants as a match reports them (`vangnet.match.results.Match.transform`).
TRANSFORMS = (
    "identity",
    "rot90",
    "rot180",
    "rot270",
    "flip",
    "mirror",
    "rot90_flip",
    "rot90_mirror",
)

RgbArray = npt.NDArray[np.uint8]

#: Pictures are shrunk to fit within this square before hashing (Meta's reference step).
PDQ_MAX_SIDE = 512


def pdq_distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def bits_to_hex(bits: npt.NDArray[np.generic]) -> str:
    """Pack pdqhash's 256 bit vector into the canonical 64-hex-digit form."""
    packed = np.packbits(np.asarray(bits, dtype=np.uint8).reshape(-1)[:256])
    return packed.tobytes().hex()


def _check_pixels(rgb: npt.NDArray[np.generic]) -> RgbArray:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected a uint8 HxWx3 array, got {rgb.dtype} {rgb.shape}")
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise MediaError(f"image has no pixels ({rgb.shape[1]}x{rgb.shape[0]})")
    return np.ascontiguousarray(rgb)


def hash_pixels(rgb: RgbArray) -> tuple[str, int]:
    """PDQ of an RGB uint8 array (H x W x 3): ``(hex, quality)``."""
    bits, quality = pdqhash.compute(_check_pixels(rgb))
    return bits_to_hex(bits), int(quality)


def fit_for_pdq(img: Image.Image) -> Image.Image:
    """``img`` shrunk to fit within `PDQ_MAX_SIDE` squared the way Meta's reference does
    (``Image.thumbnail`` defaults: bicubic with ``reducing_gap=2``); smaller pictures and
    ``img`` itself are left unchanged."""
    if img.width <= PDQ_MAX_SIDE and img.height <= PDQ_MAX_SIDE:
        return img
    # What ``img.copy().thumbnail(...)`` gives (the size rounded as Pillow's thumbnail does,
    # no draft on a loaded picture), without a full-size copy of a large picture.
    size = _thumbnail_size(img.width, img.height, PDQ_MAX_SIDE)
    return img.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)


def _thumbnail_size(width: int, height: int, side: int) -> tuple[int, int]:
    """The size ``Image.thumbnail((side, side))`` gives a ``width`` x ``height`` picture."""

    def round_aspect(number: float, key: Callable[[int], float]) -> int:
        return max(min(math.floor(number), math.ceil(number), key=key), 1)

    x, y = side, side
    aspect = width / height
    if x / y >= aspect:
        x = round_aspect(y * aspect, key=lambda n: abs(aspect - n / y))
    else:
        y = round_aspect(x / aspect, key=lambda n: 0 if n == 0 else abs(aspect - x / n))
    return x, y


def _rgb_array(img: Image.Image | RgbArray) -> RgbArray:
    if isinstance(img, Image.Image):
        if img.mode != "RGB":
            img = to_rgb(img)
        return np.asarray(fit_for_pdq(img), dtype=np.uint8)
    return img


def hash_image(img: Image.Image) -> tuple[str, int]:
    """PDQ of a decoded picture (any mode; converted to RGB, then shrunk to fit within
    `PDQ_MAX_SIDE` squared by `fit_for_pdq`): ``(hex, quality)``."""
    return hash_pixels(_rgb_array(img))


def dihedral_hashes(img: Image.Image | RgbArray) -> tuple[list[str], int]:
    """The 8 rotation/flip variants' PDQ hashes (order: `DIHEDRAL_NAMES`) and the quality.

    A Pillow picture is prepared as in `hash_image`; an array is hashed as given."""
    vectors, quality = pdqhash.compute_dihedral(_check_pixels(_rgb_array(img)))
    return [bits_to_hex(v) for v in vectors], int(quality)


class PdqSignal(SignalType, ImageHasher):
    name = "pdq"
    index = "pdq"
    #: PDQ's usual match threshold (bits of 256), the one place this value is defined
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

    @classmethod
    def bank_defaults(cls, settings: Settings) -> dict[str, Any]:
        return {
            "threshold": settings.pdq_threshold,
            "quality_floor": settings.pdq_quality_floor,
            "dihedral": False,
        }

    @classmethod
    def hash_picture(cls, img: Image.Image) -> tuple[str, int | None]:
        return hash_image(img)
