"""The customer portal in a real browser, on a phone and on a desktop: every step, by its labels.

Chromium is Debian's (/usr/bin/chromium), driven by Playwright without `playwright install`.
Each page is screenshotted (full page) into the test's tmp_path, and copied to the folder
named by RECLAIM_SCREENSHOTS when that is set, so a person can look at what shoppers see.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import return_payload
from tests.web.portal_support import PORTAL_POLICY, seed_portal_order

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_ENV = "RECLAIM_REQUIRE_BROWSER"
SHOTS_ENV = "RECLAIM_SCREENSHOTS"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORTS: dict[str, dict[str, Any]] = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1280, "height": 900}},
}
# WCAG 2.2 "target size (minimum)": anything a shopper taps is at least 24 by 24 CSS pixels.
MIN_TARGET = 24
RMA = re.compile(r"RMA-[0-9A-Z]{5}-[0-9A-Z]{5}")

pytestmark = [
    pytest.mark.parametrize("server_overrides", [PORTAL_POLICY]),
    # The browser test checks what pages look like and how they are used; the database behind
    # them doesn't change that, and the HTTP tests (test_portal_flow.py) run the same flow on
    # both SQLite and PostgreSQL. So this one runs on SQLite only, rather than twice.
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
]


def _chromium() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{REQUIRE_ENV} is set but there is no browser at {CHROMIUM}")
        pytest.skip(
            f"no Chromium at {CHROMIUM} (apt-get install chromium); "
            f"set {REQUIRE_ENV}=1 to fail instead"
        )
    return CHROMIUM


async def _seed(client: httpx.AsyncClient) -> None:
    """Order 1001 (ann@example.com: a 2× tee, line 1, and a mug, line 2), other sizes of the
    tee for an exchange, and two drop-off points."""
    stock = [
        {
            "line_id": str(n),
            "sku": sku,
            "quantity": 1,
            "unit_price_minor": 2500,
            "product": {
                "name": f"Tee ({size})",
                "category": "apparel",
                "product_group": "tee",
                "attributes": {"size": size},
            },
        }
        for n, (sku, size) in enumerate([("TEE-S", "S"), ("TEE-M", "M"), ("TEE-L", "L")], 1)
    ]
    await seed_portal_order(client, "9000", lines=stock, email="bob@example.com")
    await seed_portal_order(client)
    for code, name, address in [
        ("DROP-1", "Corner Shop Parcel Point", "12 High Street, Springfield"),
        ("DROP-2", "Station Kiosk", "Platform 1, Springfield Central"),
    ]:
        response = await client.put(
            f"/api/v1/facilities/{code}",
            json={
                "code": code,
                "name": name,
                "kind": "dropoff",
                "methods": ["box_free_dropoff"],
                "address": address,
                "opening_hours": "Mon–Sat 8:00–20:00",
            },
        )
        assert response.status_code in (200, 201), response.text


class Camera:
    """Full-page screenshots, numbered in the order taken, in tmp_path and RECLAIM_SCREENSHOTS."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = folder / name
        self.folder.mkdir(parents=True, exist_ok=True)
        shared = os.environ.get(SHOTS_ENV)
        self.copy_to = Path(shared) / name if shared else None
        self.taken: list[Path] = []

    async def shoot(self, page: Any, name: str) -> None:
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        if self.copy_to:
            self.copy_to.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, self.copy_to / path.name)


async def _layout_problems(page: Any, where: str) -> list[str]:
    """Anything wider than the screen, and any control too small to hit with a thumb."""
    found = await page.evaluate(
        """(min) => {
          const wide = document.documentElement.scrollWidth - window.innerWidth;
          const small = [];
          const hits = 'button, select, textarea, input:not([type=hidden]), a.button, a.back';
          for (const el of document.querySelectorAll(hits)) {
            const box = el.getBoundingClientRect();
            if (box.width === 0 && box.height === 0) continue;  // not shown
            if (box.width < min || box.height < min) {
              small.push(`${el.outerHTML.slice(0, 80)}: ${box.width}x${box.height}`);
            }
          }
          return {wide, small};
        }""",
        MIN_TARGET,
    )
    wide = [f"{where}: {found['wide']}px wider than the screen"] if found["wide"] > 0 else []
    return wide + [f"{where}: under {MIN_TARGET}px: {small}" for small in found["small"]]


async def _tab_to(page: Any, locator: Any, *, limit: int = 25) -> None:
    """Press Tab until the locator has the focus, as a keyboard user would."""
    for _ in range(limit):
        if await locator.evaluate("el => el === document.activeElement"):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {locator}")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    executable = _chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.mark.parametrize("device", list(VIEWPORTS))
