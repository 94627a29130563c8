"""The investigation workbench outlines the region that matched, as the review page does: a
banked photo shown as a picture-in-picture inset in a seized folder, triaged with
``vangnet triage`` (regions of every photo, issue 12), has its item preview and its reveal
outlined where the inset is; a photo that matched nothing has none. SQLite and PostgreSQL."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from api.test_match_provenance import banked_and_inset, near
from cli.test_cli import Run
from vangnet.evidence import previews
from web.conftest import WebFactory, login, make_user
from web.outline import close, expected_box, outline_box

PAGE_SIDE = 720  # the item page's preview (`routes_investigate.SIDES["page"]`)


def test_a_triaged_item_is_outlined_where_the_banked_photo_is(
    web_factory: WebFactory,
    db_url: str,
    tmp_path: Path,
    shared_data: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    banked, composite, pasted = banked_and_inset(shared_data)
    (tmp_path / "bank").mkdir()
    (tmp_path / "bank" / "known.jpg").write_bytes(banked)
    seized = tmp_path / "seized"
    seized.mkdir()
    (seized / "pip.png").write_bytes(composite)
    other = sorted((shared_data / "photos" / "bsds500" / "val").glob("*.jpg"))[3]
    (seized / "other.jpg").write_bytes(other.read_bytes())

    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    run = Run()
    run("bank", "create", "KNOWN", "--profile", "vics")
    run("bank", "add", "KNOWN", str(tmp_path / "bank"))
    run("triage", str(seized), "--case", "PIP", "--no-ocr", "--workers", "1")
    doc = run.json("case", "show", "PIP", "--json")
    items = {i["name"]: i for i in doc["triage_items"]}
    (match,) = items["pip.png"]["matches"]
    region = [match["region"][k] for k in ("x", "y", "w", "h")]
    assert near(region, pasted) and items["other.jpg"]["matches"] == []

    make_user(db_url, "ivy", "reviewer")
    web = web_factory()
    csrf = login(web, "ivy")
    item = items["pip.png"]["id"]
    served = web.get(f"/ui/investigations/items/{item}/preview?size=page")
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    shown = Image.open(io.BytesIO(served.content))
    assert shown.mode == "L"
    own = Image.open(io.BytesIO(composite)).size
    want = expected_box(region, own, shown.size, previews.outline_width(shown.size))
    plain = previews.preview(composite, max_side=PAGE_SIDE)
    assert close(outline_box(served.content, plain), want), (
        outline_box(served.content, plain),
        want,
    )

    clear = web.post(f"/ui/investigations/items/{item}/reveal", headers={"X-CSRF-Token": csrf})
    assert clear.status_code == 200, clear.text[:300]
    size = Image.open(io.BytesIO(clear.content)).size
    unmarked = previews.preview(composite, blur=0, greyscale=False, max_side=previews.REVEAL_SIDE)
    want = expected_box(region, own, size, previews.outline_width(size))
    assert close(outline_box(clear.content, unmarked), want)

    # nothing matched: no outline (the plain preview, byte for byte)
    other_item = items["other.jpg"]["id"]
    served = web.get(f"/ui/investigations/items/{other_item}/preview?size=page")
    assert served.content == previews.preview(other.read_bytes(), max_side=PAGE_SIDE)
