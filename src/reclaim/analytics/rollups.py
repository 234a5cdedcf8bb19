"""Keeping the analytics rollups up to date, set-based, in the database.

A refresh finds the returns that changed since the last one (new events, new carrier scans,
refurbishment closed, their order or product edited), recomputes their facts with one
``INSERT … SELECT … ON CONFLICT DO UPDATE`` that only writes rows whose values differ, then sums
again just the days whose facts changed; orders added or edited do the same for their days of
sales. Nothing is computed row by row in Python, so a bulk import of a few hundred thousand
order lines refreshes in seconds.

This is the one place that reads other domains' tables directly: read-only, because set-based
SQL over them can't go through their services one object at a time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Select,
    Table,
    delete,
    distinct,
    exists,
    func,
    or_,
    select,
    true,
    tuple_,
    union,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.analytics import rollup_sources as sources
from reclaim.analytics.dialect import day_of, insert_for, is_sqlite
from reclaim.analytics.models import (
    CohortDay,
    OrderDay,
    ReturnDay,
    ReturnFact,
    RollupCursor,
    SalesDay,
)
from reclaim.analytics.rollup_sources import Summed
from reclaim.catalog.models import Product
from reclaim.db import insert_ignoring_conflict, transaction
from reclaim.kit.clock import utcnow
from reclaim.logistics.models import Shipment, TrackingEvent
from reclaim.orders.models import Order, OrderLine
from reclaim.returns.models import Return, ReturnEvent, ReturnLine
from reclaim.warehouse.models import RefurbWorkOrder

# How long a transaction may take to commit after taking an id or stamping a time: changes
# that recent are read again by the next refresh, which costs nothing when they are unchanged.
OVERLAP = timedelta(minutes=5)
REFRESH = "refresh"
EVENTS = "return_events"
SCANS = "tracking_events"
DAY_TABLES = (ReturnDay, CohortDay, SalesDay)


@dataclass(frozen=True)
class RefreshReport:
    """``returns`` whose facts changed and ``days`` whose sums changed, in ``seconds``."""

    returns: int
    days: int
    seconds: float

    def summary(self) -> str:
        if not self.returns and not self.days:
            return f"Nothing had changed ({self.seconds:.2f} s)."
        return (
            f"{self.returns:,} return{'s' if self.returns != 1 else ''} changed, "
            f"{self.days:,} day{'s' if self.days != 1 else ''} of figures changed "
            f"({self.seconds:.2f} s)."
        )


@dataclass(frozen=True)
class _Changes:
    """What to recompute: ``None`` means everything."""

    returns: CompoundSelect | None
    order_ids: CompoundSelect | None


async def refresh(
    sessions: async_sessionmaker[AsyncSession], now: datetime | None = None
) -> RefreshReport:
    """Bring the rollups up to date with what changed since the last refresh (the first one
    builds them all)."""
    started = time.perf_counter()
    now = now or utcnow()
    async with transaction(sessions) as session:
        cursors = await _lock_cursors(session)
        highest = await _highest_ids(session)
        head = cursors[REFRESH]
        if head.refreshed_at is None:
            changes = _Changes(None, None)
        else:
            since = head.refreshed_at - OVERLAP
            moved = list(await session.scalars(_recategorised(since)))
            changes = _Changes(
                _touched_returns(
                    cursors[EVENTS].safe_position, cursors[SCANS].safe_position, since, moved
                ),
                _touched_orders(since, moved),
            )
        returns, days = await _apply(session, head.stamp + 1, changes)
        await _advance(session, cursors, highest, now)
    return RefreshReport(returns, days, time.perf_counter() - started)


async def rebuild(
    sessions: async_sessionmaker[AsyncSession], now: datetime | None = None
) -> RefreshReport:
    """Throw the rollups away and compute them again from the whole history."""
    started = time.perf_counter()
    now = now or utcnow()
    async with transaction(sessions) as session:
        cursors = await _lock_cursors(session)
        highest = await _highest_ids(session)
        for model in (ReturnFact, OrderDay, *DAY_TABLES):
            await session.execute(delete(model))
        returns, days = await _apply(session, cursors[REFRESH].stamp + 1, _Changes(None, None))
        await _advance(session, cursors, highest, now)
    return RefreshReport(returns, days, time.perf_counter() - started)


async def refresh_job(sessions: async_sessionmaker[AsyncSession], now: datetime) -> str | None:
    """The worker's minutely refresh: says something only when something changed."""
    report = await refresh(sessions, now)
    return report.summary() if report.returns or report.days else None