async def test_a_shopper_returns_a_tee_in_a_real_browser(
    device: str, browser: Any, live_server: Any, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    started = time.monotonic()
    await _seed(client)
    camera = Camera(tmp_path / "screenshots", device)
    context = await browser.new_context(base_url=live_server.url, **VIEWPORTS[device])
    context.set_default_timeout(10_000)
    page = await context.new_page()
    # What the browser ran into (errors, failed or off-site requests), and what looked wrong.
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

    def refused(path: str) -> None:
        """A form sent back with a 400, which the browser logs too: expected, and only that."""
        answer = f"400 from {live_server.url}{path}"
        assert answer in errors, errors
        assert all(e == answer or "status of 400" in e for e in errors), errors
        errors.clear()

    async def arrive(title: str, name: str) -> None:
        await expect(page.get_by_role("heading", level=1)).to_have_text(title)
        layout.extend(await _layout_problems(page, name))
        await camera.shoot(page, name)

    # The way in: a mistyped e-mail first, then the right one, by keyboard alone.
    await page.goto("/returns")
    await arrive("Returns", "lookup")
    start = page.get_by_role("region", name="Start a return")
    await expect(page.get_by_role("region", name="Track a return")).to_be_visible()
    order_number = start.get_by_label("Order number")
    await expect(order_number).to_be_focused()  # autofocus: the shopper can type at once
    await order_number.fill("1001")
    await start.get_by_label("E-mail address").fill("anne@example.com")
    await start.get_by_role("button", name="Find my order").click()
    await expect(start.get_by_role("alert")).to_contain_text("couldn't find an order")
    await expect(order_number).to_have_attribute("aria-invalid", "true")
    await expect(order_number).to_have_value("1001")  # what was typed is kept
    await arrive("Returns", "lookup-error")
    refused("/returns/lookup")

    await expect(order_number).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(start.get_by_label("E-mail address")).to_be_focused()
    await page.keyboard.press("ControlOrMeta+a")
    await page.keyboard.type("ann@example.com")
    await page.keyboard.press("Enter")

    # Step 1: which items, by keyboard alone: Tab to the tick box, Space ticks it, type-ahead
    # picks the quantity, Enter on the button goes on.
    await page.wait_for_url("**/returns/order")
    await arrive("What would you like to return?", "items")
    steps = page.get_by_role("list", name="Progress")
    await expect(steps.locator("[aria-current=step]")).to_contain_text("Step 1 of 5")
    tee = page.get_by_role("checkbox", name="Tee (M)")
    await _tab_to(page, tee)
    await page.keyboard.press("Space")
    await expect(tee).to_be_checked()
    await expect(page.get_by_role("checkbox", name="Mug")).not_to_be_checked()
    how_many = page.get_by_label("How many of Tee (M)")
    await _tab_to(page, how_many)
    await page.keyboard.type("2")
    await expect(how_many).to_have_value("2")
    await _tab_to(page, page.get_by_role("button", name="Continue"))
    await camera.shoot(page, "items-chosen")
    await page.keyboard.press("Enter")

    # Step 2: why, asked per item in its own group.
    await page.wait_for_url("**/returns/reasons")
    await arrive("Why are you returning it?", "reasons")
    await expect(steps.locator("[aria-current=step]")).to_contain_text("Step 2 of 5")
    item = page.get_by_role("group", name="Tee (M) × 2")
    reason = item.get_by_label("Reason")
    continue_ = page.get_by_role("button", name="Continue")
    await continue_.click()  # no reason given yet: the browser asks for one, nothing is sent
    await expect(reason).to_be_focused()
    assert await reason.evaluate("el => !el.validity.valid && el.validationMessage !== ''")
    await expect(page).to_have_url(re.compile(r"/returns/reasons$"))
    await reason.select_option(label="Too small")
    await item.get_by_label("which size would have").select_option("L")
    await item.get_by_label("Anything else we should know?").fill("Lovely, just snug.")
    await expect(item.get_by_label("Photos")).to_be_visible()
    await continue_.click()

    # Step 3: refund, store credit or an exchange, each with its price.
    await page.wait_for_url("**/returns/resolution")
    await arrive("What would you like instead?", "resolution")
    await expect(steps.locator("[aria-current=step]")).to_contain_text("Step 3 of 5")
    refund = page.get_by_role("radio", name=re.compile(r"^Refund to your original payment"))
    credit = page.get_by_role("radio", name=re.compile(r"^Store credit"))
    exchange = page.get_by_role("radio", name=re.compile(r"^Exchange for another size"))
    await expect(refund).to_be_checked()
    await expect(refund).to_have_accessible_name(re.compile(r"payment: .*\d\.\d\d"))
    await expect(credit).to_have_accessible_description(re.compile(r"10% bonus"))
    preview = page.get_by_role("table", name="Price preview: Store credit")
    await expect(preview.get_by_role("row", name=re.compile("Store credit bonus"))).to_be_visible()
    await expect(page.get_by_role("table", name=re.compile("^Price preview"))).to_have_count(3)
    new_size = page.get_by_label("New size or colour for Tee (M)")
    await expect(new_size).to_be_hidden()  # asked only once the exchange is chosen
    await exchange.check()
    await new_size.select_option(label="Tee (L)")
    await camera.shoot(page, "resolution-exchange")
    await page.get_by_role("button", name="Continue").click()

    # Step 4: how it goes back: a drop-off point, chosen among the nearest.
    await page.wait_for_url("**/returns/method")
    await arrive("How will you send it back?", "method")
    await expect(steps.locator("[aria-current=step]")).to_contain_text("Step 4 of 5")
    places = page.get_by_role("group", name="Nearest places")
    pickup_slot = page.get_by_label("Pickup slot")
    await expect(pickup_slot).to_be_hidden()  # what belongs to an option shows when it's chosen
    await page.get_by_role("radio", name=re.compile(r"^Pickup from your door")).check()
    await expect(pickup_slot).to_be_visible()
    await expect(places).to_be_hidden()
    await page.get_by_role("radio", name=re.compile(r"^Drop off, no box or printer")).check()
    await expect(pickup_slot).to_be_hidden()
    await places.get_by_role("radio", name=re.compile(r"^Station Kiosk")).check()
    await page.get_by_role("button", name="Continue").click()

    # Step 5: check everything, then confirm.
    await page.wait_for_url("**/returns/confirm")
    await arrive("Check your return", "confirm")
    await expect(steps.locator("[aria-current=step]")).to_contain_text("Step 5 of 5")
    await expect(page.get_by_text("Station Kiosk")).to_be_visible()
    summary = page.get_by_role("listitem").filter(has_text="Tee (M)")
    await expect(summary).to_contain_text("Too small")
    await expect(summary).to_contain_text(re.compile(r"exchange for (TEE-L|Tee \(L\))"))
    await expect(summary).to_contain_text("Size that would fit: L")
    await expect(summary).to_contain_text("Lovely, just snug.")
    await expect(page.get_by_role("table", name="Price preview")).to_be_visible()
    await page.get_by_role("button", name="Confirm return").click()

    # The status page: the RMA number, the QR code to show at the drop-off point, the timeline.
    await page.wait_for_url(re.compile(r"/returns/r/RMA-[0-9A-Z-]+\?new=1$"))
    number = RMA.search(page.url)
    assert number, page.url
    await expect(page.get_by_role("status")).to_contain_text("Your return is confirmed")
    await arrive(f"Return {number.group(0)}", "status")
    await expect(page.get_by_text("Approved: ready to send back")).to_be_visible()
    qr = page.get_by_role("img", name=re.compile("QR code"))
    await expect(qr).to_be_visible()
    box = await qr.bounding_box()
    assert box and min(box["width"], box["height"]) >= 120, f"QR code too small to scan: {box}"
    timeline = page.get_by_role("region", name="Timeline")
    await expect(timeline.get_by_role("listitem").first).to_contain_text("You started the return.")

    # Changed their mind: cancel it, and the page says so.
    await page.get_by_role("button", name="Cancel this return").click()
    await expect(page.get_by_text("Cancelled", exact=True)).to_be_visible()
    await expect(page.get_by_role("button", name="Cancel this return")).to_have_count(0)
    await expect(page.get_by_text("Expected back")).to_have_count(0)  # nothing is coming back
    layout.extend(await _layout_problems(page, "cancelled"))
    await camera.shoot(page, "cancelled")

    # Later, from another device: track it by RMA number and e-mail.
    await page.get_by_role("button", name=re.compile("^Sign out")).click()
    await page.wait_for_url("**/returns")
    track = page.get_by_role("region", name="Track a return")
    await track.get_by_label("RMA number").fill(number.group(0).lower())
    await track.get_by_label("E-mail address").fill("ANN@example.com")
    await track.get_by_role("button", name="Track my return").click()
    await page.wait_for_url(f"**/returns/r/{number.group(0)}")
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Return {number.group(0)}")

    # The tee again, by prepaid label (started by the shop's systems this time): the label to
    # download, by keyboard, and the code to show at the counter for those without a printer.
    created = await client.post("/api/v1/returns", json=return_payload(line_id="1"))
    assert created.status_code == 201, created.text
    labelled = created.json()["number"]
    await page.goto(f"/returns/r/{labelled}")
    await arrive(f"Return {labelled}", "status-label")
    download = page.get_by_role("link", name="Download your label (PDF)")
    await expect(download).to_be_visible()
    await expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    await expect(page.get_by_text(created.json()["shipment"]["tracking_number"])).to_be_visible()
    await _tab_to(page, download)
    async with page.expect_download() as downloading:
        await page.keyboard.press("Enter")
    saved = await downloading.value
    assert saved.suggested_filename == f"{labelled}-label.pdf"
    pdf = await asyncio.to_thread(Path(await saved.path()).read_bytes)
    assert pdf.startswith(b"%PDF")

    await context.close()
    assert not errors, "\n".join(errors)
    assert not layout, "\n".join(layout)
    assert [p.name for p in camera.taken] == [
        "01-lookup.png",
        "02-lookup-error.png",
        "03-items.png",
        "04-items-chosen.png",
        "05-reasons.png",
        "06-resolution.png",
        "07-resolution-exchange.png",
        "08-method.png",
        "09-confirm.png",
        "10-status.png",
        "11-cancelled.png",
        "12-status-label.png",
    ]
    print(f"{device}: {time.monotonic() - started:.1f}s, screenshots in {camera.folder}")
