"""The investigation workbench in a real browser: Playwright drives Debian's Chromium against
`vangnet serve` on a case triaged from benign evidence (see `test_investigate_pages`).

An investigator opens the case: every preview is blurred and grey; `j` then `1` categorises
the first uncategorised item (audited) and the selection moves on to the next one; `x` and `0`
categorise two at once; `r` reveals the current item (audited). The item page shows the
metadata and reveals a video muted and paused; the map shows one circle per place and leads
to the filtered grid. An analyst sees the same pages without the categorisation controls.
The pages are photographed at 1280x800 and 1920x1080 (tests/artifacts/screenshots/
investigation-*.png) and none scrolls sideways.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import audited
from web import browser
from web.browser import (
    PASSWORD,
    LiveServer,
    _wait_until_up,
    colourfulness,
    free_port,
    no_horizontal_scroll,
    screenshot,
    sharpness,
    sign_in,
)
from web.test_investigate_pages import Evidence, triage_case

chromium = browser.chromium  # the fixture: Debian's Chromium


@dataclass
class Workbench:
    server: LiveServer  # (only its url and db_url are used here)
    evidence: Evidence

    def engine(self) -> Any:
        return self.server.engine()


@pytest.fixture(scope="module")
def workbench(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[Workbench]:
    """`vangnet serve` on a free loopback port, on a SQLite database holding the case."""
    from vangnet.auth import users
    from vangnet.config import reset_settings
    from vangnet.store.db import make_engine, writer
    from vangnet.store.migrate import upgrade

    home = tmp_path_factory.mktemp("workbench-home")
    db_url = f"sqlite:///{home / 'v.db'}"
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("VANGNET_") and key != "VANGNET_SHARED_DATA":
                mp.delenv(key)
        mp.setenv("VANGNET_HOME", str(home))
        mp.setenv("VANGNET_DATABASE_URL", db_url)
        reset_settings()
        try:
            upgrade(db_url)
            engine = audited(make_engine(db_url))
            try:
                evidence = triage_case(engine, db_url, shared_data, home)
                with Session(writer(engine)) as session:
                    for name, role in (("ivy", "reviewer"), ("ana", "analyst")):
                        users.create_user(
                            session, username=name, password=PASSWORD, role=role, actor="test"
                        )
                    session.commit()
            finally:
                engine.dispose()
        finally:
            reset_settings()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VANGNET_")}
    env["VANGNET_EGRESS_ALLOW"] = '["loopback"]'  # the tests' servers are on loopback
    env.update(
        {"VANGNET_HOME": str(home), "VANGNET_DATABASE_URL": db_url, "VANGNET_LOG_LEVEL": "warning"}
    )
    url = f"http://127.0.0.1:{free_port()}"
    log = home / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("vangnet")),
                *("serve", "--host", "127.0.0.1", "--port", url.rsplit(":", 1)[1]),
            ],
            env=env,
            cwd=home,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(url, process, log)
        server = LiveServer(
            url=url,
            db_url=db_url,
            receiver=None,
            ncmec=None,
            log=log,
            confirm_case=0,
            fp_case=0,
            reported_case=0,
        )
        yield Workbench(server=server, evidence=evidence)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _audit(bench: Workbench, action: str) -> list[dict[str, Any]]:
    from vangnet.audit.chain import list_entries

    engine = bench.engine()
    try:
        with Session(engine) as session:
            return list_entries(session, action=action, limit=1000)
    finally:
        engine.dispose()


def _categories(bench: Workbench, *ids: int) -> dict[int, str | None]:
    from vangnet.store.models import TriageItem

    engine = bench.engine()
    try:
        with Session(engine) as session:
            rows = session.execute(
                select(TriageItem.id, TriageItem.category).where(TriageItem.id.in_(ids))
            )
            return {item_id: category for item_id, category in rows}
    finally:
        engine.dispose()


def _until(page: Any, expression: str, timeout: float = 10.0) -> None:
    """Poll ``expression`` from here: the pages' CSP forbids the eval Playwright's own
    polling (``wait_for_function``) uses once a first check fails."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.05)


