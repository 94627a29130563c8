"""The matched region outlined in a real browser (issue 12, point 3): Playwright drives
Debian's Chromium against `vangnet serve`. A platform uploads, through the running server's
``POST /v1/match``, a photo showing a banked photo as a picture-in-picture inset; a reviewer
opens the case: the match list says how it was found, and the item's blurred preview, as the
page holds it, has the outline where the inset is (the region scaled to the preview, within a
few pixels); revealing the item shows the clear picture outlined there too."""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from api.conftest import make_key
from api.test_match_provenance import banked_and_inset, near
from vangnet.evidence import previews
from web import browser
from web.browser import LiveServer, screenshot, sign_in
from web.outline import close, expected_box, outline_box

live_server = browser.live_server
chromium = browser.chromium

#: Draws an <img> of the page at its own size and returns it as a PNG data URL (the pixels
#: the browser decoded and shows, scaled by CSS only).
AS_PNG = """(img) => {
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  canvas.getContext("2d").drawImage(img, 0, 0);
  return canvas.toDataURL("image/png");
}"""


def _png(page: Any, selector: str) -> bytes:
    url: str = page.locator(selector).evaluate(AS_PNG)
    return base64.b64decode(url.split(",", 1)[1])


def _upload(server: LiveServer, banked: bytes, composite: bytes) -> tuple[int, list[int]]:
    """Bank the photo's PDQ (hash only) and upload the composite as a platform would;
    returns the case id and the match's region."""
    key = make_key(server.db_url, "admin", "platform")
    with httpx.Client(base_url=server.url, headers={"X-API-Key": key}, timeout=30) as api:
        assert api.post("/v1/banks", json={"name": "PIP", "category_profile": "vics"}).is_success
        pdq = api.post("/v1/hash", content=banked).json()["pdq"]
        items = [{"signal_type": "pdq", "value": pdq, "category": "vics:1"}]
        assert api.post("/v1/banks/PIP/hashes", json={"items": items}).is_success
        deadline = time.monotonic() + 10  # the server's index takes the hash up in its poll
        while not api.post("/v1/match?record=false", content=composite).json()["matches"]:
            assert time.monotonic() < deadline, "the banked hash never became matchable"
            time.sleep(0.1)
        r = api.post("/v1/match?account=pip-viewer&platform=p", content=composite)
        assert r.is_success, r.text
        case_id: int = r.json()["case_id"]
        region: list[int] = api.get(f"/v1/cases/{case_id}").json()["matches"][0]["found"]["region"]
    return case_id, region


def test_the_reviewer_sees_the_matched_region_outlined(
    chromium: Any, live_server: LiveServer, shared_data: Path
) -> None:
    banked, composite, pasted = banked_and_inset(shared_data)
    case_id, region = _upload(live_server, banked, composite)
    assert near(region, pasted)
    own = Image.open(io.BytesIO(composite)).size

    page = sign_in(chromium, live_server, "rita")
    try:
        page.goto(f"/ui/cases/{case_id}")
        page.wait_for_function(
            "[...document.querySelectorAll('img.preview')]"
            ".every((img) => img.complete && img.naturalWidth > 0)"
        )
        x, y, w, h = region
        how = page.locator("td.found").inner_text()
        assert how == f"region {w}x{h} at ({x}, {y}), transform identity", how
        assert page.locator("[data-outlined]").inner_text().startswith("Outlined:")
        screenshot(page, "case-region-outline")

        # the preview as the page holds it: outlined where the inset is
        shown = _png(page, "li.item img.preview")
        size = Image.open(io.BytesIO(shown)).size
        plain = previews.preview(composite, max_side=480)
        want = expected_box(region, own, size, previews.outline_width(size))
        found = outline_box(shown, plain)
        assert close(found, want), (found, want)
        # ... and on screen, inside the picture the reviewer sees
        picture = page.locator("li.item img.preview").bounding_box()
        scale = picture["width"] / size[0]
        left, top = picture["x"] + found[0] * scale, picture["y"] + found[1] * scale
        assert picture["x"] < left < picture["x"] + picture["width"] * 0.75
        assert picture["y"] < top < picture["y"] + picture["height"] * 0.75

        # revealed: the clear picture, outlined at the same place
        page.keyboard.press("r")
        page.locator("li.item img.clear").wait_for(state="visible")
        page.wait_for_function("document.querySelector('li.item img.clear').naturalWidth > 0")
        clear = _png(page, "li.item img.clear")
        size = Image.open(io.BytesIO(clear)).size
        unmarked = previews.preview(
            composite, blur=0, greyscale=False, max_side=previews.REVEAL_SIDE
        )
        want = expected_box(region, own, size, previews.outline_width(size))
        assert close(outline_box(clear, unmarked), want), (outline_box(clear, unmarked), want)
        screenshot(page, "case-region-outline-revealed")
    finally:
        page.context.close()