async def _lock_cursors(session: AsyncSession) -> dict[str, RollupCursor]:
    # One refresh at a time: the second waits on these rows (SQLite's write lock already
    # serialises it), then starts from where the first left off.
    for name in (REFRESH, EVENTS, SCANS):
        await insert_ignoring_conflict(session, RollupCursor, {"name": name}, ["name"])
    rows = await session.scalars(
        select(RollupCursor)
        .where(RollupCursor.name.in_((REFRESH, EVENTS, SCANS)))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {cursor.name: cursor for cursor in rows}


async def _highest_ids(session: AsyncSession) -> dict[str, int]:
    """The newest event and scan ids, read before the changes are: anything committed after
    this is read again next time."""
    return {
        name: await session.scalar(select(func.max(column))) or 0
        for name, column in ((EVENTS, ReturnEvent.id), (SCANS, TrackingEvent.id))
    }


async def _advance(
    session: AsyncSession, cursors: dict[str, RollupCursor], highest: dict[str, int], now: datetime
) -> None:
    """Move the cursors past what this refresh read.

    On SQLite every writer holds the one write lock, so no id below the highest seen can still
    commit: the position is safe at once. On PostgreSQL an id taken by a transaction still open
    can commit after a higher one; a position is trusted only once it is ``OVERLAP`` old."""
    settled = is_sqlite(session)
    for name, seen in highest.items():
        cursor = cursors[name]
        if settled:
            cursor.position = cursor.safe_position = max(cursor.position, seen)
            cursor.marked_at = now
        elif cursor.marked_at is None or now - cursor.marked_at >= OVERLAP:
            cursor.safe_position = cursor.position
            cursor.position = max(cursor.position, seen)
            cursor.marked_at = now
    head = cursors[REFRESH]
    head.stamp += 1
    head.refreshed_at = now
    await session.flush()


def _touched_returns(
    events_after: int, scans_after: int, since: datetime, moved: list[int]
) -> CompoundSelect:
    """Every return something may have changed for since the cursors."""
    return union(
        select(ReturnEvent.return_id).where(ReturnEvent.id > events_after),
        select(Shipment.return_id)
        .join(TrackingEvent, TrackingEvent.shipment_id == Shipment.id)
        .where(TrackingEvent.id > scans_after),
        # Refurbishment sets a disposition's realised value without a return event.
        select(ReturnLine.return_id)
        .join(RefurbWorkOrder, RefurbWorkOrder.return_line_id == ReturnLine.id)
        .where(RefurbWorkOrder.closed_at >= since),
        select(Return.id).where(Return.order_id.in_(_edited_orders(since))),
        select(ReturnLine.return_id)
        .join(OrderLine, OrderLine.id == ReturnLine.order_line_id)
        .where(OrderLine.product_id.in_(moved)),
    )


def _touched_orders(since: datetime, moved: list[int]) -> CompoundSelect:
    return union(
        _edited_orders(since),
        select(OrderLine.order_id).where(OrderLine.product_id.in_(moved)),
    )


def _edited_orders(since: datetime) -> Select[Any]:
    """Orders new or edited since they were last summed."""
    return (
        select(Order.id)
        .outerjoin(OrderDay, OrderDay.order_id == Order.id)
        .where(
            Order.updated_at >= since,
            or_(OrderDay.updated_at.is_(None), OrderDay.updated_at != Order.updated_at),
        )
    )


def _recategorised(since: datetime) -> Select[Any]:
    """Products edited lately whose category is no longer the one the rollups have them
    under: their sales and returns move with them. (Other edits, a new name say, change no
    figure.) Rare, and few: their ids are read first, so the usual empty list costs nothing."""
    differs = [
        exists().where(sku == Product.sku, category != Product.category)
        for sku, category in (
            (ReturnFact.sku, ReturnFact.category),
            (SalesDay.sku, SalesDay.category),
        )
    ]
    return select(Product.id).where(Product.updated_at >= since, or_(*differs))


async def _apply(session: AsyncSession, stamp: int, changes: _Changes) -> tuple[int, int]:
    """Recompute the facts and days ``changes`` name; the returns and days that changed."""
    moved = await _days_moving(session, changes.returns)
    await session.execute(_upsert(session, ReturnFact, sources.facts(stamp, changes.returns)))
    changed = ReturnFact.stamp == stamp
    returns = await session.scalar(
        select(func.count(distinct(ReturnFact.return_id))).where(changed)
    )
    requested, placed, sold = moved[0], moved[1], await _sales_days_moving(session, changes)
    if changes.returns is not None:
        requested |= set(
            await session.scalars(select(ReturnFact.requested_day).where(changed).distinct())
        )
        placed |= set(
            await session.scalars(select(ReturnFact.placed_day).where(changed).distinct())
        )
    everything = changes.returns is None
    days = await _reaggregate(
        session, ReturnDay, sources.return_days(stamp, None if everything else requested)
    )
    days |= await _reaggregate(
        session, CohortDay, sources.cohort_days(stamp, None if everything else placed)
    )
    days |= await _reaggregate(session, SalesDay, sources.sales_days(stamp, sold))
    return int(returns or 0), len(days)


async def _days_moving(
    session: AsyncSession, touched: CompoundSelect | None
) -> tuple[set[date], set[date]]:
    """The days facts of ``touched`` returns are counted under now and will not be after the
    update (an order's placement moved): those days need summing again too."""
    if touched is None:
        return set(), set()
    rows = await session.execute(
        select(ReturnFact.requested_day, ReturnFact.placed_day)
        .join(Return, Return.id == ReturnFact.return_id)
        .join(Order, Order.id == Return.order_id)
        .where(
            ReturnFact.return_id.in_(touched),
            or_(
                ReturnFact.requested_day != day_of(Return.created_at),
                ReturnFact.placed_day != day_of(Order.placed_at),
            ),
        )
    )
    pairs = rows.all()
    return {pair[0] for pair in pairs}, {pair[1] for pair in pairs}


async def _sales_days_moving(session: AsyncSession, changes: _Changes) -> set[date] | None:
    """The days of sales to sum again for the changed orders (``None``: every day), and where
    each order now counts, remembered for the next time it changes."""
    orders = changes.order_ids
    placed = day_of(Order.placed_at)
    if orders is None:
        await session.execute(delete(OrderDay))
        days = None
    else:
        before = select(OrderDay.day).where(OrderDay.order_id.in_(orders))
        after = select(placed).where(Order.id.in_(orders))
        days = set(await session.scalars(union(before, after)))
    source = select(Order.id, placed, Order.updated_at).where(
        Order.id.in_(orders) if orders is not None else true()
    )
    insert = insert_for(session)
    statement = insert(OrderDay).from_select(["order_id", "day", "updated_at"], source)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["order_id"],
            set_={"day": statement.excluded.day, "updated_at": statement.excluded.updated_at},
        )
    )
    return days


