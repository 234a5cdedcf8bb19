"""Findings from a history built through real orders and returns: a tee that runs small is
called out with its action and its shoppers' theme; a vase returned once after one sale, and
the products that come back as often as their peers, are not."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.analytics import findings_service, rollups
from reclaim.analytics.filters import Filters
from reclaim.db import transaction
from reclaim.errors import NotFound
from reclaim.kit.clock import utcnow
from reclaim.orders.schemas import OrderIn
from reclaim.orders.service import upsert_order
from reclaim.returns import service as returns
from reclaim.returns.schemas import ReturnIn
from tests.factories import MANUAL_POLICY, actor, order_payload

ORDERS = 40
TEES = ("TEE-1", "TEE-2", "TEE-3", "TEE-4", "TEE-5", "TEE-S")
MUGS = ("MUG-1", "MUG-2")
RUNS_SMALL = ("Runs small.", "runs small!", "Runs SMALL, sadly")


def line(ref: str, sku: str, category: str) -> dict[str, object]:
    return {
        "line_id": ref,
        "sku": sku,
        "quantity": 1,
        "unit_price_minor": 2500 if category == "apparel" else 1200,
        "product": {"name": f"Product {sku}", "category": category, "weight_grams": 300},
    }


async def give_back(
    session: AsyncSession, order: str, ref: str, reason: str, comment: str | None = None
) -> None:
    data = ReturnIn.model_validate(
        {
            "order_id": order,
            "lines": [{"line_id": ref, "quantity": 1, "reason": reason, "comment": comment}],
        }
    )
    await returns.create_return(session, data, actor(), policy=MANUAL_POLICY)


@pytest.fixture
async def history(sessions: async_sessionmaker[AsyncSession]) -> None:
    """40 orders of one of each tee and mug, and one of a vase.

    TEE-S: 10 of 40 back as too small (7 saying it runs small), 2 as no longer needed.
    The other tees and the mugs: 3 of 40 each (7.5%), no longer needed but for two mugs too
    small. The vase: its one sale back, defective."""
    async with transaction(sessions) as session:
        for n in range(ORDERS):
            lines = [line(str(i), sku, "apparel") for i, sku in enumerate(TEES, 1)]
            lines += [line(str(7 + i), sku, "home") for i, sku in enumerate(MUGS)]
            payload = order_payload(f"O{n}", lines=lines, email=f"shopper{n}@example.com")
            await upsert_order(session, OrderIn.model_validate(payload))
        vase = order_payload("V1", lines=[line("1", "VASE-1", "home")], email="v@example.com")
        await upsert_order(session, OrderIn.model_validate(vase))
    async with transaction(sessions) as session:
        for n in range(10):
            comment = RUNS_SMALL[n % 3] if n < 7 else None
            await give_back(session, f"O{n}", "6", "too_small", comment)
        for n in (10, 11):
            await give_back(session, f"O{n}", "6", "no_longer_needed")
        for i in range(1, 6):
            for k in range(3):
                await give_back(session, f"O{9 + 3 * i + k}", str(i), "no_longer_needed")
        for ref, reasons in (("7", ("too_small", "no_longer_needed", "too_small")), ("8", ())):
            for n, reason in enumerate(reasons or ("no_longer_needed",) * 3):
                await give_back(session, f"O{30 + n}", ref, reason)
        await give_back(session, "V1", "1", "defective", "Arrived cracked")
    await rollups.refresh(sessions)


def period(**slices: str) -> Filters:
    today = utcnow().date()
    return Filters.parse(since=today - timedelta(days=30), until=today, **slices)


async def test_a_product_that_runs_small_is_called_out_with_actions_and_nothing_else(
    sessions: async_sessionmaker[AsyncSession], history: None
) -> None:
    async with transaction(sessions) as session:
        found = await findings_service.findings(session, period())
    # Most valuable first: 10 too-small returns where its peers have none (10 x 25.00), 9
    # units beyond the peers' 7.5% of 40 (9 x 25.00), 7 comments (7 x 25.00).
    assert [(f.kind, f.subject, f.severity) for f in found] == [
        ("reason_concentration", "TEE-S", 25_000),
        ("sku_excess", "TEE-S", 22_500),
        ("theme", "runs small", 17_500),
    ]
    reason, excess, theme = found
    assert excess.headline.startswith("SKU TEE-S (Product TEE-S) comes back ")
    assert "× as often as other products in apparel (" in excess.headline
    assert "vs 7.5%, 40 units shipped): check its listing and quality." in excess.headline
    assert excess.evidence["returned_units"] == 12
    assert excess.evidence["q_value"] <= 0.05
    assert reason.headline == (
        "83% of returns of SKU TEE-S (Product TEE-S) say too small: it runs small — "
        "update the size guide."
    )
    assert theme.headline == (
        "7 shoppers wrote “runs small” (7 of them about SKU TEE-S (Product TEE-S)): "
        "update the size guide."
    )


async def test_product_rates_put_the_tee_first_and_flag_only_it(
    sessions: async_sessionmaker[AsyncSession], history: None
) -> None:
    async with transaction(sessions) as session:
        rates = await findings_service.product_rates(session, period())
        flagged = await findings_service.product_rates(session, period(), flagged=True)
        vase = await findings_service.product_rate(session, "VASE-1", period())
    assert rates[0].sku == "TEE-S"
    assert (rates[0].estimate.returned, rates[0].estimate.shipped) == (12, 40)
    assert rates[0].category_rate == pytest.approx(15 / 200)
    assert rates[0].top_reason == "too_small"
    assert len(rates) == len(TEES) + len(MUGS) + 1
    assert [rate.sku for rate in flagged] == ["TEE-S"]
    # One return of one sale: shrunk far below 100%, and no alarm.
    assert (vase.estimate.returned, vase.estimate.shipped, vase.estimate.raw) == (1, 1, 1.0)
    assert vase.estimate.mean < 0.5
    assert not vase.frequently_returned and not vase.excessive


async def test_a_slice_shows_only_what_is_about_it(
    sessions: async_sessionmaker[AsyncSession], history: None
) -> None:
    async with transaction(sessions) as session:
        home = await findings_service.findings(session, period(category="home"))
        tee = await findings_service.findings(session, period(sku="TEE-S"))
        mugs = await findings_service.product_rates(session, period(category="home"))
    assert home == []
    assert [(f.kind, f.subject) for f in tee] == [
        ("reason_concentration", "TEE-S"),
        ("sku_excess", "TEE-S"),
        ("theme", "runs small"),
    ]
    assert {rate.sku for rate in mugs} == {"MUG-1", "MUG-2", "VASE-1"}


async def test_a_period_before_anything_happened_has_nothing_to_say(
    sessions: async_sessionmaker[AsyncSession], history: None
) -> None:
    long_ago = Filters.parse(since="2020-01-01", until="2020-03-31")
    async with transaction(sessions) as session:
        assert await findings_service.findings(session, long_ago) == []
        assert await findings_service.product_rates(session, long_ago) == []
        idle = await findings_service.product_rate(session, "TEE-S", long_ago)
    assert (idle.estimate.shipped, idle.estimate.raw, idle.frequently_returned) == (0, None, False)


async def test_an_unknown_sku_is_not_found(
    sessions: async_sessionmaker[AsyncSession], history: None
) -> None:
    async with transaction(sessions) as session:
        with pytest.raises(NotFound):
            await findings_service.product_rate(session, "NOPE", period())


async def test_a_facility_filter_changes_no_finding_or_rate(
    sessions: async_sessionmaker[AsyncSession], history: None
) -> None:
    # Shipments belong to no facility: findings and rates are over all facilities.
    async with transaction(sessions) as session:
        found = await findings_service.findings(session, period())
        rates = await findings_service.product_rates(session, period())
        tee = await findings_service.product_rate(session, "TEE-S", period())
        nowhere = period(facility="NO-SUCH")
        assert await findings_service.findings(session, nowhere) == found
        assert await findings_service.product_rates(session, nowhere) == rates
        assert await findings_service.product_rate(session, "TEE-S", nowhere) == tee
    assert len(found) == 3
