"""The returns KPIs for a period and slices, read from the rollups (``analytics.rollups``).

Every figure here is a sum over ``analytics_return_days``, ``analytics_cohort_days`` or
``analytics_sales_days`` turned into a KPI by ``kpis``: the dashboards, the API, the report
and the exports all read them through these functions, so a KPI means the same everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Literal, cast

from sqlalchemy import ColumnElement, case, false, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.analytics import kpis
from reclaim.analytics.definitions import (
    FAULT_BY_REASON,
    FAULTY_REASONS,
    KEYS,
    KPIS,
    by_key,
    format_value,
    reason_label,
)
from reclaim.analytics.filters import Filters
from reclaim.analytics.kpis import BUCKETS, Bucket, Totals
from reclaim.analytics.models import CohortDay, ReturnDay, ReturnFact, RollupCursor, SalesDay
from reclaim.analytics.rollups import REFRESH
from reclaim.catalog.models import Product
from reclaim.errors import ValidationFailed
from reclaim.logistics.models import Facility, Shipment
from reclaim.orders.models import Customer, Order, OrderLine
from reclaim.returns.models import Return, ReturnLine
from reclaim.returns.states import Resolution

Dimension = Literal["category", "sku", "reason", "facility"]
DIMENSIONS: tuple[Dimension, ...] = ("category", "sku", "reason", "facility")
MAX_BREAKDOWN = 500
NO_FACILITY = "No facility"


@dataclass(frozen=True)
class KpiValue:
    key: str
    value: float | None
    numerator: float
    denominator: float
    display: str


@dataclass(frozen=True)
class ReasonShare:
    reason: str
    label: str
    fault: str
    units: int
    share: float


@dataclass(frozen=True)
class KpiReport:
    """``currency`` is the one money KPIs are in: the filter's, else the period's most
    returned (``None`` when the period holds nothing)."""

    filters: Filters
    currency: str | None
    kpis: list[KpiValue]
    reason_mix: list[ReasonShare]
    returns: int
    returned_units: int
    shipped_units: int

    def kpi(self, key: str) -> KpiValue:
        return next(value for value in self.kpis if value.key == key)


@dataclass(frozen=True)
class SeriesPoint:
    start: date
    values: dict[str, float | None]


@dataclass(frozen=True)
class BreakdownRow:
    """``shipped_units`` is ``None`` where shipments can't be split that way (by reason or
    facility)."""

    key: str
    label: str
    returned_units: int
    shipped_units: int | None
    kpis: dict[str, float | None]


@dataclass(frozen=True)
class ProductCounts:
    """A SKU's shipment cohort in the period: units shipped, and units of those returned
    within the window, in all and by reason; and the order lines the units were shipped on
    (wholesale orders ship many units a line)."""

    sku: str
    name: str
    category: str
    shipped_units: int
    returned_units: int
    reasons: dict[str, int]
    shipped_lines: int = 0


async def report(session: AsyncSession, filters: Filters) -> KpiReport:
    currency = await _currency(session, filters)
    totals = await _totals(session, filters, currency)
    mix = await _reason_mix(session, filters)
    returns = await session.scalar(
        select(func.count(func.distinct(ReturnFact.return_id))).where(*_fact_scope(filters))
    )
    values = []
    for defn in KPIS:
        measured = kpis.measure(defn.key, totals)
        values.append(
            KpiValue(
                defn.key,
                measured.value,
                measured.numerator,
                measured.denominator,
                format_value(defn, measured.value, currency),
            )
        )
    return KpiReport(
        filters,
        currency,
        values,
        mix,
        int(returns or 0),
        totals.returned_units,
        totals.shipped_units,
    )


async def series(
    session: AsyncSession, filters: Filters, keys: Sequence[str], bucket: str
) -> list[SeriesPoint]:
    """The KPIs ``keys`` per day, week (from Monday) or month of the period; a bucket the
    period only partly covers sums the days it covers."""
    if bucket not in BUCKETS:
        raise ValidationFailed(
            f"Unknown bucket {bucket!r}; it is one of: {', '.join(BUCKETS)}.", field="bucket"
        )
    chosen = _keys(keys)
    currency = await _currency(session, filters)
    daily: dict[date, Totals] = {}
    for day, totals in await _grouped(session, filters, currency, "day"):
        daily[day] = daily.get(day, Totals()) + totals
    buckets = kpis.by_bucket(daily, cast(Bucket, bucket))
    return [
        SeriesPoint(start, kpis.values(buckets.get(start, Totals()), chosen))
        for start in kpis.bucket_starts(filters.since, filters.until, cast(Bucket, bucket))
    ]


async def breakdown(
    session: AsyncSession, filters: Filters, by: str, limit: int = 20
) -> list[BreakdownRow]:
    """Every KPI per category, SKU, reason or facility, the most returned first."""
    if by not in DIMENSIONS:
        raise ValidationFailed(
            f"Unknown breakdown {by!r}; it is one of: {', '.join(DIMENSIONS)}.", field="by"
        )
    if not 1 <= limit <= MAX_BREAKDOWN:
        raise ValidationFailed(f"limit is from 1 to {MAX_BREAKDOWN}.", field="limit")
    currency = await _currency(session, filters)
    grouped: dict[str, Totals] = {}
    for key, totals in await _grouped(session, filters, currency, by):
        grouped[key] = grouped.get(key, Totals()) + totals
    if by == "reason":
        # Shipments have no reason: each reason's units are over everything shipped.
        shipped = (await _sales_totals(session, filters)).shipped_units
        grouped = {key: replace(totals, shipped_units=shipped) for key, totals in grouped.items()}
    ranked = sorted(
        grouped.items(), key=lambda item: (-item[1].returned_units, -item[1].shipped_units, item[0])
    )[:limit]
    labels = await _labels(session, by, [key for key, _ in ranked])
    split = by in ("category", "sku")
    return [
        BreakdownRow(
            key,
            labels.get(key, key),
            totals.returned_units,
            totals.shipped_units if split else None,
            kpis.values(totals, KEYS),
        )
        for key, totals in ranked
    ]


async def product_counts(session: AsyncSession, filters: Filters) -> list[ProductCounts]:
    """Every SKU shipped or returned in the period's cohort. Shipments have no facility, so a
    facility filter is ignored here; a reason filter counts only returns for that reason."""
    filters = replace(filters, facility=None)
    shipped = await session.execute(
        select(
            SalesDay.sku,
            func.max(SalesDay.category),
            func.max(Product.name),
            func.sum(SalesDay.shipped_units),
            func.sum(SalesDay.lines),
        )
        .outerjoin(Product, Product.sku == SalesDay.sku)
        .where(*_sales_scope(filters))
        .group_by(SalesDay.sku)
    )
    found: dict[str, ProductCounts] = {
        sku: ProductCounts(sku, name or sku, category, int(units or 0), 0, {}, int(lines or 0))
        for sku, category, name, units, lines in shipped
    }
    returned = await session.execute(
        select(
            CohortDay.sku,
            CohortDay.reason,
            func.max(CohortDay.category),
            func.sum(CohortDay.returned_units),
        )
        .where(*_cohort_scope(filters))
        .group_by(CohortDay.sku, CohortDay.reason)
    )
    for sku, reason, category, units in returned:
        counts = found.get(sku) or ProductCounts(sku, sku, category, 0, 0, {})
        counts.reasons[reason] = int(units)
        found[sku] = replace(counts, returned_units=counts.returned_units + int(units))
    return sorted(found.values(), key=lambda counts: counts.sku)


async def export_rows(session: AsyncSession, filters: Filters) -> list[dict[str, Any]]:
    """One row per return line requested in the period: see ``docs/analytics.md`` for the
    columns."""
    settled = ReturnLine.settled_minor

    def settled_as(*resolutions: Resolution) -> ColumnElement[int]:
        values = [resolution.value for resolution in resolutions]
        return case((ReturnLine.resolution.in_(values), settled), else_=0)

    result = await session.execute(
        select(
            Return.number.label("return_number"),
            Order.external_id.label("order"),
            Customer.external_id.label("customer"),
            OrderLine.line_ref.label("line"),
            ReturnFact.sku,
            ReturnFact.category,
            ReturnFact.reason,
            ReturnFact.fault,
            ReturnFact.resolution,
            ReturnFact.method,
            ReturnFact.facility,
            ReturnFact.status,
            ReturnLine.quantity,
            ReturnLine.received_quantity.label("received"),
            ReturnLine.grade,
            ReturnLine.disposition,
            (OrderLine.unit_price_minor * ReturnLine.quantity).label("value_minor"),
            settled_as(Resolution.REFUND, Resolution.KEEP_ITEM).label("refund_minor"),
            settled_as(Resolution.STORE_CREDIT).label("credit_minor"),
            settled_as(Resolution.EXCHANGE).label("exchange_minor"),
            ReturnFact.currency,
            ReturnFact.requested_at,
            Shipment.first_scan_at,
            ReturnLine.received_at,
            ReturnLine.inspected_at,
            ReturnLine.dispositioned_at,
            ReturnLine.settled_at,
            ReturnFact.cycle_hours,
        )
        .select_from(ReturnFact)
        .join(ReturnLine, ReturnLine.id == ReturnFact.return_line_id)
        .join(Return, Return.id == ReturnLine.return_id)
        .join(OrderLine, OrderLine.id == ReturnLine.order_line_id)
        .join(Order, Order.id == OrderLine.order_id)
        .join(Customer, Customer.id == Order.customer_id)
        .outerjoin(Shipment, Shipment.return_id == Return.id)
        .where(*_fact_scope(filters))
        .order_by(ReturnFact.requested_at, ReturnFact.return_line_id)
    )
    return [dict(row._mapping) for row in result]


async def refreshed_at(session: AsyncSession) -> datetime | None:
    """When the rollups were last brought up to date (``None``: never)."""
    cursor = await session.get(RollupCursor, REFRESH)
    return cursor.refreshed_at if cursor else None


def _keys(keys: Sequence[str]) -> list[str]:
    if not keys:
        raise ValidationFailed("Name at least one KPI.", field="keys")
    return [by_key(key).key for key in keys]


async def _currency(session: AsyncSession, filters: Filters) -> str | None:
    """The filter's currency, else the one the period's returns (or sales) were mostly in;
    chosen over the period alone, so it doesn't change as slices are picked."""
    if filters.currency:
        return filters.currency
    for table, units in ((ReturnDay, ReturnDay.units), (SalesDay, SalesDay.shipped_units)):
        found = await session.scalar(
            select(table.currency)
            .where(table.day >= filters.since, table.day <= filters.until)
            .group_by(table.currency)
            .order_by(func.sum(units).desc(), table.currency)
            .limit(1)
        )
        if found:
            return str(found)
    return None


