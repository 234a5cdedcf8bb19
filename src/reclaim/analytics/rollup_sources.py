"""What each rollup sums: the ``SELECT``s ``analytics.rollups`` writes into its tables, one
per table, each labelled and ordered like the table's columns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_start
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Float,
    Select,
    Table,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    or_,
    select,
    true,
)

from reclaim.analytics.definitions import (
    APPROVED_STATUSES,
    BACK_TO_STOCK,
    FAULT_BY_REASON,
    NOT_DIVERTED,
    NOT_RETURNED,
    RETAINED,
    RETURN_WINDOW_DAYS,
    SELLABLE_GRADES,
)
from reclaim.analytics.dialect import day_of, hours_between
from reclaim.analytics.models import CohortDay, ReturnDay, ReturnFact, SalesDay
from reclaim.catalog.models import Product
from reclaim.logistics.models import Facility, Shipment
from reclaim.orders.models import Order, OrderLine
from reclaim.returns.models import Return, ReturnEvent, ReturnLine
from reclaim.returns.states import Fault, Method, Status
from reclaim.warehouse.models import DispositionRecord

WINDOW_HOURS = RETURN_WINDOW_DAYS * 24


@dataclass(frozen=True)
class Summed:
    """A day table's sums over ``days`` (``None``: all of them)."""

    source: Select[Any]
    days: set[date] | None


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def _hours(start: Any, end: Any, *conditions: ColumnElement[bool]) -> ColumnElement[float | None]:
    return case(
        (and_(start.is_not(None), end.is_not(None), *conditions), hours_between(start, end)),
        else_=None,
    )