def _upsert(session: AsyncSession, model: Any, source: Select[Any]) -> Any:
    """``INSERT … SELECT`` that leaves a row alone when nothing in it changed (so its stamp
    still names the refresh that last changed it)."""
    table: Table = model.__table__
    keys = [column.name for column in table.primary_key]
    measures = [c.name for c in table.columns if c.name not in keys and c.name != "stamp"]
    insert = insert_for(session)
    statement = insert(table).from_select([c.name for c in table.columns], source)
    return statement.on_conflict_do_update(
        index_elements=keys,
        set_={name: statement.excluded[name] for name in [*measures, "stamp"]},
        where=or_(*(table.c[name].is_distinct_from(statement.excluded[name]) for name in measures)),
    )


async def _reaggregate(session: AsyncSession, model: Any, summed: Summed) -> set[date]:
    """Sum the source's days again into ``model`` (all of them: into an emptied table), and
    drop the slices left empty; the days whose figures changed."""
    if summed.days is None:
        # Everything: summed in the database, and counted there rather than sent back.
        await session.execute(_upsert(session, model, summed.source))
        return set(await session.scalars(select(model.day).distinct()))
    if not summed.days:
        return set()
    written = await session.scalars(_upsert(session, model, summed.source).returning(model.day))
    changed = set(written)
    table: Table = model.__table__
    keys = list(table.primary_key)
    current = summed.source.subquery()
    stale = tuple_(*keys).not_in(select(*(current.c[column.name] for column in keys)))
    scope = model.day.in_(sorted(summed.days))
    dropped = await session.scalars(delete(model).where(scope, stale).returning(model.day))
    return changed | set(dropped)
