"""Case report (HTML and PDF): every section, escaping, wellness previews, offline PDF."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from vangnet.errors import NotFoundError, ValidationError
from vangnet.evidence.previews import preview
from vangnet.reports.document import REPORT_PREVIEW_SIDE, render_html, render_pdf

PHOTO = Path("threatexchange/pdq/data/bridge-mods/aaa-orig.jpg")
COLOUR = Path("photos/public-domain/skimage_astronaut.png")
VIDEO = Path("threatexchange/video/sample-videos/doorknob-hd-no-bar.mp4")
HOSTILE = "<script>alert('pwned')</script><img src=x onerror=alert(1)>"
GENERATED_AT = datetime(2026, 11, 30, 9, 15, 0, tzinfo=UTC)
SECTIONS = ("header", "summary", "timeline", "matches", "decisions", "custody", "reports", "items")
DATA_URI = re.compile(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"')


def make_case(**changes: Any) -> dict[str, Any]:
    """A case document as `vangnet.review.cases.case_document` returns it (see the schema)."""
    at = "2026-11-29T17:40:01.123+00:00"
    items = [
        {
            "id": 5,
            "kind": "frame",
            "media_type": "image/jpeg",
            "filename": "frame-00012.400.jpg",
            "size": 361182,
            "sha256": "b5b0799616df52d475a3968dc7e54f1d0724c912244ffa6175bc786375dd7298",
            "md5": "d35c785545392755e7e4164457657269",
            "sha1": "ea45d7166b30f98aac6af52f952193ce3083cb4c",
            "pdq": "d8f8f0cce0f4a84f0e370a22028f67f0b36e2ed596623e1d33e6b39c4e9c9b22",
            "captured_at": at,
            "stream_time": 12.4,
            "matched": True,
            "width": 1280,
            "height": 720,
        },
        {"id": 6, "kind": "upload", "media_type": "image/png", "filename": "upload.png"},
        {"id": 7, "kind": "upload", "media_type": "video/mp4", "filename": "clip.mp4"},
    ]
    case: dict[str, Any] = {
        "id": 12,
        "key": "account:example-platform:user123",
        "kind": "live",
        "title": "Stream cam-7 (user123)",
        "status": "confirmed",
        "category": "vics:1",
        "priority": {"score": 73, "reasons": ["bank 'demo' category vics:1 (+40)", "live (+20)"]},
        "subject": {
            "platform": "example-platform",
            "account": "user123",
            "ip": "192.0.2.10",
            "stream_external_id": "cam-7",
            "stream_url_display": "rtmp://127.0.0.1/live/<redacted>",
            "viewers": 14,
            "live": True,
        },
        "created_at": at,
        "updated_at": "2026-11-29T18:02:00+00:00",
        "decided_at": "2026-11-29T18:01:00+00:00",
        "items": items,
        "matches": [
            {
                "id": 9,
                "item_id": 5,
                "alert_id": 2,
                "bank": "demo",
                "content_id": 44,
                "signal_type": "pdq",
                "distance": 6,
                "category": "vics:1",
                "at": at,
                "stream_time": 12.4,
                "banked": {
                    "note": "bridge series",
                    "series": "SERIES-A",
                    "source": "hotline",
                    "external_id": "VIC-1",
                    "category": "vics:1",
                },
            }
        ],
        "timeline": [
            {"at": at, "kind": "match", "actor": "vangnet-monitor@host", "summary": "pdq match"},
            {
                "at": "2026-11-29T18:01:00+00:00",
                "kind": "decision",
                "actor": "alice",
                "summary": "confirmed",
                "details": {"category": "vics:1"},
            },
        ],
        "decisions": [
            {
                "id": 1,
                "at": "2026-11-29T18:01:00+00:00",
                "actor": "alice",
                "decision": "confirm",
                "category": "vics:1",
                "note": "seen the whole stream",
            }
        ],
        "custody": [
            {"item_id": 5, "at": at, "actor": "vangnet-monitor@host", "action": "captured"},
            {"item_id": 5, "at": at, "actor": "alice", "action": "accessed", "detail": "review"},
        ],
        "reports": [
            {
                "id": 1,
                "kind": "ncmec",
                "status": "submitted",
                "remote_id": "4711",
                "at": "2026-11-29T18:30:00+00:00",
                "actor": "alice",
            }
        ],
    }
    case.update(changes)
    return case


@pytest.fixture
def media(shared_data: Path) -> dict[int, bytes]:
    return {
        5: (shared_data / PHOTO).read_bytes(),
        6: (shared_data / COLOUR).read_bytes(),
        7: (shared_data / VIDEO).read_bytes(),
    }


@pytest.fixture
def read_item(media: dict[int, bytes]) -> Callable[[int], bytes]:
    def read(item_id: int) -> bytes:
        try:
            return media[item_id]
        except KeyError:
            raise NotFoundError(f"no item {item_id}") from None

    return read


def _embedded(html: str) -> list[bytes]:
    return [base64.b64decode(b64) for b64 in DATA_URI.findall(html)]


def _laplacian_variance(jpeg: bytes) -> float:
    grey = np.asarray(Image.open(io.BytesIO(jpeg)).convert("L"), dtype=np.float64)
    lap = 4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    return float(lap.var())


def test_html_has_every_section(read_item: Callable[[int], bytes]) -> None:
    html = render_html(
        make_case(), read_item=read_item, generated_by="bob", generated_at=GENERATED_AT
    )
    assert html.startswith("<!DOCTYPE html>")
    for section in SECTIONS:
        assert f'id="{section}"' in html, section
    for text in (
        "CONFIDENTIAL — contains descriptions of suspected child sexual abuse material",
        "Case 12: Stream cam-7 (user123)",
        "confirmed",
        "vics:1",
        "Child abuse material",
        "Project VIC / VICS (US)",
        "Generated by",
        "bob",
        "2026-11-30 09:15:00 UTC",
        "Score: <strong>73</strong>",
        "bank &#39;demo&#39; category vics:1 (+40)",
        "192.0.2.10",
        "rtmp://127.0.0.1/live/&lt;redacted&gt;",
        "SERIES-A",
        "VIC-1",
        "0:00:12.400",
        "2026-11-29 17:40:01.123 UTC",
        "seen the whole stream",
        "captured",
        "4711",
        "d35c785545392755e7e4164457657269",
        "ea45d7166b30f98aac6af52f952193ce3083cb4c",
        "b5b0799616df52d475a3968dc7e54f1d0724c912244ffa6175bc786375dd7298",
        "d8f8f0cce0f4a84f0e370a22028f67f0b36e2ed596623e1d33e6b39c4e9c9b22",
        "361182 bytes",
        "1280 \N{MULTIPLICATION SIGN} 720",
    ):
        assert text in html, text
    assert "clear previews included" not in html.lower()
    assert "preview unavailable" not in html


def test_hostile_strings_are_escaped(read_item: Callable[[int], bytes]) -> None:
    case = make_case(title=HOSTILE, key=HOSTILE)
    case["decisions"][0]["note"] = HOSTILE
    case["timeline"][0]["summary"] = HOSTILE
    case["timeline"][1]["details"] = {"note": HOSTILE}
    case["subject"]["account"] = HOSTILE
    case["subject"][HOSTILE] = "value under a hostile key"
    case["matches"][0]["banked"]["note"] = HOSTILE
    case["items"][0]["filename"] = HOSTILE
    case["custody"][1]["detail"] = HOSTILE
    case["priority"]["reasons"].append(HOSTILE)
    html = render_html(case, read_item=read_item, generated_by=HOSTILE, include_clear=True)
    assert "<script" not in html.lower()
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in html
    # the page itself forbids scripts and remote loads even if something slipped through
    assert "default-src 'none'; img-src data:" in html


def test_blurred_previews_by_default(
    read_item: Callable[[int], bytes], media: dict[int, bytes]
) -> None:
    html = render_html(make_case(), read_item=read_item, generated_by="bob")
    embedded = _embedded(html)
    assert len(embedded) == 3
    for item_id, shown in zip((5, 6, 7), embedded, strict=True):
        clear = preview(media[item_id], blur=0, greyscale=False, max_side=REPORT_PREVIEW_SIDE)
        assert shown == preview(media[item_id], max_side=REPORT_PREVIEW_SIDE)
        assert shown != clear
        assert base64.b64encode(clear).decode() not in html
        img = Image.open(io.BytesIO(shown))
        assert img.mode == "L"
        assert max(img.size) <= REPORT_PREVIEW_SIDE
        assert _laplacian_variance(shown) < _laplacian_variance(clear) / 20
    # and nothing of the originals' bytes is embedded
    assert base64.b64encode(media[5][:300]).decode()[:200] not in html


def test_clear_previews_only_on_request_and_say_who_asked(
    read_item: Callable[[int], bytes], media: dict[int, bytes]
) -> None:
    html = render_html(make_case(), read_item=read_item, generated_by="bob", include_clear=True)
    assert "Clear previews included at the request of bob" in html
    embedded = _embedded(html)
    assert embedded == [
        preview(media[i], blur=0, greyscale=False, max_side=REPORT_PREVIEW_SIDE) for i in (5, 6, 7)
    ]


def test_missing_or_unreadable_media_shows_preview_unavailable(
    read_item: Callable[[int], bytes], media: dict[int, bytes]
) -> None:
    html = render_html(make_case(), read_item=None, generated_by="bob")
    assert html.count("preview unavailable") == 3
    assert not _embedded(html)

    def flaky(item_id: int) -> bytes:
        if item_id == 6:
            raise RuntimeError("vault key unavailable")
        if item_id == 7:
            return b"\xff\xd8\xff not really a JPEG"
        return media[item_id]

    html = render_html(make_case(), read_item=flaky, generated_by="bob")
    assert html.count("preview unavailable") == 2
    assert "media could not be read" in html
    assert "media could not be decoded" in html
    assert "vault key unavailable" not in html
    assert len(_embedded(html)) == 1

    case = make_case()
    case["items"].append({"id": 99, "kind": "upload"})  # not in the vault
    html = render_html(case, read_item=read_item, generated_by="bob")
    assert html.count("preview unavailable") == 1


def test_empty_and_sparse_case_renders() -> None:
    html = render_html({"id": 1}, read_item=None, generated_by="bob")
    for section in SECTIONS:
        assert f'id="{section}"' in html
    assert "No matches recorded." in html
    assert "No media preserved for this case." in html


def test_hostile_structure_does_not_break_the_report() -> None:
    case = make_case(
        title={"nested": ["list", 1, None]},
        category="vics:9",
        status=None,
        created_at="yesterday",
        updated_at="2026-11-29T18:02:00",  # no offset
        priority={"score": "high", "reasons": "not a list"},
        subject={"live": False, "viewers": None, "extra": ["a", {"b": 1}]},
    )
    case["items"] = [
        {"id": "five", "size": "big", "stream_time": "abc", "width": 0},
        {"id": True, "captured_at": 12},
        {},
        {"id": 8, "filename": "x" * 500, "md5": "\u202eevil\u202c", "stream_time": float("nan")},
    ]
    case["matches"] = [{"banked": "not an object", "distance": None}, {}]
    case["timeline"] = [{"details": [1, 2, {"x": None}]}, {}]
    case["decisions"] = [{}]
    case["custody"] = [{"item_id": None}]
    case["reports"] = [{"remote_id": None}]

    html = render_html(case, read_item=lambda _: b"", generated_by="bob")
    assert "vics:9 (unknown category)" in html
    assert "yesterday" in html
    assert "(no time zone)" in html
    assert html.count("preview unavailable") == 4
    pdf = render_pdf(case, read_item=None, generated_by="bob")
    assert pdf.startswith(b"%PDF-")


@pytest.mark.parametrize(
    ("case", "kwargs"),
    [
        ([], {}),
        ({"id": 1, "items": "not a list"}, {}),
        ({"id": 1, "matches": [1, 2]}, {}),
        ({"id": 1, "subject": "not an object"}, {}),
        ({"id": 1}, {"generated_by": " "}),
        ({"id": 1}, {"generated_at": datetime(2026, 1, 1)}),  # naive
    ],
)
def test_not_a_case_document_is_a_validation_error(case: Any, kwargs: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"read_item": None, "generated_by": "bob", **kwargs}
    with pytest.raises(ValidationError):
        render_html(case, **arguments)


def _pdf_page_count(pdf: bytes) -> int:
    """Pages of a PDF: pypdf when installed, else /Count of the page tree (streams inflated)."""
    try:
        from pypdf import PdfReader
    except ImportError:
        pass
    else:
        return len(PdfReader(io.BytesIO(pdf)).pages)
    text = pdf
    for raw in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.DOTALL):
        try:
            text += zlib.decompress(raw)
        except zlib.error:
            continue
    counts = [int(n) for n in re.findall(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", text)]
    counts += [int(n) for n in re.findall(rb"/Count\s+(\d+)[^>]*?/Type\s*/Pages\b", text)]
    return max(counts, default=0)


def test_pdf(read_item: Callable[[int], bytes]) -> None:
    pdf = render_pdf(make_case(), read_item=read_item, generated_by="bob")
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert _pdf_page_count(pdf) >= 2  # a header page, and the items after it
    many = make_case()
    many["timeline"] = many["timeline"] * 80
    assert _pdf_page_count(render_pdf(many, read_item=None, generated_by="bob")) > _pdf_page_count(
        pdf
    )


def test_pdf_fetches_nothing_but_data_uris() -> None:
    from vangnet.reports.document import _data_only_fetcher

    fetcher = _data_only_fetcher()
    assert fetcher("data:text/plain;base64,aGk=").read() == b"hi"
    for url in (
        "http://127.0.0.1:9/x.png",
        "https://example.org/a.css",
        "file:///etc/passwd",
        "ftp://127.0.0.1/x",
    ):
        with pytest.raises(ValueError, match="data: URIs"):
            fetcher(url)


def test_pdf_rendering_keeps_truncated_images_refused(shared_data: Path) -> None:
    """Importing WeasyPrint flips Pillow's LOAD_TRUNCATED_IMAGES; render_pdf puts it back.

    Run in a fresh interpreter: the flag is set once, when WeasyPrint is first imported.
    """
    code = (
        "import sys\n"
        "from PIL import ImageFile\n"
        "from vangnet.errors import MediaError\n"
        "from vangnet.media.image import decode_image\n"
        "from vangnet.reports.document import render_pdf\n"
        "assert render_pdf({'id': 1}, read_item=None, generated_by='t').startswith(b'%PDF')\n"
        "assert ImageFile.LOAD_TRUNCATED_IMAGES is False\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "try:\n"
        "    decode_image(data[: len(data) // 3], fast=False)\n"
        "except MediaError:\n"
        "    print('refused')\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code, str(shared_data / PHOTO)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "refused"
