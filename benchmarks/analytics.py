"""The analytics rollups as history grows: building them, refreshing after a few new returns,
and a dashboard's KPI report read from them against the same sums scanned from the raw tables.

The history is synthetic but shaped like the Online Retail import: a year of orders with many
lines each, a third of them with a return in every state the lifecycle has, written straight
into the tables (seeding is setup, not the thing measured).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from benchmarks.common import Options, Result, Skipped, postgres_scratch, skipped, sqlite_scratch
from reclaim.analytics import rollups, service
from reclaim.analytics.filters import Filters
from reclaim.analytics.rollup_sources import facts
from reclaim.catalog.models import Product
from reclaim.config import normalise_database_url
from reclaim.db import create_engine, session_factory, transaction
from reclaim.kit.clock import utcnow
from reclaim.logistics.models import Facility, Shipment
from reclaim.orders.models import Customer, Order, OrderLine
from reclaim.returns.models import Return, ReturnEvent, ReturnLine
from reclaim.warehouse.models import DispositionRecord

NAME = "analytics"
BUILD = "analytics rollups: rebuild the whole history"
REFRESH = "analytics rollups: refresh after new returns"
JUST_BUILT = "analytics rollups: refresh with nothing new, just built"
IDLE = "analytics rollups: refresh with nothing new"
REPORT = "analytics KPI report, 90 days (rollups)"
RAW = "analytics KPI sums, 90 days (raw tables)"
END = datetime(2026, 6, 30, tzinfo=UTC)
CATEGORIES = ("bags", "candles", "cards", "christmas", "kitchen", "decor", "signs", "toys")
STATUSES = (
    ("completed", 50),
    ("received", 15),
    ("in_transit", 10),
    ("approved", 8),
    ("expired", 5),
    ("cancelled", 5),
    ("requested", 7),
)
REASONS = ("too_small", "defective", "no_longer_needed", "damaged_in_transit", "not_as_described")
CHANNELS = ("restock", "open_box", "refurbish", "liquidate", "donate", "recycle", "dispose")


class _History:
    """Rows for the tables, with ids given here so a whole year goes in by executemany."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.rows: dict[Table, list[dict[str, Any]]] = {}
        self.ids: dict[Table, int] = {}

    def add(self, model: Any, **values: Any) -> int:
        table: Table = model.__table__
        row_id = self.ids.get(table, 0) + 1
        self.ids[table] = row_id
        self.rows.setdefault(table, []).append({"id": row_id, **values})
        return row_id

    async def write(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        async with transaction(sessions) as session:
            for table, rows in self.rows.items():
                for start in range(0, len(rows), 5_000):
                    await session.execute(insert(table), rows[start : start + 5_000])
        self.rows.clear()


def _catalogue(history: _History, products: int) -> None:
    for code in ("WH1", "WH2"):
        history.add(Facility, code=code, name=f"Warehouse {code}", kind="warehouse", methods=[])
    for n in range(products):
        history.add(
            Product,
            sku=f"SKU{n:05d}",
            name=f"Product {n}",
            category=CATEGORIES[n % len(CATEGORIES)],
            price_minor=100 * (1 + n % 40),
            currency="GBP",
            attributes={},
        )


def _orders(history: _History, count: int, lines: int, products: int, days: int) -> None:
    rng = history.rng
    for n in range(count):
        placed = END - timedelta(days=days * (count - n) / count, minutes=rng.randrange(600))
        customer = history.add(Customer, external_id=f"C{n}", email=f"c{n}@example.invalid")
        order = history.add(
            Order,
            external_id=f"O{n}",
            customer_id=customer,
            currency="GBP",
            placed_at=placed,
            created_at=placed,
            updated_at=placed,
        )
        for ref in range(rng.randrange(1, 2 * lines)):
            product = rng.randrange(products)
            history.add(
                OrderLine,
                order_id=order,
                line_ref=str(ref),
                product_id=product + 1,
                sku=f"SKU{product:05d}",
                quantity=rng.choice((1, 1, 2, 6, 12)),
                unit_price_minor=100 * (1 + product % 40),
            )


def _returns(history: _History, orders: list[dict[str, Any]], lines: list[dict[str, Any]]) -> int:
    """A return on each order given, of one or two of its lines; how many were made."""
    rng = history.rng
    by_order: dict[int, list[dict[str, Any]]] = {}
    for line in lines:
        by_order.setdefault(line["order_id"], []).append(line)
    for order in orders:
        status = rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0]
        requested = order["placed_at"] + timedelta(days=rng.uniform(2, 25))
        scanned = requested + timedelta(days=rng.uniform(0.5, 3))
        received = scanned + timedelta(days=rng.uniform(1, 4))
        came_back = status in ("completed", "received")
        ret = history.add(
            Return,
            number=f"RMA-{order['id']:08d}",
            order_id=order["id"],
            customer_id=order["customer_id"],
            status=status,
            method="prepaid_label",
            currency="GBP",
            channel="api",
            facility_id=rng.choice((1, 2)),
            created_at=requested,
            updated_at=requested,
        )
        history.add(
            ReturnEvent,
            return_id=ret,
            action="create",
            to_status="requested",
            actor="bench",
            at=requested,
            data={},
        )
        if status not in ("requested", "cancelled"):
            history.add(
                ReturnEvent,
                return_id=ret,
                action="approve",
                to_status="approved",
                actor="bench",
                at=requested,
                data={},
            )
            history.add(
                Shipment,
                return_id=ret,
                carrier="local",
                kind="label",
                tracking_number=f"T{ret}",
                stage="created",
                first_scan_at=scanned if status not in ("approved", "expired") else None,
            )
        for line in rng.sample(by_order[order["id"]], min(2, len(by_order[order["id"]]))):
            done = status == "completed"
            row = history.add(
                ReturnLine,
                return_id=ret,
                order_line_id=line["id"],
                quantity=line["quantity"],
                reason=rng.choice(REASONS),
                resolution=rng.choice(("refund", "refund", "store_credit", "exchange")),
                received_quantity=line["quantity"] if came_back else 0,
                received_at=received if came_back else None,
                grade=rng.choice(("new", "like_new", "good", "acceptable")) if done else None,
                settled_at=received + timedelta(hours=rng.uniform(1, 72)) if done else None,
                settled_quantity=line["quantity"] if done else 0,
                settled_minor=line["quantity"] * line["unit_price_minor"] if done else 0,
            )
            if done:
                history.add(
                    DispositionRecord,
                    return_line_id=row,
                    channel=rng.choice(CHANNELS),
                    quantity=line["quantity"],
                    currency="GBP",
                    expected_value_minor=line["unit_price_minor"] // 2,
                    expected_cost_minor=150,
                    expected_net_minor=line["unit_price_minor"] // 2 - 150,
                    options=[],
                    explanation=[],
                    location="BIN",
                    actor="bench",
                    at=received + timedelta(hours=rng.uniform(1, 48)),
                )
    return len(orders)


