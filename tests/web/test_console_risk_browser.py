"""Return risk in a real browser, on a phone and on a desktop, over a real shop's history: an
analyst opens the model's page from the dashboard, reads its measures and what it leans on,
then opens an order and reads each line's risk and what drove it, by keyboard.

Chromium, screenshots and the layout checks are the portal browser test's (see there).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from reclaim.analytics import rollups
from reclaim.analytics.retail_import import import_file
from reclaim.db import transaction
from reclaim.orders.models import Order
from reclaim.prediction import service
from reclaim.returns.models import Return
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

pytestmark = [
    # How the pages look and are used doesn't depend on the database; test_console_orders.py
    # and test_console_risk_model.py read them on SQLite and PostgreSQL.
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
]


@pytest.mark.parametrize("device", list(VIEWPORTS))
async def test_an_analyst_reads_the_model_and_an_orders_risk_by_keyboard(
    device: str,
    browser: Any,  # noqa: F811
    live_server: Any,
    sessions: Sessions,
    tmp_path: Path,
) -> None:
    from playwright.async_api import expect

    await import_file(sessions, SLICE)
    await rollups.refresh(sessions)
    model = await service.train(sessions, datetime(2011, 9, 1, tzinfo=UTC))
    async with transaction(sessions) as session:
        order_id = await session.scalar(
            select(Order.external_id)
            .join(Return, Return.order_id == Order.id)
            .order_by(Return.created_at.desc())
            .limit(1)
        )
    analyst = await make_staff(sessions, Role.ANALYST, name="Ana Analyst")
    camera = Camera(tmp_path / "screenshots", f"risk-{device}")
    context = await browser.new_context(base_url=live_server.url, **VIEWPORTS[device])
    context.set_default_timeout(15_000)
    visit = Visit(await context.new_page(), live_server.url, camera)
    page = visit.page
    await visit.sign_in(analyst, SEASON)

    # From the dashboard to the model, by keyboard.
    link = page.get_by_role("link", name="the return-risk model")
    await _tab_to(page, link, limit=400)
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/console/analytics/model$"))
    await visit.arrive("Return-risk model", "model")
    await expect(page.get_by_text(f"Version {model.version}, trained")).to_be_visible()
    measures = page.get_by_role("region", name="How well it ranked history it had not seen")
    await expect(measures.locator("tbody tr")).to_have_count(2)
    for name in ("What a line's score leans on", "What an order's score leans on"):
        leans = page.get_by_role("region", name=name)
        await expect(leans.locator("tbody tr").first).to_contain_text("%")

    # An order that came back: its risk at purchase, line by line, with the drivers.
    await page.goto(f"/console/orders/{order_id}")
    await visit.arrive(f"Order {order_id}", "order")
    panel = page.get_by_role("region", name="Return risk at purchase")
    await expect(panel).to_contain_text("Chance at least one line comes back within 30 days")
    lines = page.get_by_role("region", name="Lines")
    await expect(lines.locator("tbody tr").first).to_contain_text("% ")
    await expect(lines.locator("tbody tr").first).to_contain_text("risk")
    back = panel.get_by_role("link", name=f"return-risk model v{model.version}")
    await _tab_to(page, back, limit=200)
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/console/analytics/model$"))

    await context.close()
    assert not visit.errors, visit.errors
    assert not visit.layout, "\n".join(visit.layout)
    assert [p.name for p in camera.taken] == ["01-model.png", "02-order.png"]
