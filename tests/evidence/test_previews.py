"""Wellness previews: blurred greyscale thumbnails of images and videos, made in memory."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from conftest import install_media_limits
from vangnet.config import reset_settings
from vangnet.errors import (
    EmptyInputError,
    MediaError,
    MediaTooLargeError,
    UnsupportedMediaError,
    ValidationError,
)
from vangnet.evidence.previews import is_video, poster, preview

ASTRONAUT = Path("photos/public-domain/skimage_astronaut.png")
BRIDGE = Path("threatexchange/pdq/data/bridge-mods/aaa-orig.jpg")
SMALL = Path("photos/bsds500/val/3096.jpg")  # 481x321
EXIF_1 = Path("threatexchange/pdq/data/reg-test-input/exif-rotn/exif-rotn-1.jpg")
EXIF_6 = Path("threatexchange/pdq/data/reg-test-input/exif-rotn/exif-rotn-6.jpg")
VIDEO = Path("threatexchange/video/sample-videos/doorknob-hd-no-bar.mp4")  # 1280x720
SQUARE_VIDEO = Path("threatexchange/video/sample-videos/test-padded-dimensions.mp4")


def _read(shared_data: Path, rel: Path) -> bytes:
    return (shared_data / rel).read_bytes()


def _open(jpeg: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(jpeg))
    assert img.format == "JPEG"
    img.load()
    return img


def _grey(jpeg: bytes) -> npt.NDArray[np.float64]:
    return np.asarray(_open(jpeg).convert("L"), dtype=np.float64)


def _laplacian_variance(grey: npt.NDArray[np.float64]) -> float:
    """High-frequency energy: variance of the 4-neighbour Laplacian."""
    lap = 4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    return float(lap.var())


@pytest.mark.parametrize("rel", [ASTRONAUT, BRIDGE, VIDEO])
def test_blurred_preview_has_little_detail_left(shared_data: Path, rel: Path) -> None:
    data = _read(shared_data, rel)
    clear = preview(data, blur=0, greyscale=False)
    blurred = preview(data)
    assert _open(clear).mode == "RGB"
    assert _open(blurred).size == _open(clear).size
    sharp, soft = _laplacian_variance(_grey(clear)), _laplacian_variance(_grey(blurred))
    assert sharp > 20.0
    assert soft < sharp / 20, (sharp, soft)
    # a light blur removes less than the default one
    light = _laplacian_variance(_grey(preview(data, blur=4)))
    assert soft < light < sharp


def test_greyscale_preview_has_equal_channels(shared_data: Path) -> None:
    data = _read(shared_data, ASTRONAUT)  # a colourful photo
    for jpeg in (preview(data), preview(data, blur=0)):
        rgb = np.asarray(_open(jpeg).convert("RGB"))
        assert np.array_equal(rgb[..., 0], rgb[..., 1])
        assert np.array_equal(rgb[..., 1], rgb[..., 2])
    coloured = np.asarray(_open(preview(data, greyscale=False)).convert("RGB")).astype(int)
    assert np.abs(coloured[..., 0] - coloured[..., 2]).mean() > 5


@pytest.mark.parametrize("max_side", [16, 120, 480, 1024])
def test_size_is_bounded_and_aspect_kept(shared_data: Path, max_side: int) -> None:
    data = _read(shared_data, BRIDGE)
    width, height = Image.open(io.BytesIO(data)).size
    out = _open(preview(data, max_side=max_side))
    assert max(out.size) == min(max_side, max(width, height))
    assert out.size[0] / out.size[1] == pytest.approx(width / height, rel=0.1)


def test_small_images_are_not_enlarged(shared_data: Path) -> None:
    data = _read(shared_data, SMALL)
    assert _open(preview(data, max_side=2000)).size == (481, 321)


def test_blur_looks_the_same_at_any_size(shared_data: Path) -> None:
    data = _read(shared_data, ASTRONAUT)
    small = _grey(preview(data, max_side=120))
    large = _open(preview(data, max_side=480)).resize(
        (small.shape[1], small.shape[0]), Image.Resampling.LANCZOS
    )
    difference = np.abs(np.asarray(large, dtype=np.float64) - small).mean()
    assert difference < 3.0, difference


@pytest.mark.parametrize(("rel", "size"), [(EXIF_1, (480, 360)), (EXIF_6, (360, 480))])
def test_exif_orientation_gives_the_displayed_shape(
    shared_data: Path, rel: Path, size: tuple[int, int]
) -> None:
    assert _open(preview(_read(shared_data, rel))).size == size


def test_exif_orientation_is_applied(shared_data: Path) -> None:
    upright = Image.open(io.BytesIO(_read(shared_data, BRIDGE))).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned 90 degrees; viewers rotate it back
    buf = io.BytesIO()
    upright.transpose(Image.Transpose.ROTATE_90).save(buf, "JPEG", exif=exif, quality=95)
    expected = _grey(preview(_read(shared_data, BRIDGE), blur=0))
    shown = _grey(preview(buf.getvalue(), blur=0))
    assert shown.shape == expected.shape
    assert np.abs(shown - expected).mean() < 3.0


def test_output_carries_no_metadata_of_the_original(shared_data: Path) -> None:
    data = _read(shared_data, EXIF_6)
    assert Image.open(io.BytesIO(data)).getexif()  # the original has EXIF
    for jpeg in (preview(data), preview(data, blur=0, greyscale=False), poster(data)):
        out = _open(jpeg)
        assert not out.getexif()
        assert "icc_profile" not in out.info
        assert b"Exif" not in jpeg[:4096]


@pytest.mark.parametrize(("rel", "size"), [(VIDEO, (480, 270)), (SQUARE_VIDEO, (480, 480))])
def test_video_preview_and_poster(shared_data: Path, rel: Path, size: tuple[int, int]) -> None:
    data = _read(shared_data, rel)
    assert is_video(data)
    blurred = _open(preview(data))
    assert blurred.mode == "L"
    assert blurred.size == size
    clear_poster = _open(poster(data))
    assert clear_poster.mode == "RGB"
    assert max(clear_poster.size) <= 1280
    small_poster = _open(poster(data, max_side=480))
    assert small_poster.size == size
    assert _laplacian_variance(
        np.asarray(small_poster.convert("L"), dtype=np.float64)
    ) > 10 * _laplacian_variance(np.asarray(blurred, dtype=np.float64))


def test_poster_of_an_image_is_the_clear_image(shared_data: Path) -> None:
    data = _read(shared_data, BRIDGE)
    assert not is_video(data)
    assert poster(data, max_side=480) == preview(data, blur=0, greyscale=False, max_side=480)


def test_is_video_never_raises() -> None:
    assert not is_video(b"")
    assert not is_video(b"not media at all")
    assert not is_video(b"\x89PNG\r\n\x1a\n")


def _png_header(width: int, height: int) -> bytes:
    """A PNG claiming ``width`` x ``height`` with almost no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_bad_input_raises_media_errors(shared_data: Path) -> None:
    photo = _read(shared_data, BRIDGE)
    video = _read(shared_data, VIDEO)
    with pytest.raises(EmptyInputError):
        preview(b"")
    with pytest.raises(UnsupportedMediaError):
        preview(b"%PDF-1.7 definitely not a picture")
    with pytest.raises(MediaTooLargeError):
        preview(_png_header(100_000, 100_000))  # a decompression bomb's header
    with pytest.raises(MediaError):
        preview(photo[: len(photo) // 3])  # truncated JPEG
    with pytest.raises(MediaError):
        preview(photo[:200])  # only the header's start
    with pytest.raises(MediaError):
        preview(video[:2000])  # truncated MP4
    with pytest.raises(MediaError):
        poster(b"\xff\xd8\xff" + b"\x00" * 64)


def test_pixel_limit_from_settings_applies(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VANGNET_MAX_IMAGE_PIXELS", "10000")
    reset_settings()
    install_media_limits()
    with pytest.raises(MediaTooLargeError):
        preview(_read(shared_data, BRIDGE))
    with pytest.raises(MediaTooLargeError):
        preview(_read(shared_data, VIDEO))


@pytest.mark.parametrize(
    "kwargs",
    [{"blur": -1}, {"blur": 65}, {"blur": 2.5}, {"max_side": 0}, {"max_side": 10_000}],
)
def test_bad_arguments_raise_validation_error(shared_data: Path, kwargs: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        preview(_read(shared_data, BRIDGE), **kwargs)  # type: ignore[arg-type]
