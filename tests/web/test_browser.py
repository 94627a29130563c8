"""The web UI in a real browser: Playwright drives Debian's Chromium against `vangnet serve`.

A reviewer signs in, opens the queue, checks the previews are blurred and grey, reveals one
item by holding the button (audited), confirms the case with the keyboard alone, sees the
signed webhooks arrive and builds the NCMEC report; another reviewer marks a false positive
and disables the banked entry; roles without the permission are refused; the main pages are
photographed at 1280x800 and 1920x1080 (tests/artifacts/screenshots/).
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from web import browser
from web.browser import (
    LiveServer,
    colourfulness,
    no_horizontal_scroll,
    screenshot,
    sharpness,
    sign_in,
    wait_for_webhooks,
)

# the fixtures (a server with prepared cases and users; Debian's Chromium)
live_server = browser.live_server
chromium = browser.chromium

CONFIRM_ACTIONS = {"case.confirmed", "content.remove", "account.suspend"}


def _audit(server: LiveServer, action: str, actor: str) -> list[dict[str, Any]]:
    from vangnet.audit.chain import list_entries

    engine = server.engine()
    try:
        with Session(engine) as session:
            return list_entries(session, action=action, actor=actor, limit=1000)
    finally:
        engine.dispose()


def _wait_previews(page: Any) -> None:
    page.wait_for_function(
        "[...document.querySelectorAll('img.preview')]"
        ".every((img) => img.complete && img.naturalWidth > 0)"
    )


def _check_previews_blurred(page: Any) -> list[tuple[float, float]]:
    """Every preview on the page, as shown and as served, is blurred and grey."""
    _wait_previews(page)
    previews = page.locator("img.preview")
    assert previews.count() >= 1
    measured = []
    for i in range(previews.count()):
        preview = previews.nth(i)
        shown = preview.screenshot()
        served = page.request.get(preview.get_attribute("src"))
        assert served.ok
        assert served.headers["content-type"] == "image/jpeg"
        assert "no-store" in served.headers.get("cache-control", "")
        for picture in (shown, served.body()):
            assert colourfulness(picture) < 2.0, "preview is not greyscale"
        measured.append((sharpness(shown), sharpness(served.body())))
    return measured


# -- 1. the reviewer's way from the queue to a confirmed, reported case ----------------------


def test_reviewer_flow(chromium: Any, live_server: LiveServer) -> None:
    server, case_id = live_server, live_server.confirm_case
    page = sign_in(chromium, server, "rita")

    # the queue lists the open cases, each with the reasons for its place
    page.get_by_role("link", name="Review queue").click()
    page.wait_for_url(re.compile(r"/ui/queue"))
    rows = page.locator("tr[data-href]")
    listed = rows.evaluate_all("(rows) => rows.map((r) => r.dataset.href)")
    for wanted in (case_id, *server.other_cases):  # (fp_case may be decided already)
        assert f"/ui/cases/{wanted}" in listed
    for reasons in page.locator("td.reasons").all_inner_texts():
        assert reasons.strip(), "a queue row without its priority reasons"
    assert page.locator(f'tr[data-href="/ui/cases/{case_id}"] td.reasons').inner_text()

    # the case page: two items, both blurred and grey
    page.locator(f'a[href="/ui/cases/{case_id}"]').click()
    page.wait_for_url(f"{server.url}/ui/cases/{case_id}")
    assert page.locator("li.item").count() == 2
    blurred = _check_previews_blurred(page)

    # hold to reveal the first item: the clear picture appears, and goes on release
    reveals_before = len(_audit(server, "media.reveal", "rita"))
    item = page.locator("li.item").first
    button = item.locator("button.reveal")
    box = button.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    clear = item.locator("img.clear")
    clear.wait_for(state="visible")
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=clear.element_handle()
    )
    assert item.locator("img.preview").is_hidden()
    assert button.get_attribute("aria-pressed") == "true"
    revealed = clear.screenshot()
    shown_blurred, served_blurred = blurred[0]
    clear_sharpness = sharpness(revealed)
    assert clear_sharpness > 5 * max(shown_blurred, 1.0), (clear_sharpness, blurred)
    assert clear_sharpness > 10 * max(served_blurred, 1.0), (clear_sharpness, blurred)
    assert colourfulness(revealed) > 2.0, "the revealed picture should be in colour"
    page.mouse.up()
    clear.wait_for(state="detached")
    assert item.locator("img.preview").is_visible()
    assert button.get_attribute("aria-pressed") == "false"

    # the reveal is in the audit log
    reveals = _audit(server, "media.reveal", "rita")
    assert len(reveals) == reveals_before + 1
    item_id = item.get_attribute("data-item")
    assert reveals[0]["target"] == f"item:{item_id}"

    # confirm with the keyboard alone: c, choose the category with the arrows, Enter
    page.keyboard.press("c")
    category = page.locator("#category")
    assert category.evaluate("(el) => el === document.activeElement")
    for _ in range(10):
        if category.input_value() == "vics:1":
            break
        page.keyboard.press("ArrowDown")
    assert category.input_value() == "vics:1"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.startswith(f"{server.url}/ui/cases/{case_id}")
    assert page.locator(".casehead .status").inner_text() == "confirmed"
    assert page.locator(".casehead .badge").first.inner_text() == "vics:1"
    assert "confirm → confirmed" in page.locator("p.flash").inner_text()

    # the platform is told, with signed webhooks
    hooks = wait_for_webhooks(server, case_id, CONFIRM_ACTIONS)
    assert hooks.keys() >= CONFIRM_ACTIONS, sorted(hooks)
    assert hooks["case.confirmed"]["data"]["case"]["category"] == "vics:1"
    assert hooks["case.confirmed"]["data"]["case"]["decided_by"] == "rita"

    # and the NCMEC report is built and validated
    page.locator("#btn-ncmec").click()
    page.wait_for_url(re.compile(r"/ui/reports/\d+"))
    assert page.locator("#ncmec-valid").is_visible()
    text = page.locator("pre#report-xml").inner_text()
    assert "<report" in text
    assert "incidentSummary" in text
    root = ET.fromstring(text.encode())
    assert root.tag.rsplit("}", 1)[-1] == "report"

    # submitting needs the explicit confirmation, recorded before anything is sent
    page.locator("form.submitform button[type=submit]").click()  # box not ticked: refused
    assert server.ncmec.steps == []
    page.locator("form.submitform input[name=confirm]").check()
    with page.expect_navigation():
        page.locator("form.submitform button[type=submit]").click()
    assert "submitted to NCMEC: report" in page.locator("p.flash").inner_text()
    files = 2  # the confirmed case holds two uploads
    assert server.ncmec.steps == ["submit", *["upload", "fileinfo"] * files, "finish"]
    actions = [e["action"] for e in reversed(_audit(server, "report.ncmec", "rita"))]
    assert actions.index("report.ncmec.confirm") < actions.index("report.ncmec.submit")
    page.context.close()


# -- 2. false positive, disabling the banked entry ----------------------------------------


def test_false_positive_flow(chromium: Any, live_server: LiveServer) -> None:
    from vangnet.banks.contents import get_content
    from vangnet.store.models import CaseMatch

    server, case_id = live_server, live_server.fp_case
    engine = server.engine()
    try:
        with Session(engine) as session:
            content_ids = sorted(
                set(
                    session.scalars(
                        select(CaseMatch.content_id).where(CaseMatch.case_id == case_id)
                    )
                )
            )
            assert content_ids
            assert all(get_content(session, c).enabled for c in content_ids)

        page = sign_in(chromium, server, "sam")
        page.goto(f"/ui/cases/{case_id}")
        _check_previews_blurred(page)
        page.get_by_label("disable the banked entries").check()
        page.locator("h1").click()  # shortcuts work outside form fields
        with page.expect_navigation():
            page.keyboard.press("f")
        assert page.locator(".casehead .status").inner_text() == "false positive"
        assert "disabled" in page.locator("section", has_text="Matches").last.inner_text()

        with Session(engine) as session:
            for content_id in content_ids:
                assert get_content(session, content_id).enabled is False
        assert _audit(server, "content.disable", "sam")
        page.context.close()
    finally:
        engine.dispose()


# -- 3. roles --------------------------------------------------------------------------------


def test_roles_are_refused(chromium: Any, live_server: LiveServer) -> None:
    server, case_id = live_server, live_server.other_cases[0]

    # a curator manages banks: no review queue, no case pages, no decisions
    page = sign_in(chromium, server, "carl")
    assert page.get_by_role("link", name="Review queue").count() == 0
    for path in ("/ui/queue", f"/ui/cases/{case_id}"):
        answer = page.goto(path)
        assert answer.status == 403, path
        assert page.locator("h1").inner_text() == "Not allowed"
    page.context.close()

    # an analyst reads the case but has no decision buttons, and a decision POST is refused
    page = sign_in(chromium, server, "ana")
    answer = page.goto(f"/ui/cases/{case_id}")
    assert answer.status == 200
    for button in ("#btn-confirm", "#btn-fp", "#btn-escalate", "#btn-second"):
        assert page.locator(button).count() == 0, button
    assert page.get_by_text("may read this case but not decide it").is_visible()
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert csrf
    refused = page.request.post(
        f"/ui/cases/{case_id}/decide",
        form={"csrf": csrf, "decision": "confirm", "category": "vics:1"},
        max_redirects=0,
    )
    assert refused.status == 403
    assert "Not allowed" in refused.text()
    page.keyboard.press("c")  # no decision form: the shortcuts do nothing
    page.keyboard.press("f")
    time.sleep(0.3)
    page.reload()
    assert page.locator(".casehead .status").inner_text() == "open"
    page.context.close()

    decided = [e["action"] for e in _audit(server, "case.", "ana") if e["action"] != "case.view"]
    assert not decided


# -- 5. keyboard on the queue ------------------------------------------------------------


def test_queue_keyboard(chromium: Any, live_server: LiveServer) -> None:
    page = sign_in(chromium, live_server, "sam")
    page.goto("/ui/queue")
    first = page.locator("tr[data-href]").first.get_attribute("data-href")
    page.keyboard.press("j")
    assert "selected" in (page.locator("tr[data-href]").first.get_attribute("class") or "")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == f"{live_server.url}{first}"
    assert page.locator("h1").inner_text().startswith("Case #")

    # r reveals the first item (audited), r again hides it
    _wait_previews(page)
    reveals = len(_audit(live_server, "media.reveal", "sam"))
    item = page.locator("li.item").first
    page.keyboard.press("r")
    item.locator("img.clear").wait_for(state="visible")
    assert "selected" in (item.get_attribute("class") or "")
    page.keyboard.press("r")
    item.locator("img.clear").wait_for(state="detached")
    assert item.locator("img.preview").is_visible()
    assert len(_audit(live_server, "media.reveal", "sam")) == reveals + 1
    page.context.close()


# -- regressions of UI bugs found by these tests ------------------------------------------------


def test_hold_to_reveal_at_the_centre_of_the_button(chromium: Any, live_server: LiveServer) -> None:
    page = sign_in(chromium, live_server, "sam")
    page.goto(f"/ui/cases/{live_server.other_cases[1]}")
    _wait_previews(page)
    item = page.locator("li.item").first
    box = item.locator("button.reveal").bounding_box()
    try:
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        with page.expect_response(re.compile(r"/reveal$")) as revealed:
            page.mouse.down()
        assert revealed.value.ok
        time.sleep(0.5)  # still holding
        assert item.locator("img.clear").count() == 1, "hidden again while still held"
    finally:
        page.mouse.up()
        page.context.close()


def test_preview_is_hidden_while_revealed(chromium: Any, live_server: LiveServer) -> None:
    page = sign_in(chromium, live_server, "sam")
    page.goto(f"/ui/cases/{live_server.other_cases[1]}")
    _wait_previews(page)
    item = page.locator("li.item").first
    try:
        page.keyboard.press("r")
        item.locator("img.clear").wait_for(state="visible")
        assert item.locator("img.preview").is_hidden()
    finally:
        page.context.close()


def test_queue_media_column_counts_items(chromium: Any, live_server: LiveServer) -> None:
    page = sign_in(chromium, live_server, "sam")
    page.goto("/ui/queue?status=all")
    try:
        media = page.locator("table.queue tbody td:nth-child(6)").all_inner_texts()
        assert media
        assert all(text.strip().isdigit() for text in media), media
    finally:
        page.context.close()


# -- 4. the main pages at 1280x800 and 1920x1080 ---------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (1920, 1080)])
def test_screenshots(chromium: Any, live_server: LiveServer, width: int, height: int) -> None:
    server, size = live_server, f"{width}x{height}"
    page = sign_in(chromium, server, "ada", width=width, height=height, shot=f"login-{size}")
    overflowing = []

    def shoot(name: str) -> None:
        screenshot(page, f"{name}-{size}")
        if width <= 1280 and not no_horizontal_scroll(page):
            overflowing.append(name)

    shoot("dashboard")
    page.goto("/ui/queue")
    shoot("queue")
    page.goto(f"/ui/cases/{server.other_cases[0]}")
    for shown, served in _check_previews_blurred(page):
        assert shown < 200 and served < 200, (shown, served)
    shoot("case")

    report = server.reports.get(server.reported_case)
    if report is None:
        page.goto(f"/ui/cases/{server.reported_case}")
        page.locator("#btn-ncmec").click()
        page.wait_for_url(re.compile(r"/ui/reports/\d+"))
        report = server.reports[server.reported_case] = page.url.split("?")[0]
    else:
        page.goto(report)
    assert page.locator("#ncmec-valid").is_visible()
    shoot("ncmec-report")

    for name in ("banks", "streams", "audit", "users", "settings"):
        answer = page.goto(f"/ui/{name}")
        if answer.status == 404:
            continue  # (operator pages still being written)
        assert answer.status == 200, name
        shoot(name)

    page.goto("/ui/login")  # signed in: the form is still shown
    page.context.close()
    assert not overflowing, f"horizontal scrollbar at {size}: {overflowing}"


# -- 5. an admin sets up the second factor at the first sign-in -------------------------------


def test_admin_enrols_a_second_factor(chromium: Any, live_server: LiveServer) -> None:
    import pyotp

    from vangnet.auth import users

    server = live_server
    engine = server.engine()
    try:
        with Session(engine) as session:
            users.create_user(
                session, username="eve", password=browser.PASSWORD, role="admin", actor="test"
            )
            session.commit()
    finally:
        engine.dispose()
    context = chromium.new_context(
        viewport={"width": 1280, "height": 800}, base_url=server.url, locale="en-GB"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto("/ui/login")
    page.get_by_label("User name").fill("eve")
    page.get_by_label("Password").fill(browser.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/ui/totp"))
    screenshot(page, "totp-enrol")
    assert no_horizontal_scroll(page)
    assert page.goto("/ui/audit").url.split("?")[0].endswith("/ui/totp")  # nothing else first
    secret = page.locator("#totp-secret").inner_text()
    assert page.locator("#totp-qr svg").is_visible()  # the QR code of the link, inline
    assert (page.locator("#totp-uri").text_content() or "").startswith(
        "otpauth://totp/Vangnet:eve?"
    )
    page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()
    assert page.locator("#recovery-codes li").count() == 8
    screenshot(page, "totp-done")
    page.get_by_role("link", name="Continue to Vangnet").click()
    page.wait_for_url(f"{server.url}/ui/audit")  # where she was going
    assert page.goto("/ui/users").status == 200
    context.close()