async def _seed(
    sessions: async_sessionmaker[AsyncSession], options: Options
) -> tuple[_History, list[dict[str, Any]], list[dict[str, Any]]]:
    """The history, written; and the newest orders (with every order line), kept back for
    returns that arrive after the rollups are built."""
    history = _History(seed=7)
    products, count = (300, 2_000) if options.quick else (4_000, 18_000)
    _catalogue(history, products)
    _orders(history, count, lines=5 if options.quick else 9, products=products, days=365)
    orders = history.rows[Order.__table__]
    lines = history.rows[OrderLine.__table__]
    _returns(history, orders[: -count // 10 : 3], lines)
    await history.write(sessions)
    return history, orders[-count // 10 :], lines


async def _timed(body: Callable[[], Awaitable[Any]], runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        await body()
        timings.append((time.perf_counter() - started) * 1000)
    return sorted(timings)


def _raw_sums(since: date, until: date) -> list[Any]:
    """The sums a report needs, computed from the operational tables as if there were no
    rollups: every fact of the period's return lines, and the period's shipments."""
    start = datetime.combine(since, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(until + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    lines = facts(0, None).where(Return.created_at >= start, Return.created_at < end).subquery()
    measures = [c for c in lines.c if c.name.endswith(("_units", "_minor", "_hours"))]
    shipped = (
        select(func.sum(OrderLine.quantity))
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.placed_at >= start, Order.placed_at < end)
    )
    return [select(*(func.sum(column) for column in measures), func.count()), shipped]


async def _measure(url: str, database: str, options: Options) -> list[Result]:
    engine = create_engine(normalise_database_url(url))
    sessions = session_factory(engine)
    try:
        history, pending, lines = await _seed(sessions, options)
        counts = {table.name: history.ids[table] for table in history.ids}
        built = await rollups.rebuild(sessions)
        # Within five minutes of a build everything it read is read again (see
        # rollups.OVERLAP); after that only what changed.
        just_built = await _timed(lambda: rollups.refresh(sessions), 3)
        later = utcnow() + rollups.OVERLAP + timedelta(minutes=1)
        await rollups.refresh(sessions, later)
        idle = await _timed(lambda: rollups.refresh(sessions, later + timedelta(minutes=1)), 5)
        _returns(history, pending[: 50 if options.quick else 200], lines)
        await history.write(sessions)
        started = time.perf_counter()
        refreshed = await rollups.refresh(sessions, later + timedelta(minutes=2))
        refresh_seconds = time.perf_counter() - started
        period = Filters.parse(since=END.date() - timedelta(days=89), until=END.date())

        async def report() -> None:
            async with transaction(sessions) as session:
                await service.report(session, period)

        async def raw() -> None:
            async with transaction(sessions) as session:
                for query in _raw_sums(period.since, period.until):
                    await session.execute(query)

        reports = await _timed(report, 10 if options.quick else 30)
        raws = await _timed(raw, 3 if options.quick else 10)
    finally:
        await engine.dispose()
    size = (
        f"{counts['orders']:,} orders, {counts['order_lines']:,} lines, "
        f"{counts['return_lines']:,} return lines"
    )
    p50 = statistics.median
    return [
        Result(
            BUILD,
            database,
            throughput=f"{counts['return_lines'] / built.seconds:,.0f} return lines/s",
            rate=counts["return_lines"] / built.seconds,
            notes=f"{size}: {built.seconds:.2f} s, {built.days} days",
        ),
        Result(
            JUST_BUILT,
            database,
            p50_ms=round(p50(just_built), 1),
            p99_ms=round(just_built[-1], 1),
            notes="reads the whole build again (its orders and products are minutes old)",
        ),
        Result(
            IDLE,
            database,
            p50_ms=round(p50(idle), 1),
            p99_ms=round(idle[-1], 1),
            notes="the worker's usual minute: nothing new, nothing written",
        ),
        Result(
            REFRESH,
            database,
            throughput=f"{refreshed.returns / refresh_seconds:,.0f} returns/s",
            rate=refreshed.returns / refresh_seconds,
            notes=(
                f"{refreshed.returns} new returns over that history: {refresh_seconds:.2f} s, "
                f"{refreshed.days} days of figures changed"
            ),
        ),
        Result(
            REPORT,
            database,
            p50_ms=round(p50(reports), 1),
            p99_ms=round(reports[-1], 1),
            notes=f"all 14 KPIs, reason mix; {p50(raws) / p50(reports):.0f}x faster than raw",
        ),
        Result(
            RAW,
            database,
            p50_ms=round(p50(raws), 1),
            p99_ms=round(raws[-1], 1),
            notes="the same return-line and shipment sums from the operational tables",
        ),
    ]


async def run(options: Options) -> list[Result]:
    results: list[Result] = []
    async with sqlite_scratch() as url:
        results.extend(await _measure(url, "sqlite", options))
    try:
        async with postgres_scratch(options.postgres_url) as url:
            results.extend(await _measure(url, "postgresql", options))
    except Skipped as why:
        results.extend(
            skipped(name, "postgresql", str(why))
            for name in (BUILD, JUST_BUILT, IDLE, REFRESH, REPORT, RAW)
        )
    return results
