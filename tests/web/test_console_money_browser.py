"""Refunds by hand in a real browser, on a phone and on a desktop: an agent refunds more than
one person may, from the return's money panel and with the keyboard alone, and a second agent
approves it on the refunds page.

Chromium, screenshots and the layout checks are the portal browser test's (see there).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from reclaim.users.roles import Role
from tests.web.console_support import Account, make_staff
from tests.web.station_support import TEE, Sessions, arriving, graded, one, received, rows
from tests.web.test_portal_browser import (  # noqa: F401 (browser is a fixture)
    VIEWPORTS,
    Camera,
    _layout_problems,
    _tab_to,
    browser,
)

pytestmark = [
    # How the pages look and are used doesn't depend on the database; test_console_money.py
    # runs the same forms on SQLite and PostgreSQL.
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
]


class Visit:
    """One staff member's browser: the page, what went wrong in it, and its screenshots."""

    def __init__(self, page: Any, base_url: str, camera: Camera) -> None:
        self.page, self.camera = page, camera
        self.errors: list[str] = []
        self.layout: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on(  # everything is self-hosted: no CDN, no web fonts
            "request",
            lambda r: (
                self.errors.append(f"external request {r.url}")
                if not r.url.startswith((base_url, "data:"))
                else None
            ),
        )

    async def sign_in(self, account: Account, then: str) -> None:
        """Sign in from the login page, which sends on to ``then``, its query string and all."""
        page = self.page
        await page.goto(f"/console/login?{urlencode({'next': then})}")
        await page.get_by_label("E-mail address").fill(account.email)
        await page.get_by_label("Password").fill(account.password)
        await page.keyboard.press("Enter")
        await page.wait_for_url(re.compile(re.escape(then) + "$"))

    async def arrive(self, title: str | re.Pattern[str], name: str) -> None:
        from playwright.async_api import expect

        await expect(self.page.get_by_role("heading", level=1)).to_have_text(title)
        self.layout.extend(await _layout_problems(self.page, name))
        await self.camera.shoot(self.page, name)


@pytest.mark.parametrize("device", list(VIEWPORTS))
async def test_an_agent_refunds_by_hand_and_a_second_agent_approves(
    device: str,
    browser: Any,  # noqa: F811
    live_server: Any,
    client: httpx.AsyncClient,
    sessions: Sessions,
    tmp_path: Path,
) -> None:
    from playwright.async_api import expect

    started = time.monotonic()
    # A tee return already refunded after inspection: the panel has a refund to show.
    number, _ = await arriving(client, "1001", lines={TEE: 2})
    await received(sessions, number, {TEE: 2})
    await graded(sessions, number, TEE)
    ann = await make_staff(sessions, Role.AGENT, name="Ann Agent")
    bob = await make_staff(sessions, Role.AGENT, name="Bob Agent")
    camera = Camera(tmp_path / "screenshots", f"money-{device}")

    context = await browser.new_context(base_url=live_server.url, **VIEWPORTS[device])
    context.set_default_timeout(10_000)
    asker = Visit(await context.new_page(), live_server.url, camera)
    page = asker.page
    await asker.sign_in(ann, f"/console/returns/{number}")
    await asker.arrive(f"Return {number}", "return")
    money = page.get_by_role("region", name="Money")
    await expect(money).to_contain_text("Refunded: 2 units of 2")
    await expect(money).to_contain_text("Requested from the shop's payment system")

    # A bad amount: the form again, the reason next to it, what was typed still there.
    amount = page.get_by_label(re.compile(r"^Amount"))
    await _tab_to(page, amount, limit=80)
    await page.keyboard.type("12.345")
    await page.keyboard.press("Tab")  # the kind: a partial refund is the first choice
    await page.keyboard.press("Tab")
    await page.keyboard.type("The zip broke a week in")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Refund", exact=True)).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("alert").first).to_contain_text("Nothing was changed")
    await expect(amount).to_have_value("12.345")
    await expect(amount).to_be_focused()
    await asker.arrive(f"Return {number}", "refund-refused")

    # 150.00 is more than one agent may refund alone.
    await page.keyboard.press("Control+A")
    await page.keyboard.type("150.00")
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"**/console/returns/{number}")
    await expect(page.get_by_role("status")).to_contain_text(
        "amounts above 100.00 USD need two people"
    )
    await expect(money).to_contain_text(
        "Waiting for a second agent: amounts above 100.00 USD need two people."
    )
    await asker.arrive(f"Return {number}", "refund-held")
    held = await one(sessions, "SELECT number FROM refunds WHERE status = 'pending_approval'")

    # Ann's own refund waits on the refunds page, without a button for her.
    menu = page.get_by_role("navigation", name="Console")
    await menu.get_by_role("link", name="Refunds").click()
    await asker.arrive("Refunds", "refunds-asker")
    waiting = page.get_by_role("region", name=re.compile("Waiting for a second agent"))
    await expect(waiting).to_contain_text("You asked for this refund, so a second agent must")
    await expect(waiting.get_by_role("button", name=re.compile("Approve"))).to_have_count(0)

    # Bob approves it, from the keyboard.
    second = await browser.new_context(base_url=live_server.url, **VIEWPORTS[device])
    second.set_default_timeout(10_000)
    approver = Visit(await second.new_page(), live_server.url, camera)
    other = approver.page
    await approver.sign_in(bob, "/console/refunds")
    await approver.arrive("Refunds", "refunds-approver")
    approve = other.get_by_role("button", name=f"Approve refund {held}")
    await _tab_to(other, approve, limit=60)
    await other.keyboard.press("Enter")
    await other.wait_for_url("**/console/refunds")
    await expect(other.get_by_role("status")).to_contain_text(f"Approved refund {held} of 150.00")
    await expect(other.get_by_role("region", name=re.compile("Waiting"))).to_contain_text(
        "No refund waits for approval."
    )
    await approver.arrive("Refunds", "approved")

    await other.goto(f"/console/returns/{number}")
    await expect(other.get_by_role("region", name="Money")).to_contain_text(
        f"approved by staff:{bob.email}"
    )
    await approver.arrive(f"Return {number}", "return-after")

    await second.close()
    await context.close()
    problems = asker.errors + approver.errors
    # The refused refund answers 422 by design; nothing else may go wrong.
    assert all("status of 422" in e for e in problems), problems
    assert not asker.layout + approver.layout, "\n".join(asker.layout + approver.layout)

    assert await rows(sessions, "SELECT kind, status, amount_minor, approved_by FROM refunds") == [
        ("return", "requested", 5000, None),
        ("manual", "requested", 15000, f"staff:{bob.email}"),
    ]
    assert [p.name for p in camera.taken] == [
        "01-return.png",
        "02-refund-refused.png",
        "03-refund-held.png",
        "04-refunds-asker.png",
        "05-refunds-approver.png",
        "06-approved.png",
        "07-return-after.png",
    ]
    print(f"{device}: {time.monotonic() - started:.1f}s, screenshots in {camera.folder}")
