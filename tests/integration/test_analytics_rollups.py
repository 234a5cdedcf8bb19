"""The rollups are maintained incrementally: a refresh recomputes only what changed, agrees
with a rebuild from scratch, and misses nothing that commits out of order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.analytics import rollups, service
from reclaim.analytics.filters import Filters
from reclaim.analytics.models import ReturnFact
from reclaim.catalog.models import Product
from reclaim.db import transaction
from reclaim.kit.clock import utcnow
from reclaim.orders.models import Order
from reclaim.orders.schemas import OrderIn
from reclaim.orders.service import upsert_order
from reclaim.returns.models import Return, ReturnEvent, ReturnLine
from tests.integration.analytics_support import History, at, build_history
from tests.integration.helpers import rows, run_cli

Sessions = async_sessionmaker[AsyncSession]
MARCH_DAYS = {"since": "2026-03-01", "until": "2026-03-31"}
MARCH = Filters.parse(**MARCH_DAYS)
TABLES = {
    "analytics_return_facts": "return_line_id",
    "analytics_return_days": "day, currency, sku, category, reason, facility",
    "analytics_cohort_days": "day, currency, sku, category, reason",
    "analytics_sales_days": "day, currency, sku, category",
    "analytics_order_days": "order_id",
}


async def _rollups(sessions: Sessions, *, stamps: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Every rollup row, by table; without the stamps that say which refresh wrote them."""
    found = {}
    async with transaction(sessions) as session:
        for table, key in TABLES.items():
            result = await session.execute(text(f"SELECT * FROM {table} ORDER BY {key}"))
            found[table] = [
                {
                    name: round(value, 6) if isinstance(value, float) else value
                    for name, value in row._mapping.items()
                    if stamps or name != "stamp"
                }
                for row in result
            ]
    return found


async def _kpi(sessions: Sessions, key: str, **slices: Any) -> float | None:
    async with transaction(sessions) as session:
        report = await service.report(session, Filters.parse(**{**MARCH_DAYS, **slices}))
    return report.kpi(key).value


async def _stamps(sessions: Sessions) -> dict[int, int]:
    async with transaction(sessions) as session:
        found = await session.execute(select(ReturnFact.return_id, ReturnFact.stamp))
        return {return_id: stamp for return_id, stamp in found}


@pytest.fixture
async def history(sessions: Sessions) -> History:
    made = await build_history(sessions)
    first = await rollups.refresh(sessions)
    assert first.returns == 7
    return made


async def _inspect_r7(sessions: Sessions, made: History) -> None:
    """R7's two mugs are graded good, as the inspection station would record it."""
    async with transaction(sessions) as session:
        await session.execute(
            update(ReturnLine)
            .where(ReturnLine.id == made.lines["RL9"])
            .values(grade="good", inspected_at=at(3, 23, 12))
        )
        await session.execute(
            update(Return).where(Return.id == made.returns["R7"]).values(status="inspected")
        )
        session.add(
            ReturnEvent(
                return_id=made.returns["R7"],
                action="inspect",
                from_status="received",
                to_status="inspected",
                actor="test",
                at=at(3, 23, 12),
            )
        )


async def test_a_new_event_recomputes_only_its_return_and_its_days(
    sessions: Sessions, history: History
) -> None:
    before = await _stamps(sessions)
    assert await _kpi(sessions, "sellable_rate") == pytest.approx(3 / 8)

    await _inspect_r7(sessions, history)
    report = await rollups.refresh(sessions)

    assert report.returns == 1
    # R7 was requested on 20 March; its order's cohort (the 10th) returned no more units.
    assert report.days == 1
    after = await _stamps(sessions)
    assert {rid for rid, stamp in after.items() if stamp != before[rid]} == {history.returns["R7"]}
    changed_days = await rows(
        sessions,
        "SELECT DISTINCT day FROM analytics_return_days WHERE stamp = "
        "(SELECT max(stamp) FROM analytics_return_days)",
    )
    assert [str(day) for (day,) in changed_days] == ["2026-03-20"]
    assert await _kpi(sessions, "sellable_rate") == pytest.approx(5 / 10)


async def test_a_refresh_with_nothing_new_touches_nothing(
    sessions: Sessions, history: History
) -> None:
    before = await _rollups(sessions, stamps=True)

    report = await rollups.refresh(sessions)

    assert (report.returns, report.days) == (0, 0)
    assert await _rollups(sessions, stamps=True) == before
    assert await rollups.refresh_job(sessions, utcnow()) is None


async def test_a_rebuild_gives_what_the_refreshes_gave(
    sessions: Sessions, history: History
) -> None:
    await _inspect_r7(sessions, history)
    await rollups.refresh(sessions)
    incremental = await _rollups(sessions)

    report = await rollups.rebuild(sessions)

    assert report.returns == 7
    assert await _rollups(sessions) == incremental
    assert sum(len(found) for found in incremental.values()) > 30


