"""The inspection station in a real browser, on a phone and on a desktop, driven the way a
scanner and a keyboard drive it: a scan is typed and ends with Enter, and every step after that
is reached with the keyboard alone, from the focus each page puts where the next thing is.

Chromium, screenshots and the layout checks are the portal browser test's (see there).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from reclaim.returns.states import Disposition, Grade
from reclaim.users.roles import Role
from tests.web.console_support import make_staff
from tests.web.station_support import (
    PHONE,
    TEE,
    Sessions,
    arriving,
    graded,
    one,
    received,
    routed,
    rows,
)
from tests.web.test_portal_browser import (  # noqa: F401 (browser is a fixture)
    VIEWPORTS,
    Camera,
    _layout_problems,
    _tab_to,
    browser,
)

pytestmark = [
    # What the station looks like and how it is used doesn't depend on the database; the HTTP
    # tests (test_console_station.py) run the same steps on SQLite and PostgreSQL.
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
]


@pytest.mark.parametrize("device", list(VIEWPORTS))
async def test_an_inspector_takes_a_parcel_from_scan_to_bin_by_keyboard(
    device: str,
    browser: Any,  # noqa: F811
    live_server: Any,
    client: httpx.AsyncClient,
    sessions: Sessions,
    tmp_path: Path,
) -> None:
    from playwright.async_api import expect

    started = time.monotonic()
    number, tracking = await arriving(client)
    account = await make_staff(sessions, Role.INSPECTOR, name="Ines Inspector")
    camera = Camera(tmp_path / "screenshots", f"station-{device}")
    context = await browser.new_context(base_url=live_server.url, **VIEWPORTS[device])
    context.set_default_timeout(10_000)
    page = await context.new_page()
    errors: list[str] = []
    layout: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "response",
        lambda r: errors.append(f"{r.status} from {r.url}") if r.status >= 400 else None,
    )
    page.on(  # everything is self-hosted: no CDN, no web fonts
        "request",
        lambda r: (
            errors.append(f"external request {r.url}")
            if not r.url.startswith((live_server.url, "data:"))
            else None
        ),
    )

    async def arrive(title: str | re.Pattern[str], name: str) -> None:
        await expect(page.get_by_role("heading", level=1)).to_have_text(title)
        layout.extend(await _layout_problems(page, name))
        await camera.shoot(page, name)

    async def focus_on(locator: Any) -> None:
        await expect(locator).to_be_focused()

    # Signing in sends the inspector on to the station.
    await page.goto("/console/login?next=/console/station")
    await page.get_by_label("E-mail address").fill(account.email)
    await page.get_by_label("Password").fill(account.password)
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/console/station$"))
    await arrive("Inspection station", "scan")
    scan = page.get_by_label("Scan a parcel")
    await focus_on(scan)

    # A misread scan: said so, and the field is ready, empty, for the next one.
    await page.keyboard.type("RC000000000000")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("alert")).to_contain_text("Nothing found for “RC000000000000”")
    await focus_on(scan)
    await expect(scan).to_have_value("")
    await arrive("Inspection station", "scan-unknown")
    missing = f"404 from {live_server.url}/console/station?code=RC000000000000"
    assert errors and all(e == missing or "status of 404" in e for e in errors), errors
    errors.clear()

    # The scanner types the tracking number and Enter: the return opens, weight first.
    await page.keyboard.type(tracking)
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"**/console/station/{number}")
    await arrive(f"Return {number}", "return")
    await focus_on(page.get_by_label("Parcel weight"))
    await page.keyboard.type("430")
    units = page.get_by_label("Tee (M) (2 due)")
    await expect(units).to_have_value("2")  # what is still due
    await page.keyboard.press("Tab")
    await focus_on(units)
    await page.keyboard.type("2")  # tabbing in selected the value: typing replaces it
    await camera.shoot(page, "receive-filled")
    await page.keyboard.press("Enter")

    # Received: the station says so and offers inspection, focused.
    await expect(page.get_by_role("status")).to_contain_text(f"Received 2 units of {number}.")
    inspect = page.get_by_role("link", name="Next: Inspect Tee (M)")
    await focus_on(inspect)
    await arrive(f"Return {number}", "received")
    await page.keyboard.press("Enter")

    # The checklist: answered with Space (this answer) and the arrow keys (the next one).
    await page.wait_for_url(f"**/lines/{TEE}/inspect")
    await arrive("Inspect Tee (M)", "inspect")
    tags = page.get_by_role("group", name="Are the tags still attached?")
    await focus_on(tags.get_by_role("radio", name="Yes"))
    await page.keyboard.press("ArrowRight")  # no: the tags were cut off
    await expect(tags.get_by_role("radio", name="No")).to_be_checked()
    await page.keyboard.press("Tab")
    wear = page.get_by_role("group", name="Signs of wear")
    await focus_on(wear.get_by_role("radio", name="None"))
    await page.keyboard.press("Space")
    await page.keyboard.press("Tab")
    stains = page.get_by_role("group", name="Any stains or odour?")
    await page.keyboard.press("ArrowDown")
    await expect(stains.get_by_role("radio", name="No")).to_be_checked()
    await page.keyboard.press("Tab")
    await page.keyboard.press("Space")
    packaging = page.get_by_role("group", name="Is it in its original packaging?")
    await expect(packaging.get_by_role("radio", name="Yes")).to_be_checked()
    await camera.shoot(page, "inspect-answered")
    await page.keyboard.press("Enter")

    # The suggestion and why; confirming it is one key away.
    suggested = page.get_by_role("status")
    await expect(suggested).to_contain_text(
        "Suggested: like new — because Tags removed: like new at best."
    )
    await expect(page.get_by_label("Grade", exact=True)).to_have_value("like_new")
    confirm = page.get_by_role("button", name="Confirm grade")
    await focus_on(confirm)
    await arrive("Inspect Tee (M)", "inspect-suggested")
    await page.keyboard.press("Enter")

    # Where it goes: the engine's pick first, every channel's sum below; Enter confirms it.
    await page.wait_for_url(f"**/lines/{TEE}/route")
    await arrive("Where does Tee (M) go?", "route")
    options = page.get_by_role("table", name=re.compile("Expected recovery per unit"))
    await expect(options.get_by_role("row")).to_have_count(9)  # a header and eight channels
    send = page.get_by_role("button", name=re.compile(r"^Send to "))
    await focus_on(send)
    channel = (await send.inner_text()).removeprefix("Send to ")
    best = options.locator("tr.best")
    await expect(best).to_contain_text(channel)
    await expect(best).to_contain_text("Recommended")
    await page.keyboard.press("Enter")

    # The bin tag: the destination in letters read from across the floor, then completion.
    await page.wait_for_url(f"**/lines/{TEE}/bin-tag")
    await arrive("Bin tag", "bin-tag")
    await expect(page.get_by_role("status")).to_contain_text(f"Routed to {channel}: take it to")
    location = await page.locator(".tag-location").inner_text()
    size = await page.locator(".tag-location").evaluate("el => getComputedStyle(el).fontSize")
    assert float(size.removesuffix("px")) >= 40, size
    await expect(page.get_by_role("button", name="Print the tag")).to_be_visible()
    await expect(page.get_by_role("link", name="Bin tag PDF")).to_be_visible()
    await focus_on(page.get_by_role("button", name="Complete the return"))
    await page.keyboard.press("Enter")

    # Back at the scan field for the next parcel.
    await page.wait_for_url(re.compile(r"/console/station$"))
    await expect(page.get_by_role("status")).to_contain_text(f"Completed {number}.")
    await focus_on(scan)
    await arrive("Inspection station", "completed")

    # The keyboard reaches the scan field from anywhere at the station.
    await page.goto(f"/console/station/{number}")
    await _tab_to(page, page.get_by_role("link", name="Scan the next parcel"))

    await context.close()
    assert not errors, "\n".join(errors)
    assert not layout, "\n".join(layout)

    assert await one(sessions, "SELECT status FROM returns WHERE number = :n", n=number) == (
        "completed"
    )
    line = await one(sessions, "SELECT received_quantity, grade, disposition FROM return_lines")
    assert line[:2] == (2, "like_new") and line[2] is not None
    inspected = await one(sessions, "SELECT suggested_grade, grade, inspector FROM inspections")
    assert inspected == ("like_new", "like_new", f"staff:{account.email}")
    assert await one(sessions, "SELECT weight_grams FROM receipts") == 430
    assert await one(sessions, "SELECT location FROM dispositions") == location
    assert await rows(sessions, "SELECT kind FROM receiving_flags") == []
    assert [p.name for p in camera.taken] == [
        "01-scan.png",
        "02-scan-unknown.png",
        "03-return.png",
        "04-receive-filled.png",
        "05-received.png",
        "06-inspect.png",
        "07-inspect-answered.png",
        "08-inspect-suggested.png",
        "09-route.png",
        "10-bin-tag.png",
        "11-completed.png",
    ]
    print(f"{device}: {time.monotonic() - started:.1f}s, screenshots in {camera.folder}")


@pytest.mark.parametrize("device", list(VIEWPORTS))
async def test_the_warehouse_pages_fit_a_phone_and_a_desktop(
    device: str,
    browser: Any,  # noqa: F811
    live_server: Any,
    client: httpx.AsyncClient,
    sessions: Sessions,
    tmp_path: Path,
) -> None:
    from playwright.async_api import expect

    # Stock, a work order at the partner, a recycling manifest, and two lines for the batch.
    restocked, _ = await arriving(client, "1001", lines={TEE: 1, PHONE: 1})
    await received(sessions, restocked, {TEE: 1, PHONE: 1})
    await graded(sessions, restocked, TEE)
    await graded(sessions, restocked, PHONE, Grade.GOOD)
    await routed(sessions, restocked, TEE)
    await routed(sessions, restocked, PHONE, Disposition.REFURBISH)
    recycled, _ = await arriving(client, "1002", lines={TEE: 1})
    await received(sessions, recycled, {TEE: 1})
    await graded(sessions, recycled, TEE, Grade.ACCEPTABLE)
    await routed(sessions, recycled, TEE, Disposition.RECYCLE)
    pending, _ = await arriving(client, "1003", lines={TEE: 2, PHONE: 1})
    await received(sessions, pending, {TEE: 2, PHONE: 1})
    await graded(sessions, pending, TEE)
    await graded(sessions, pending, PHONE, Grade.VERY_GOOD)
    manifest = await one(sessions, "SELECT number FROM manifests")
    account = await make_staff(sessions, Role.ADMIN, name="Ada Admin")

    camera = Camera(tmp_path / "screenshots", f"warehouse-{device}")
    context = await browser.new_context(base_url=live_server.url, **VIEWPORTS[device])
    context.set_default_timeout(10_000)
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "request",
        lambda r: (
            errors.append(f"external request {r.url}")
            if not r.url.startswith((live_server.url, "data:"))
            else None
        ),
    )
    await page.goto("/console/login")
    await page.get_by_label("E-mail address").fill(account.email)
    await page.get_by_label("Password").fill(account.password)
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/console$"))

    layout: list[str] = []
    for path, title, name in [
        ("/console/inventory", "Inventory", "inventory"),
        ("/console/work-orders", "Refurbishment work orders", "work-orders"),
        ("/console/manifests", "End-of-life manifests", "manifests"),
        (f"/console/manifests/{manifest}", f"Manifest {manifest}", "manifest"),
        ("/console/batch?refurbish=0&open_box=", "Plan the day's batch", "batch"),
    ]:
        await page.goto(path)
        await expect(page.get_by_role("heading", level=1)).to_have_text(title)
        layout.extend(await _layout_problems(page, name))
        await camera.shoot(page, name)

    await context.close()
    assert not errors, "\n".join(errors)
    assert not layout, "\n".join(layout)
