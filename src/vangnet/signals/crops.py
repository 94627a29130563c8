"""PDQs of standard crops of a banked picture: candidates for the wider net, never matches.

PDQ moves far when a picture is cropped: 10 % cut from the sides puts a copy 72-134 bits
from the original, 25 % 110-146 bits, beyond any radius that is safe to look up. It moves
just as far when a crop is shifted: a 75 % crop moved by 1 % of the picture's side is about
31 bits from the unmoved one, by 2 % about 60, by 3 % about 86 (measured on 30 photos of
../shared/data). So a bank keeps, for each picture banked from its pixels, the PDQs of a
grid of crops: ``share`` of each side kept, the crop slid across the picture in ``steps``
even positions along each axis (`GRIDS`). A query whose PDQ is within the crop radius
(``pdq_crop_threshold``) of one of them is a candidate; the matcher keeps it only when the
banked picture's local features verify it (`vangnet.signals.features`).

Packed (`KIND`): the 32-byte PDQs one after another, in `crop_boxes` order; the crop a hash
belongs to is given by its position. A changed grid is a new kind.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from vangnet.signals.pdq import PDQ_MAX_SIDE, hash_image

#: Kind of the packed crop hashes (`vangnet.banks.features` keeps them next to the features).
KIND = "pdq-crops-v1"

#: (share of each side kept, positions per axis): 75 % crops on a 7 x 7 grid, 90 % crops on
#: a 3 x 3 grid (58 PDQs a picture, 1,856 bytes); odd grids hold the centre and corner crops.
#: Measured on the robustness bench's photos (docs/matching.md, "The wider net").
GRIDS: tuple[tuple[float, int], ...] = ((0.75, 7), (0.9, 3))

_BYTES = 32

#: A crop as fractions of the picture: (left, top, width, height).
CropBox = tuple[float, float, float, float]


def crop_boxes(grids: Sequence[tuple[float, int]] = GRIDS) -> list[CropBox]:
    """The standard crops, in packing order: per grid, rows top to bottom, left to right."""
    out: list[CropBox] = []
    for share, steps in grids:
        slack = 1.0 - share
        places = [slack * i / (steps - 1) for i in range(steps)] if steps > 1 else [slack / 2]
        out.extend((x, y, share, share) for y in places for x in places)
    return out


def crop_hashes(picture: Image.Image, grids: Sequence[tuple[float, int]] = GRIDS) -> list[str]:
    """The PDQ (hex) of each standard crop of a decoded picture, in `crop_boxes` order.

    The picture is first shrunk so that the largest crop fits PDQ's own 512-pixel input (a
    crop of the full-size picture would be shrunk to it anyway)."""
    boxes = crop_boxes(grids)
    if picture.mode != "RGB":
        picture = picture.convert("RGB")
    largest = max((b[2] for b in boxes), default=1.0)
    side = PDQ_MAX_SIDE / largest
    if max(picture.size) > side:
        scale = side / max(picture.size)
        size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        picture = picture.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)
    width, height = picture.size
    out = []
    for x, y, w, h in boxes:
        left, top = round(x * width), round(y * height)
        box = (left, top, left + max(1, round(w * width)), top + max(1, round(h * height)))
        out.append(hash_image(picture.crop(box))[0])
    return out


def pack(hashes: Sequence[str]) -> bytes:
    """The hex PDQs as a bank keeps them (`KIND`)."""
    return b"".join(bytes.fromhex(h) for h in hashes)


def unpack(data: bytes) -> list[str]:
    """Inverse of `pack`."""
    if len(data) % _BYTES:
        raise ValueError(f"packed crop hashes: {len(data)} bytes is not a multiple of 32")
    return [data[i : i + _BYTES].hex() for i in range(0, len(data), _BYTES)]


def picture_crops(picture: Image.Image) -> bytes:
    """The packed standard-crop PDQs of a decoded picture, as a bank keeps them."""
    return pack(crop_hashes(picture))