async def test_a_product_moved_to_another_category_moves_its_sales_and_returns(
    sessions: Sessions, history: History
) -> None:
    async with transaction(sessions) as session:
        await session.execute(
            update(Product)
            .where(Product.sku == "SOCK")
            .values(category="hosiery", updated_at=utcnow())
        )
    await rollups.refresh(sessions)

    async with transaction(sessions) as session:
        rows_ = await service.breakdown(session, MARCH, "category")
    assert [(row.key, row.returned_units, row.shipped_units) for row in rows_] == [
        ("hosiery", 4, 10),
        ("apparel", 4, 8),
        ("home", 4, 6),
    ]
    assert await _rollups(sessions) == (await _rebuilt(sessions))


async def test_an_order_moved_to_another_day_leaves_its_old_day(
    sessions: Sessions, history: History
) -> None:
    async with transaction(sessions) as session:
        await session.execute(
            update(Order)
            .where(Order.id == history.orders["O3"])
            .values(placed_at=at(3, 12, 12), updated_at=utcnow())
        )
    await rollups.refresh(sessions)

    sales = await rows(sessions, "SELECT day, sku FROM analytics_sales_days WHERE sku = 'MUG'")
    assert sorted(str(day) for day, _ in sales) == ["2026-03-02", "2026-03-04", "2026-03-12"]
    assert await _rollups(sessions) == (await _rebuilt(sessions))


def _order(lines: list[tuple[str, str, int]]) -> OrderIn:
    return OrderIn.model_validate(
        {
            "order_id": "E1",
            "customer": {"id": "c-edit", "email": "edit@example.com"},
            "currency": "USD",
            "placed_at": "2026-03-02T10:00:00Z",
            "lines": [
                {"line_id": ref, "sku": sku, "quantity": quantity, "unit_price_minor": 1000}
                for ref, sku, quantity in lines
            ],
        }
    )


async def test_an_order_whose_lines_alone_change_is_read_again(
    sessions: Sessions, history: History
) -> None:
    async with transaction(sessions) as session:
        await upsert_order(session, _order([("1", "TEE-S", 1), ("2", "MUG", 2)]))
    await rollups.refresh(sessions)
    # The shop corrects it: the M, not the S; one mug fewer and a cup more. The header stays.
    async with transaction(sessions) as session:
        await upsert_order(session, _order([("1", "TEE-M", 1), ("2", "MUG", 1), ("3", "CUP", 1)]))
    await rollups.refresh(sessions)

    sales = await rows(
        sessions,
        "SELECT sku, SUM(shipped_units) FROM analytics_sales_days WHERE day = '2026-03-02' "
        "AND sku IN ('TEE-S', 'TEE-M', 'MUG', 'CUP') GROUP BY sku ORDER BY sku",
    )
    incremental = await _rollups(sessions)
    assert incremental == (await _rebuilt(sessions))
    assert ("TEE-S", 1) not in [tuple(row) for row in sales]


async def test_an_order_upserted_unchanged_is_not_read_again(
    sessions: Sessions, history: History
) -> None:
    async with transaction(sessions) as session:
        await upsert_order(session, _order([("1", "TEE-S", 1)]))
    async with transaction(sessions) as session:
        first = await session.scalar(select(Order.updated_at).where(Order.external_id == "E1"))
        await upsert_order(session, _order([("1", "TEE-S", 1)]))
    async with transaction(sessions) as session:
        again = await session.scalar(select(Order.updated_at).where(Order.external_id == "E1"))
    assert again == first


async def _rebuilt(sessions: Sessions) -> dict[str, list[dict[str, Any]]]:
    await rollups.rebuild(sessions)
    return await _rollups(sessions)


async def test_an_event_committed_after_a_later_one_is_still_picked_up(
    sessions: Sessions, history: History, db_url: str
) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite writers take one lock in turn: their ids commit in order")
    start = utcnow()
    await rollups.refresh(sessions, start)
    # Long enough after the first refresh that its position is trusted.
    await rollups.refresh(sessions, start + timedelta(minutes=6))

    async with sessions() as slow, slow.begin():
        # The slow transaction takes its event id first and commits last.
        await _expire_r6(slow, history)
        await _inspect_r7(sessions, history)
        await rollups.refresh(sessions, start + timedelta(minutes=7))
        assert await _status_fact(sessions, history, "RL8") == "approved"
    await rollups.refresh(sessions, start + timedelta(minutes=8))

    assert await _status_fact(sessions, history, "RL8") == "expired"
    assert await _status_fact(sessions, history, "RL9") == "inspected"


async def _expire_r6(session: AsyncSession, made: History) -> None:
    await session.execute(
        update(Return).where(Return.id == made.returns["R6"]).values(status="expired")
    )
    session.add(
        ReturnEvent(
            return_id=made.returns["R6"],
            action="expire",
            from_status="approved",
            to_status="expired",
            actor="test",
            at=at(3, 30, 10),
        )
    )
    await session.flush()


async def _status_fact(sessions: Sessions, made: History, line: str) -> str:
    async with transaction(sessions) as session:
        status = await session.scalar(
            select(ReturnFact.status).where(ReturnFact.return_line_id == made.lines[line])
        )
    return str(status)


async def test_the_commands_say_what_they_did(
    cli_env: str, sessions: Sessions, history: History
) -> None:
    refreshed = await run_cli("analytics", "refresh")
    assert refreshed.exit_code == 0, refreshed.output
    assert "Nothing had changed" in refreshed.output

    rebuilt = await run_cli("analytics", "rebuild")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "7 returns" in rebuilt.output