SLICES = ("category", "sku", "reason", "facility", "currency")


def _scope(model: Any, day: Any, filters: Filters, slices: tuple[str, ...]) -> list[Any]:
    """The period on ``day`` and each slice ``model`` has; a facility filter on a table that
    has no facility (sales and their cohort) matches nothing: the return rate has no such
    slice."""
    scope = [day >= filters.since, day <= filters.until]
    for name in slices:
        value = getattr(filters, name)
        if value is not None:
            scope.append(getattr(model, name) == value)
    if filters.facility is not None and "facility" not in slices:
        scope.append(false())
    return scope


def return_scope(filters: Filters) -> list[Any]:
    return _scope(ReturnDay, ReturnDay.day, filters, SLICES)


def _fact_scope(filters: Filters) -> list[Any]:
    return _scope(ReturnFact, ReturnFact.requested_day, filters, SLICES)


def _cohort_scope(filters: Filters) -> list[Any]:
    return _scope(CohortDay, CohortDay.day, filters, ("category", "sku", "reason", "currency"))


def _sales_scope(filters: Filters) -> list[Any]:
    # Shipments have no reason either, but a reason slices only the returned side.
    return _scope(SalesDay, SalesDay.day, filters, ("category", "sku", "currency"))


def _return_sums(currency: str | None) -> list[Any]:
    d = ReturnDay
    in_currency = d.currency == currency if currency else false()

    def money(column: Any) -> Any:
        return case((in_currency, column), else_=0)

    sums = {
        "returned_units": d.returned_units,
        "faulty_units": case((d.reason.in_(FAULTY_REASONS), d.returned_units), else_=0),
        "approved": d.approved,
        "returnless": d.returnless,
        "needs_sending": d.needs_sending,
        "expired": d.expired,
        "graded_units": d.graded_units,
        "sellable_units": d.sellable_units,
        "dispositioned_units": d.dispositioned_units,
        "diverted_units": d.diverted_units,
        "settled_minor": money(d.settled_minor),
        "retained_minor": money(d.retained_minor),
        "price_minor": money(d.dispositioned_price_minor),
        "recovered_minor": money(d.recovered_minor),
        "cost_minor": money(d.cost_minor),
        "costed_returns": case((in_currency, d.received), else_=0.0),
        "cycle_hours": d.cycle_hours,
        "cycle_lines": d.cycle_lines,
        "scan_cycle_hours": d.scan_cycle_hours,
        "scan_cycle_lines": d.scan_cycle_lines,
        "receipt_cycle_hours": d.receipt_cycle_hours,
        "receipt_cycle_lines": d.receipt_cycle_lines,
        "transit_hours": d.transit_hours,
        "transit_returns": d.transit_returns,
        "dock_hours": d.dock_hours,
        "dock_lines": d.dock_lines,
    }
    return [func.sum(column).label(name) for name, column in sums.items()]