def _load_previews(page: Any) -> None:
    """Scroll the lazy previews into view and wait until each has loaded."""
    page.evaluate("window.scrollTo(0, document.scrollingElement.scrollHeight)")
    _until(
        page,
        "[...document.querySelectorAll('img.preview')]"
        ".every((img) => img.complete && img.naturalWidth > 0)",
    )
    page.evaluate("window.scrollTo(0, 0)")


def _selected(page: Any) -> int | None:
    found = page.evaluate("document.querySelector('li.item.selected')?.dataset.item")
    return int(found) if found else None


def _centre(png: bytes) -> bytes:
    """The middle of a picture (leaves out the letterbox edges of a contained image)."""
    with Image.open(io.BytesIO(png)) as picture:
        w, h = picture.size
        out = io.BytesIO()
        picture.crop((w // 4, h // 4, 3 * w // 4, 3 * h // 4)).save(out, "PNG")
        return out.getvalue()


def _shoot(page: Any, name: str) -> None:
    screenshot(page, f"investigation-{name}")
    assert no_horizontal_scroll(page), f"{name} scrolls sideways"


def test_overview_keyboard_categorise_and_reveal(chromium: Any, workbench: Workbench) -> None:
    bench, ev = workbench, workbench.evidence
    page = sign_in(chromium, bench.server, "ivy")
    page.get_by_role("link", name="Investigations").click()
    page.get_by_role("link", name="Operation Harbour").click()
    page.wait_for_url(f"**/ui/investigations/{ev.case_id}")
    _load_previews(page)
    _shoot(page, "overview-1280")

    # every preview, as shown and as served, is grey and blurred
    previews = page.locator("img.preview")
    assert previews.count() >= 10
    for i in range(previews.count()):
        shown = previews.nth(i).screenshot()
        served = page.request.get(previews.nth(i).get_attribute("src"))
        assert served.ok and served.headers["content-type"] == "image/jpeg"
        assert "no-store" in served.headers["cache-control"]
        assert colourfulness(shown) < 2.0 and colourfulness(served.body()) < 2.0

    # j then 1: the first uncategorised item becomes vics:1; the selection moves on
    page.locator("form.inv-filters select[name=category]").select_option("uncategorised")
    page.get_by_role("button", name="Apply", exact=True).click()
    page.wait_for_url("**category=uncategorised**")
    first_id, second_id = (
        int(page.locator("li.item").nth(i).get_attribute("data-item")) for i in (0, 1)
    )
    page.keyboard.press("j")
    assert _selected(page) == first_id
    with page.expect_navigation():
        page.keyboard.press("1")
    assert page.locator("p.flash").inner_text() == "1 item set to vics:1"
    assert _categories(bench, first_id) == {first_id: "vics:1"}
    (entry,) = [e for e in _audit(bench, "triage_item.categorise") if e["actor"] == "ivy"]
    assert entry["target"] == f"triage_item:{first_id}" and entry["after"]["category"] == "vics:1"
    assert page.locator(f'li.item[data-item="{first_id}"]').count() == 0  # filtered out now
    assert _selected(page) == second_id

    # x on two items, then 0: both non-pertinent
    page.keyboard.press("x")
    page.keyboard.press("j")
    third_id = _selected(page)
    assert third_id is not None
    page.keyboard.press("x")
    assert page.locator("#selected-count").inner_text() == "2 selected"
    with page.expect_navigation():
        page.keyboard.press("0")
    assert _categories(bench, second_id, third_id) == {second_id: "vics:0", third_id: "vics:0"}

    # r reveals the current item in colour and sharp (audited), r again hides it
    page.keyboard.press("j")
    current = _selected(page)
    item = page.locator(f'li.item[data-item="{current}"]')
    _load_previews(page)
    blurred = sharpness(_centre(item.locator("img.preview").screenshot()))
    page.keyboard.press("r")
    clear = item.locator("img.clear")
    clear.wait_for()
    _until(page, "[...document.querySelectorAll('img.clear')].every((i) => i.naturalWidth > 0)")
    assert sharpness(_centre(clear.screenshot())) > 5 * max(blurred, 1.0)
    assert any(e["target"] == f"triage_item:{current}" for e in _audit(bench, "media.reveal"))
    page.keyboard.press("r")
    assert page.locator("img.clear").count() == 0

    # Enter opens the item page
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"/ui/investigations/items/{current}")
    page.context.close()


def test_item_page_map_and_other_views(chromium: Any, workbench: Workbench) -> None:
    bench, ev = workbench, workbench.evidence
    case = ev.case_id
    for width, height in ((1280, 800), (1920, 1080)):
        page = sign_in(chromium, bench.server, "ivy", width=width, height=height)
        page.goto(f"/ui/investigations/items/{ev.ids['IMG_0001.jpg']}")
        _until(page, "document.querySelector('img.preview').naturalWidth > 0")
        body = page.locator("main").inner_text()
        for expected in ("samsung", "SM-G930V", "Takoma Park", "2017-11-07 22:14:15"):
            assert expected in body
        _shoot(page, f"item-{width}")

        page.goto(f"/ui/investigations/{case}/map")
        assert page.locator("#map circle").count() == 3
        _shoot(page, f"map-{width}")
        page.goto(f"/ui/investigations/{case}/timeline")
        assert "2017-11-07" in page.locator("#captured").inner_text()
        _shoot(page, f"timeline-{width}")
        page.goto(f"/ui/investigations/{case}/series")
        _load_previews(page)
        _shoot(page, f"series-{width}")
        page.goto(f"/ui/investigations/{case}")
        _load_previews(page)
        if width == 1920:
            _shoot(page, "overview-1920")
        page.goto("/ui/investigations")
        _shoot(page, f"list-{width}")
        page.context.close()

    page = sign_in(chromium, bench.server, "ivy")
    # the map leads to the grid of one place
    page.goto(f"/ui/investigations/{case}/map")
    page.locator("#map a.spot", has_text="Takoma Park").locator("circle").click()
    page.wait_for_url("**place=Takoma**")
    assert page.locator("li.item").count() == 1
    # a video reveals muted and paused, held or toggled
    page.goto(f"/ui/investigations/items/{ev.ids['clip.mp4']}")
    button = page.get_by_role("button", name="Hold to reveal")
    box = button.bounding_box()
    page.mouse.move(box["x"] + 5, box["y"] + 5)
    page.mouse.down()
    video = page.locator("video.clear")
    video.wait_for()
    assert page.evaluate(
        "[...document.querySelectorAll('video.clear')].map(v => [v.muted, v.paused])"
    ) == [[True, True]]
    page.mouse.up()
    _until(page, "document.querySelectorAll('.clear').length === 0")
    # 3 on the item page sets vics:3
    with page.expect_navigation():
        page.keyboard.press("3")
    assert _categories(bench, ev.ids["clip.mp4"]) == {ev.ids["clip.mp4"]: "vics:3"}
    assert "vics:3" in page.locator("#item-category").inner_text()
    page.context.close()

    # an analyst: the same pages, no categorisation; digits do nothing
    page = sign_in(chromium, bench.server, "ana")
    page.goto(f"/ui/investigations/{case}")
    assert page.locator('input[name="ids"]').count() == 0
    page.keyboard.press("j")
    page.keyboard.press("2")
    page.wait_for_timeout(300)
    assert page.url.endswith(f"/ui/investigations/{case}")
    _shoot(page, "overview-analyst-1280")
    page.context.close()