def facts(stamp: int, touched: CompoundSelect | None) -> Select[Any]:
    """One row per return line of the ``touched`` returns (``None``: all), in the column order
    of ``analytics_return_facts``."""
    scope = ReturnLine.return_id.in_(touched) if touched is not None else true()
    per_return = (
        select(
            ReturnLine.return_id.label("return_id"),
            func.count().label("lines"),
            func.sum(ReturnLine.received_quantity).label("received"),
        )
        .where(scope)
        .group_by(ReturnLine.return_id)
        .subquery("per_return")
    )
    approvals = (
        select(ReturnEvent.return_id.label("return_id"))
        .where(ReturnEvent.to_status == Status.APPROVED.value)
        .where(ReturnEvent.return_id.in_(touched) if touched is not None else true())
        .distinct()
        .subquery("approvals")
    )
    approved = or_(
        Return.status.in_([s.value for s in APPROVED_STATUSES]),
        approvals.c.return_id.is_not(None),
    )
    keep = Return.method == Method.KEEP_ITEM.value
    counted = Return.status.not_in([s.value for s in NOT_RETURNED])
    channel = func.coalesce(DispositionRecord.channel, ReturnLine.disposition)
    # The warehouse values a unit in its product's currency; a return in another currency can't
    # add it to its own money, so such a unit counts in neither recovery nor cost.
    same_money = DispositionRecord.currency == Return.currency
    routed = case(
        (
            channel.is_not(None),
            func.coalesce(DispositionRecord.quantity, ReturnLine.received_quantity),
        ),
        else_=0,
    )
    stocked = channel.in_([d.value for d in BACK_TO_STOCK])
    settled = ReturnLine.settled_at
    received = ReturnLine.received_at
    first_scan = Shipment.first_scan_at
    columns: dict[str, Any] = {
        "return_line_id": ReturnLine.id,
        "return_id": ReturnLine.return_id,
        "requested_at": Return.created_at,
        "requested_day": day_of(Return.created_at),
        "placed_day": day_of(Order.placed_at),
        "currency": Return.currency,
        "sku": OrderLine.sku,
        "category": Product.category,
        "reason": ReturnLine.reason,
        "fault": case(FAULT_BY_REASON, value=ReturnLine.reason, else_=Fault.CUSTOMER.value),
        "resolution": ReturnLine.resolution,
        "method": Return.method,
        "facility": func.coalesce(Facility.code, ""),
        "status": Return.status,
        "lines_in_return": per_return.c.lines,
        "units": ReturnLine.quantity,
        "returned_units": case((counted, ReturnLine.quantity), else_=0),
        "in_window_units": case(
            (
                and_(counted, hours_between(Order.placed_at, Return.created_at) <= WINDOW_HOURS),
                ReturnLine.quantity,
            ),
            else_=0,
        ),
        "approved": _flag(approved),
        "returnless": _flag(and_(approved, keep)),
        "needs_sending": _flag(and_(approved, ~keep)),
        "expired": _flag(Return.status == Status.EXPIRED.value),
        "received": _flag(per_return.c.received > 0),
        "received_units": ReturnLine.received_quantity,
        "graded_units": case(
            (ReturnLine.grade.is_not(None), ReturnLine.received_quantity), else_=0
        ),
        "sellable_units": case(
            (
                ReturnLine.grade.in_([g.value for g in SELLABLE_GRADES]),
                ReturnLine.received_quantity,
            ),
            else_=0,
        ),
        "dispositioned_units": routed,
        "diverted_units": case((channel.not_in([d.value for d in NOT_DIVERTED]), routed), else_=0),
        "restocked_units": case((stocked, routed), else_=0),
        "settled_minor": ReturnLine.settled_minor,
        "retained_minor": case(
            (ReturnLine.resolution.in_([r.value for r in RETAINED]), ReturnLine.settled_minor),
            else_=0,
        ),
        "dispositioned_price_minor": case(
            (or_(DispositionRecord.id.is_(None), same_money), OrderLine.unit_price_minor * routed),
            else_=0,
        ),
        "recovered_minor": case(
            (
                same_money,
                func.coalesce(
                    DispositionRecord.realized_value_minor,
                    DispositionRecord.expected_value_minor,
                    0,
                ),
            ),
            else_=0,
        ),
        "cost_minor": case(
            (
                same_money,
                func.coalesce(
                    DispositionRecord.realized_cost_minor, DispositionRecord.expected_cost_minor, 0
                ),
            ),
            else_=0,
        ),
        "cycle_hours": _hours(Return.created_at, settled),
        "scan_cycle_hours": _hours(first_scan, settled),
        "receipt_cycle_hours": _hours(received, settled),
        "transit_hours": _hours(first_scan, received),
        "dock_hours": _hours(
            received,
            func.coalesce(ReturnLine.dispositioned_at, DispositionRecord.at),
            stocked,
        ),
        "stamp": literal(stamp),
    }
    return (
        _ordered(ReturnFact, columns)
        .select_from(ReturnLine)
        .join(Return, Return.id == ReturnLine.return_id)
        .join(per_return, per_return.c.return_id == ReturnLine.return_id)
        .join(OrderLine, OrderLine.id == ReturnLine.order_line_id)
        .join(Order, Order.id == OrderLine.order_id)
        .join(Product, Product.id == OrderLine.product_id)
        .outerjoin(Facility, Facility.id == Return.facility_id)
        .outerjoin(Shipment, Shipment.return_id == Return.id)
        .outerjoin(DispositionRecord, DispositionRecord.return_line_id == ReturnLine.id)
        .outerjoin(approvals, approvals.c.return_id == Return.id)
        .where(scope)
    )


def _ordered(model: Any, columns: dict[str, Any]) -> Select[Any]:
    """A SELECT of ``columns`` labelled and ordered like ``model``'s table."""
    table: Table = model.__table__
    return select(*(columns[column.name].label(column.name) for column in table.columns))


def _share(column: Any) -> ColumnElement[float]:
    """A return-level 0/1 on each line, as that line's share of the return."""
    return func.sum(cast(column, Float) / ReturnFact.lines_in_return)


def _sum(column: Any) -> ColumnElement[Any]:
    return func.coalesce(func.sum(column), 0)


