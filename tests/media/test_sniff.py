from __future__ import annotations

import pytest

from vangnet.errors import EmptyInputError, UnsupportedMediaError
from vangnet.media.sniff import sniff
from vangnet.signals.base import ContentType

CASES = [
    (b"\xff\xd8\xff\xe0" + b"\0" * 20, ContentType.PHOTO, "JPEG"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, ContentType.PHOTO, "PNG"),
    (b"GIF89a" + b"\0" * 20, ContentType.PHOTO, "GIF"),
    (b"RIFF\0\0\0\0WEBPVP8 " + b"\0" * 20, ContentType.PHOTO, "WEBP"),
    (b"\0\0\0\x1cftypavif" + b"\0" * 20, ContentType.PHOTO, "AVIF"),
    (b"\0\0\0\x20ftypisom" + b"\0" * 20, ContentType.VIDEO, "mov"),
    (b"\x1a\x45\xdf\xa3" + b"\0" * 20, ContentType.VIDEO, "matroska"),
    (b"RIFF\0\0\0\0AVI LIST" + b"\0" * 20, ContentType.VIDEO, "avi"),
]


@pytest.mark.parametrize(("data", "content_type", "fmt"), CASES)
def test_sniff_by_magic_bytes(data: bytes, content_type: ContentType, fmt: str) -> None:
    sniffed = sniff(data)
    assert (sniffed.content_type, sniffed.format) == (content_type, fmt)


def test_empty_input() -> None:
    with pytest.raises(EmptyInputError):
        sniff(b"")


@pytest.mark.parametrize(
    "data", [b"hello, this is text\n", bytes(range(256)) * 4, b"#EXTM3U\nhttp://x/y.ts\n"]
)
def test_unsupported(data: bytes) -> None:
    with pytest.raises(UnsupportedMediaError):
        sniff(data)
