"""The reviewer sees the matched region outlined (issue 12, point 3): an upload whose photo
shows a banked photo as a picture-in-picture inset, filed by ``POST /v1/match``, has its case
page say how the match was found (region, transform, distance), and its blurred preview and
its reveal outline the region where the inset is, as does the case report (HTML) made from
the page; the banked photo uploaded as it is shows
no outline (its preview is the plain preview, byte for byte). SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image

from api.conftest import make_key
from api.test_match_provenance import bank_hash_only, banked_and_inset, near
from vangnet.evidence import previews
from vangnet.reports.document import REPORT_PREVIEW_SIDE
from web.conftest import WebFactory, browser, login, make_user
from web.outline import close, expected_box, outline_box


def test_the_case_page_outlines_the_region_that_matched(
    web_factory: WebFactory, db_url: str, shared_data: Path
) -> None:
    banked, composite, pasted = banked_and_inset(shared_data)
    web = web_factory()
    api = browser(web)
    api.headers["X-API-Key"] = make_key(db_url, "admin")
    content_id = bank_hash_only(api, banked)
    r = api.post("/v1/match?account=pip-user&platform=p", content=composite)
    assert r.status_code == 200, r.text
    case_id = r.json()["case_id"]
    plain_case = api.post("/v1/match?account=plain-user&platform=p", content=banked).json()[
        "case_id"
    ]
    found = api.get(f"/v1/cases/{case_id}").json()["matches"][0]["found"]
    region = found["region"]
    assert near(region, pasted)

    make_user(db_url, "rev", "reviewer")
    csrf = login(web, "rev")
    page = web.get(f"/ui/cases/{case_id}").text
    x, y, w, h = region
    assert f"region {w}x{h} at ({x}, {y}), transform identity" in page
    assert f"Outlined: the region that matched KNOWN / {content_id}" in page
    item = int(page.split('data-item="', 2)[1].split('"', 1)[0])

    own = Image.open(io.BytesIO(composite)).size
    served = web.get(f"/ui/items/{item}/preview")
    assert served.status_code == 200
    shown = Image.open(io.BytesIO(served.content))
    assert shown.mode == "L"  # still greyscale: the outline is white and black
    plain = previews.preview(composite, max_side=480)
    half = previews.outline_width(shown.size)
    want = expected_box(region, own, shown.size, half)
    assert close(outline_box(served.content, plain), want), (
        outline_box(served.content, plain),
        want,
    )

    clear = web.post(f"/ui/items/{item}/reveal", headers={"X-CSRF-Token": csrf})
    assert clear.status_code == 200 and clear.headers["content-type"] == "image/jpeg"
    revealed = Image.open(io.BytesIO(clear.content))
    unmarked = previews.preview(composite, blur=0, greyscale=False, max_side=previews.REVEAL_SIDE)
    want = expected_box(region, own, revealed.size, previews.outline_width(revealed.size))
    assert close(outline_box(clear.content, unmarked), want)

    # the case report (HTML) says how it was found and outlines the region on its preview
    r = web.post(f"/ui/cases/{case_id}/document", data={"csrf": csrf, "kind": "html"})
    assert r.status_code == 200, r.text[:300]
    assert f"region {w}x{h} at ({x}, {y}), transform identity" in r.text
    assert "the region that matched outlined" in r.text
    uri = r.text.split('src="data:image/jpeg;base64,', 1)[1].split('"', 1)[0]
    embedded = base64.b64decode(uri)
    size = Image.open(io.BytesIO(embedded)).size
    want = expected_box(region, own, size, previews.outline_width(size))
    plain = previews.preview(composite, max_side=REPORT_PREVIEW_SIDE)
    assert close(outline_box(embedded, plain), want), (outline_box(embedded, plain), want)

    # a whole-picture match: no outline, nothing said about a region
    page = web.get(f"/ui/cases/{plain_case}").text
    assert "Outlined:" not in page and ">whole picture<" in page
    item = int(page.split('data-item="', 2)[1].split('"', 1)[0])
    served = web.get(f"/ui/items/{item}/preview")
    assert served.content == previews.preview(banked, max_side=480)