def return_days(stamp: int, days: set[date] | None) -> Summed:
    f = ReturnFact
    dimensions = [f.requested_day, f.currency, f.sku, f.category, f.reason, f.facility]
    columns: dict[str, Any] = {
        "day": f.requested_day,
        "currency": f.currency,
        "sku": f.sku,
        "category": f.category,
        "reason": f.reason,
        "facility": f.facility,
        "lines": func.count(),
        "units": func.sum(f.units),
        "returned_units": func.sum(f.returned_units),
        "returns": _share(literal(1)),
        **{name: _share(f.__table__.c[name]) for name in _RETURN_FLAGS},
        **{name: func.sum(f.__table__.c[name]) for name in _LINE_SUMS},
        "cycle_hours": _sum(f.cycle_hours),
        "cycle_lines": func.count(f.cycle_hours),
        "scan_cycle_hours": _sum(f.scan_cycle_hours),
        "scan_cycle_lines": func.count(f.scan_cycle_hours),
        "receipt_cycle_hours": _sum(f.receipt_cycle_hours),
        "receipt_cycle_lines": func.count(f.receipt_cycle_hours),
        "transit_hours": _sum(f.transit_hours / f.lines_in_return),
        "transit_returns": _sum(
            case((f.transit_hours.is_not(None), 1.0 / f.lines_in_return), else_=0.0)
        ),
        "dock_hours": _sum(f.dock_hours),
        "dock_lines": func.count(f.dock_hours),
        "stamp": literal(stamp),
    }
    scope = f.requested_day.in_(sorted(days)) if days is not None else true()
    return Summed(_ordered(ReturnDay, columns).where(scope).group_by(*dimensions), days)


_RETURN_FLAGS = ("approved", "returnless", "needs_sending", "expired", "received")
_LINE_SUMS = (
    "received_units",
    "graded_units",
    "sellable_units",
    "dispositioned_units",
    "diverted_units",
    "restocked_units",
    "settled_minor",
    "retained_minor",
    "dispositioned_price_minor",
    "recovered_minor",
    "cost_minor",
)


def cohort_days(stamp: int, days: set[date] | None) -> Summed:
    f = ReturnFact
    columns: dict[str, Any] = {
        "day": f.placed_day,
        "currency": f.currency,
        "sku": f.sku,
        "category": f.category,
        "reason": f.reason,
        "returned_units": func.sum(f.in_window_units),
        "stamp": literal(stamp),
    }
    source = (
        _ordered(CohortDay, columns)
        .where(f.placed_day.in_(sorted(days)) if days is not None else true())
        .group_by(f.placed_day, f.currency, f.sku, f.category, f.reason)
        .having(func.sum(f.in_window_units) > 0)
    )
    return Summed(source, days)


def sales_days(stamp: int, days: set[date] | None) -> Summed:
    placed = day_of(Order.placed_at)
    columns: dict[str, Any] = {
        "day": placed,
        "currency": Order.currency,
        "sku": OrderLine.sku,
        "category": Product.category,
        "lines": func.count(),
        "shipped_units": func.sum(OrderLine.quantity),
        "revenue_minor": func.sum(
            OrderLine.quantity * OrderLine.unit_price_minor - OrderLine.discount_minor
        ),
        "stamp": literal(stamp),
    }
    # Ranges of placement times, not the day of each order: the index on placed_at serves them.
    scope = (
        or_(false(), *(and_(Order.placed_at >= a, Order.placed_at < b) for a, b in day_runs(days)))
        if days is not None
        else true()
    )
    source = (
        _ordered(SalesDay, columns)
        .select_from(OrderLine)
        .join(Order, Order.id == OrderLine.order_id)
        .join(Product, Product.id == OrderLine.product_id)
        .where(scope)
        .group_by(placed, Order.currency, OrderLine.sku, Product.category)
    )
    return Summed(source, days)


def day_runs(days: Iterable[date]) -> list[tuple[datetime, datetime]]:
    """Runs of consecutive days as [start, end) UTC instants."""
    runs: list[tuple[datetime, datetime]] = []
    for day in sorted(set(days)):
        start = datetime.combine(day, day_start(), tzinfo=UTC)
        if runs and runs[-1][1] == start:
            runs[-1] = (runs[-1][0], start + timedelta(days=1))
        else:
            runs.append((start, start + timedelta(days=1)))
    return runs
