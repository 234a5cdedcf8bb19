"""The simulator drives the real services for a season; its summary must agree with the data."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.errors import Conflict
from reclaim.simulation.runner import SimulationConfig, run_simulation
from tests.integration.helpers import rows, run_cli, scalar

Sessions = async_sessionmaker[AsyncSession]
CONFIG = SimulationConfig(days=20, orders_per_day=8, seed=7, start=date(2024, 3, 4))
OURS = "o.external_id LIKE :prefix"


def _prefix() -> dict[str, str]:
    return {"prefix": CONFIG.order_prefix + "%"}


# A season takes seconds, so each test runs one and checks everything that season shows.


async def test_season_summary_adds_up_and_matches_the_database(sessions: Sessions) -> None:
    season = await run_simulation(sessions, CONFIG)

    assert season.orders > 0 and season.returns > 0
    assert sum(season.by_status.values()) == season.returns
    assert sum(c.units_sold for c in season.by_category.values()) == season.units_sold
    assert sum(c.units_returned for c in season.by_category.values()) == season.units_returned
    assert all(c.units_returned <= c.units_sold for c in season.by_category.values())

    assert season.orders == await scalar(
        sessions, f"SELECT count(*) FROM orders o WHERE {OURS}", **_prefix()
    )
    sold = await rows(
        sessions,
        "SELECT p.category, sum(ol.quantity) FROM order_lines ol"
        " JOIN orders o ON o.id = ol.order_id JOIN products p ON p.id = ol.product_id"
        f" WHERE {OURS} GROUP BY p.category",
        **_prefix(),
    )
    returned = await rows(
        sessions,
        "SELECT p.category, sum(rl.quantity) FROM return_lines rl"
        " JOIN order_lines ol ON ol.id = rl.order_line_id"
        " JOIN orders o ON o.id = ol.order_id JOIN products p ON p.id = ol.product_id"
        f" WHERE {OURS} GROUP BY p.category",
        **_prefix(),
    )
    statuses = await rows(
        sessions,
        "SELECT r.status, count(*) FROM returns r JOIN orders o ON o.id = r.order_id"
        f" WHERE {OURS} GROUP BY r.status",
        **_prefix(),
    )
    assert {c: s.units_sold for c, s in season.by_category.items() if s.units_sold} == {
        c: int(n) for c, n in sold
    }
    assert {c: s.units_returned for c, s in season.by_category.items() if s.units_returned} == {
        c: int(n) for c, n in returned
    }
    assert season.by_status == {s: int(n) for s, n in statuses}
    assert season.returns == await scalar(sessions, "SELECT count(*) FROM returns")

    # Same seed and start would place the same order numbers again.
    with pytest.raises(Conflict):
        await run_simulation(sessions, CONFIG)
    assert await scalar(sessions, "SELECT count(*) FROM orders") == season.orders


async def test_season_runs_without_refusals_and_keeps_the_books(sessions: Sessions) -> None:
    season = await run_simulation(sessions, CONFIG)

    # Every step is planned from the lifecycle, so a refusal is a bug in one or the other.
    assert dict(season.refused) == {}
    assert season.completed >= 1
    # Held units, recomputed from the returns: nothing for ended returns, what arrived for a
    # completed return that came back, everything for one still open or kept by the shopper.
    held = (
        "coalesce(sum(CASE WHEN r.status IN ('rejected', 'cancelled', 'expired') THEN 0"
        " WHEN r.status = 'completed' AND r.method <> 'keep_item' THEN rl.received_quantity"
        " ELSE rl.quantity END), 0)"
    )
    assert (
        await rows(
            sessions,
            f"SELECT ol.id, ol.returned_quantity, {held} FROM order_lines ol"
            " LEFT JOIN return_lines rl ON rl.order_line_id = ol.id"
            " LEFT JOIN returns r ON r.id = rl.return_id"
            f" GROUP BY ol.id, ol.returned_quantity HAVING ol.returned_quantity <> {held}",
        )
        == []
    )
    events = await scalar(sessions, "SELECT count(*) FROM return_events")
    assert events > season.returns
    assert events == await scalar(
        sessions, "SELECT count(*) FROM outbox WHERE topic LIKE 'return.%'"
    )
    # Every return starts with exactly one "create" event, and its status is the last event's.
    assert (
        await rows(
            sessions,
            "SELECT r.number FROM returns r WHERE 1 <> (SELECT count(*) FROM return_events e"
            " WHERE e.return_id = r.id AND e.action = 'create')"
            " OR r.status <> (SELECT e.to_status FROM return_events e WHERE e.return_id = r.id"
            " ORDER BY e.id DESC LIMIT 1)",
        )
        == []
    )


@pytest.mark.usefixtures("cli_env")
async def test_simulate_command_prints_the_summary_tables(sessions: Sessions) -> None:
    args = ("simulate", "--days", "6", "--orders-per-day", "5", "--seed", "3")

    result = await run_cli(*args, "--start", "2024-05-06")

    assert result.exit_code == 0, result.output
    assert "Return rate by category" in result.output
    assert "Returns by status" in result.output
    orders = await scalar(sessions, "SELECT count(*) FROM orders")
    returns = await scalar(sessions, "SELECT count(*) FROM returns")
    assert orders > 0
    assert f"6 days from 06 May 2024: {orders} orders" in result.output
    assert f"{returns} returns" in result.output

    again = await run_cli(*args, "--start", "2024-05-06")
    assert again.exit_code == 1
    assert "already ran" in again.output
