"""The analytics dashboard in a real browser, on a phone and on a desktop, over a real shop's
history: a slice of the Online Retail file imported as the importer does it, its rollups
refreshed. An analyst signs in, reads the figures and charts, and narrows the view to one
category with the keyboard alone.

Chromium, screenshots and the layout checks are the portal browser test's (see there).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from reclaim.analytics import rollups
from reclaim.analytics.definitions import KPIS
from reclaim.analytics.retail_import import import_file
from reclaim.users.roles import Role
from tests.web.console_support import make_staff
from tests.web.station_support import Sessions
from tests.web.test_console_money_browser import Visit
from tests.web.test_portal_browser import (  # noqa: F401 (browser is a fixture)
    VIEWPORTS,
    Camera,
    _tab_to,
    browser,
)

SLICE = Path(__file__).parents[1] / "data" / "online_retail" / "slice.csv"
SEASON = "/console/analytics?since=2010-12-01&until=2011-08-31"
CATEGORY = "kitchen & tableware"

pytestmark = [
    # How the page looks and is used doesn't depend on the database; test_console_analytics.py
    # reads the same page on SQLite and PostgreSQL.
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
]


@pytest.mark.parametrize("device", list(VIEWPORTS))
async def test_an_analyst_reads_a_real_shops_returns_and_narrows_them_by_keyboard(
    device: str,
    browser: Any,  # noqa: F811
    live_server: Any,
    sessions: Sessions,
    tmp_path: Path,
) -> None:
    from playwright.async_api import expect

    started = time.monotonic()
    await import_file(sessions, SLICE)
    await rollups.refresh(sessions)
    analyst = await make_staff(sessions, Role.ANALYST, name="Ana Analyst")
    camera = Camera(tmp_path / "screenshots", f"analytics-{device}")
    context = await browser.new_context(base_url=live_server.url, **VIEWPORTS[device])
    context.set_default_timeout(15_000)
    visit = Visit(await context.new_page(), live_server.url, camera)
    page = visit.page
    # Signing in sends the analyst on to the season asked for, its query string and all.
    await visit.sign_in(analyst, SEASON)
    await visit.arrive("Returns analytics", "dashboard")

    # A tile per KPI, its definition one keypress away.
    key_figures = page.get_by_role("region", name="Key figures")
    await expect(key_figures.locator(".tile")).to_have_count(len(KPIS))
    rate = key_figures.locator("#kpi-return_rate")
    await expect(rate.locator(".value")).to_have_text(re.compile(r"^\d+\.\d%$"))
    what = rate.get_by_text("What this is")
    await _tab_to(page, what, limit=80)
    await expect(rate.locator(".tip")).to_be_visible()  # shown on focus, as on hover
    await page.keyboard.press("Enter")
    await expect(rate.locator("details p")).to_contain_text("Units returned within 30 days")

    # The charts are pictures with names, and the findings say what to do.
    for name in (
        "Return rate by week",
        "Returns per week",
        "Why things come back",
        "Return rate by category",
    ):
        await expect(page.get_by_role("img", name=name, exact=True)).to_be_visible()
    findings = page.get_by_role("region", name="What to act on")
    await expect(findings.locator(".finding").first).to_be_visible()
    products = page.get_by_role("region", name="Products")
    await expect(products.locator("tbody tr").first).to_be_visible()
    forecast = page.get_by_role("region", name="Inbound forecast")
    await expect(forecast).to_contain_text("Week of")

    # One category, chosen and shown with the keyboard alone.
    category = page.get_by_label("Category", exact=True)
    await _tab_to(page, category, limit=120)
    await page.keyboard.type("kitchen")
    await expect(category).to_have_value(CATEGORY)
    await _tab_to(page, page.get_by_role("button", name="Show"), limit=10)
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"category=kitchen"))
    await visit.arrive("Returns analytics", "kitchen")
    await expect(page.get_by_role("list", name="Active filters")).to_contain_text(
        f"Category: {CATEGORY}"
    )
    await expect(category).to_have_value(CATEGORY)
    sku = products.locator("tbody tr .sku").first
    await expect(sku).to_contain_text(CATEGORY)

    # Printing keeps the figures and drops the controls.
    await page.emulate_media(media="print")
    await expect(page.get_by_role("button", name="Show")).to_be_hidden()
    await expect(key_figures).to_be_visible()
    await page.emulate_media(media="screen")

    await context.close()
    assert not visit.errors, visit.errors
    assert not visit.layout, "\n".join(visit.layout)
    assert [p.name for p in camera.taken] == ["01-dashboard.png", "02-kitchen.png"]
    print(f"{device}: {time.monotonic() - started:.1f}s, screenshots in {camera.folder}")
