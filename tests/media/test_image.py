"""Image decoding: colour modes, EXIF orientation, animation, limits, bad input."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from conftest import install_media_limits
from vangnet.errors import EmptyInputError, MediaError, MediaTooLargeError, UnsupportedMediaError
from vangnet.media.image import FAST_MIN_SIDE, decode_image, to_rgb
from vangnet.signals.pdq import hash_image, pdq_distance

MODES_DIR = "threatexchange/pdq/data/misc-images/modes"
EXIF_DIR = "threatexchange/pdq/data/reg-test-input/exif-rotn"
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def png_bytes(img: Image.Image, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR chunk (valid CRC) claiming the given size, and no pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def original(shared_data: Path) -> Image.Image:
    return decode_image((shared_data / MODES_DIR / "original.jpg").read_bytes(), fast=False)[0]


@pytest.fixture(scope="module")
def original_pdq(original: Image.Image) -> str:
    return hash_image(original)[0]


@pytest.mark.parametrize(
    "name",
    sorted(
        [
            "1.png",
            "CMYK.jpg",
            "F.webp",
            "HSV.webp",
            "I.webp",
            "L.png",
            "LA.png",
            "LAB.webp",
            "P.png",
            "PA.webp",
            "RGB.jpg",
            "RGBA.png",
            "YCbCr.jpg",
        ]
    ),
)
def test_mode_files_match_original(shared_data: Path, original_pdq: str, name: str) -> None:
    """near_duplicates.csv group pdq_bridge_colormodes: expected 'match' (<= 31)."""
    picture = decode_image((shared_data / MODES_DIR / name).read_bytes())[0]
    assert picture.mode == "RGB"
    assert pdq_distance(hash_image(picture)[0], original_pdq) <= 31


def _in_mode(img: Image.Image, mode: str) -> Image.Image:
    if mode == "LAB":
        out = ImageCms.applyTransform(
            img,
            ImageCms.buildTransform(
                ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB"
            ),
        )
        assert out is not None
        return out
    if mode == "I;16":
        return Image.fromarray(np.asarray(img.convert("L"), dtype=np.uint16) * 257)
    if mode == "I":
        return Image.fromarray(np.asarray(img.convert("L"), dtype=np.int32) * 1000 - 5000)
    if mode == "F":
        return Image.fromarray(np.asarray(img.convert("L"), dtype=np.float32) / 255.0)
    if mode == "PA":
        return img.convert("P").convert("PA")
    return img.convert(mode)


@pytest.mark.parametrize(
    "mode",
    ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr", "I", "I;16", "F", "HSV", "LAB"],
)
def test_every_pil_mode_converts_to_matching_rgb(
    original: Image.Image, original_pdq: str, mode: str
) -> None:
    converted = to_rgb(_in_mode(original, mode))
    assert converted.mode == "RGB" and converted.size == original.size
    limit = 31 if mode == "1" else 16
    assert pdq_distance(hash_image(converted)[0], original_pdq) <= limit


def test_alpha_is_composited_on_white() -> None:
    clear = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    assert to_rgb(clear).getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize(("rotation", "size"), [("3", (4032, 3024)), ("6", (3024, 4032))])
def test_exif_orientation_applied(shared_data: Path, rotation: str, size: tuple[int, int]) -> None:
    data = (shared_data / EXIF_DIR / f"exif-rotn-{rotation}.jpg").read_bytes()
    assert decode_image(data, fast=False)[0].size == size


def test_exif_orientation_matches_in_memory_rotation(original: Image.Image) -> None:
    """A picture stored rotated with an EXIF Orientation tag hashes like the upright one."""
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    stored = png_bytes(original.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif, quality=95)
    upright = decode_image(stored)[0]
    assert upright.size == original.size
    assert pdq_distance(hash_image(upright)[0], hash_image(original)[0]) <= 31


@pytest.mark.xfail(
    strict=True,
    reason="near_duplicates.csv pdq_exif_orientation pairs are separate shots of one scene "
    "(different framing), PDQ distance 114-136 even over all 8 dihedral variants",
)
@pytest.mark.parametrize("rotation", ["3", "6", "8"])
def test_exif_rotn_pairs_match_after_transpose(shared_data: Path, rotation: str) -> None:
    base = hash_image(decode_image((shared_data / EXIF_DIR / "exif-rotn-1.jpg").read_bytes())[0])
    rotated = decode_image((shared_data / EXIF_DIR / f"exif-rotn-{rotation}.jpg").read_bytes())[0]
    assert pdq_distance(hash_image(rotated)[0], base[0]) <= 31


def test_fast_decode_is_smaller_but_same_orientation(shared_data: Path) -> None:
    data = (shared_data / EXIF_DIR / "exif-rotn-6.jpg").read_bytes()
    fast = decode_image(data)[0]
    full = decode_image(data, fast=False)[0]
    assert min(fast.size) >= 512 and fast.width * full.height == full.width * fast.height
    assert fast.width < full.width


def _all_photos(root: Path) -> list[Path]:
    dirs = [root / "photos", root / "threatexchange" / "pdq" / "data"]
    return [p for d in dirs for p in sorted(d.rglob("*")) if p.suffix.lower() in PHOTO_SUFFIXES]


def test_fast_decode_within_8_bits_of_full_decode_on_every_photo(shared_data: Path) -> None:
    """Both through the production pipeline (`hash_image` fits within 512x512); measured 0
    bits on every photo. Only JPEGs whose smaller side is >= 2 * FAST_MIN_SIDE take the
    reduced decode; every other photo goes through the identical full decode (checked on the
    headers only), so only those are decoded and compared."""
    photos = _all_photos(shared_data)
    assert len(photos) > 500
    reduced = []
    for path in photos:
        with Image.open(path) as img:
            if img.format == "JPEG" and min(img.size) >= 2 * FAST_MIN_SIDE:
                reduced.append(path)
    assert len(reduced) >= 4  # the 12 MP phone photos
    for path in reduced:
        data = path.read_bytes()
        fast = hash_image(decode_image(data)[0])[0]
        full = hash_image(decode_image(data, fast=False)[0])[0]
        distance = pdq_distance(fast, full)
        assert distance <= 8, path


def test_animated_first_frame_by_default_all_frames_on_request() -> None:
    frames = [Image.new("RGB", (64, 64), c) for c in ("red", "green", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100)
    data = buf.getvalue()
    assert len(decode_image(data)) == 1
    decoded = decode_image(data, all_frames=True)
    assert [f.getpixel((1, 1)) for f in decoded] == [(255, 0, 0), (0, 128, 0), (0, 0, 255)]


# --- bad input: each case has its own error class / code, and nothing warns ----------


def test_zero_bytes() -> None:
    with pytest.raises(EmptyInputError) as err:
        decode_image(b"")
    assert err.value.code == "empty_input"


@pytest.mark.parametrize("data", [b"just some text\n" * 10, np.random.default_rng(1).bytes(4096)])
def test_non_image(data: bytes) -> None:
    with pytest.raises(UnsupportedMediaError) as err:
        decode_image(data)
    assert err.value.code == "unsupported_media_type"


def test_wrong_type_video_given_to_image_decoder(shared_data: Path) -> None:
    data = (shared_data / "threatexchange/video/sample-videos/doorknob-hd-no-bar.mp4").read_bytes()
    with pytest.raises(UnsupportedMediaError, match="video"):
        decode_image(data)


def test_corrupt_jpeg() -> None:
    with pytest.raises(MediaError) as err:
        decode_image(b"\xff\xd8\xff\xe0" + b"\x13\x37" * 500)
    assert type(err.value) is MediaError and err.value.code == "unreadable_media"


@pytest.mark.parametrize("name", ["bridge-mods/aaa-orig.jpg", "misc-images/c.png"])
def test_truncated_image(shared_data: Path, name: str) -> None:
    data = (shared_data / "threatexchange/pdq/data" / name).read_bytes()
    with pytest.raises(MediaError, match="truncated") as err:
        decode_image(data[: len(data) // 2], fast=False)
    assert type(err.value) is MediaError


def test_decompression_bomb_png_header() -> None:
    with pytest.raises(MediaTooLargeError) as err:
        decode_image(png_header(100_000, 100_000))
    assert err.value.code == "media_too_large"


def test_enormous_dimensions_over_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from vangnet.config import reset_settings

    monkeypatch.setenv("VANGNET_MAX_IMAGE_PIXELS", "10000")
    reset_settings()
    install_media_limits()
    with pytest.raises(MediaTooLargeError, match="max_image_pixels"):
        decode_image(png_bytes(Image.new("RGB", (200, 200))))


def test_pil_bomb_warning_range_does_not_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    """Between Pillow's warning level (~89 MP) and our limit: no warning leaks (-W error).
    The default limit (64 MP) is below Pillow's level, so the limit is raised here."""
    from vangnet.config import reset_settings

    monkeypatch.setenv("VANGNET_MAX_IMAGE_PIXELS", "150000000")
    reset_settings()
    install_media_limits()
    with pytest.raises(MediaError) as err:
        decode_image(png_header(10_000, 10_000))  # 100 MP claimed, no pixel data
    assert type(err.value) is MediaError