async def _totals(session: AsyncSession, filters: Filters, currency: str | None) -> Totals:
    row = (
        await session.execute(select(*_return_sums(currency)).where(*return_scope(filters)))
    ).one()
    cohort = await session.scalar(
        select(func.sum(CohortDay.returned_units)).where(*_cohort_scope(filters))
    )
    return (
        Totals.of(dict(row._mapping))
        + Totals(cohort_units=int(cohort or 0))
        + await _sales_totals(session, filters)
    )


async def _sales_totals(session: AsyncSession, filters: Filters) -> Totals:
    shipped = await session.scalar(
        select(func.sum(SalesDay.shipped_units)).where(*_sales_scope(filters))
    )
    return Totals(shipped_units=int(shipped or 0))


async def _grouped(
    session: AsyncSession, filters: Filters, currency: str | None, by: str
) -> list[tuple[Any, Totals]]:
    """Totals per day or per slice; a key may come more than once (from each table)."""
    grouped: list[tuple[Any, Totals]] = []
    column = ReturnDay.day if by == "day" else getattr(ReturnDay, by)
    rows = await session.execute(
        select(column.label("key"), *_return_sums(currency))
        .where(*return_scope(filters))
        .group_by(column)
    )
    grouped.extend((row.key, Totals.of(dict(row._mapping))) for row in rows)
    if by != "facility":
        column = CohortDay.day if by == "day" else getattr(CohortDay, by)
        cohort = await session.execute(
            select(column, func.sum(CohortDay.returned_units))
            .where(*_cohort_scope(filters))
            .group_by(column)
        )
        grouped.extend((key, Totals(cohort_units=int(units))) for key, units in cohort)
    if by in ("day", "category", "sku"):
        column = getattr(SalesDay, by)
        sales = await session.execute(
            select(column, func.sum(SalesDay.shipped_units))
            .where(*_sales_scope(filters))
            .group_by(column)
        )
        grouped.extend((key, Totals(shipped_units=int(units))) for key, units in sales)
    return grouped


async def _reason_mix(session: AsyncSession, filters: Filters) -> list[ReasonShare]:
    rows = (
        await session.execute(
            select(ReturnDay.reason, func.sum(ReturnDay.returned_units))
            .where(*return_scope(filters))
            .group_by(ReturnDay.reason)
        )
    ).all()
    total = sum(int(units) for _, units in rows)
    mix = [
        ReasonShare(
            reason,
            reason_label(reason),
            FAULT_BY_REASON.get(reason, "customer"),
            int(units),
            int(units) / total,
        )
        for reason, units in rows
        if units
    ]
    return sorted(mix, key=lambda share: (-share.units, share.reason))


async def _labels(session: AsyncSession, by: str, keys: list[str]) -> dict[str, str]:
    if by == "reason":
        return {key: reason_label(key) for key in keys}
    if by == "sku":
        rows = await session.execute(select(Product.sku, Product.name).where(Product.sku.in_(keys)))
        return {sku: name for sku, name in rows}
    if by == "facility":
        rows = await session.execute(
            select(Facility.code, Facility.name).where(Facility.code.in_(keys))
        )
        return {"": NO_FACILITY, **{code: name for code, name in rows}}
    return {}
