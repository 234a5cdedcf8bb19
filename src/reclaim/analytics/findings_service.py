"""Root-cause findings and product return-rate estimates for a period and its slices.

Units shipped and returned come from the rollups (``analytics.service.product_counts``). What
they don't give is read here, bounded by the period: the order lines the units were sold on,
how many separate returns each product's units came back in and for which reasons, and the
shoppers' comments. Rates are always fitted over the whole shop, so a slice (a category, a SKU)
is compared with the same peers as without it; the slice only picks which results are shown.

A facility is no slice here: units shipped belong to no facility (only returns come back to
one), so a rate with a facility's returns over every facility's shipments would mean nothing.
Findings and product rates are over all facilities whatever the filters say.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import TypeVarTuple

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.analytics import findings as rules
from reclaim.analytics.concentration import ReasonCount
from reclaim.analytics.definitions import NOT_RETURNED
from reclaim.analytics.filters import Filters
from reclaim.analytics.findings import Finding, ProductRate, SkuCounts
from reclaim.analytics.service import product_counts
from reclaim.analytics.themes import Comment, themes
from reclaim.catalog.models import Product
from reclaim.errors import NotFound
from reclaim.orders.models import OrderLine
from reclaim.returns.models import Return, ReturnLine

# The most recent comments read for themes: plenty to find what recurs, and a bound on the
# work one request can cause.
COMMENT_LIMIT = 5000
_CHUNK = 500  # SKUs per IN list: well inside every driver's limit on bound parameters
Row = TypeVarTuple("Row")


@dataclass(frozen=True, slots=True)
class Evidence:
    """The period's counts per product and per reason, which findings and product rates both
    read: a page that shows both reads them once."""

    skus: list[SkuCounts]
    mix: list[ReasonCount]


async def evidence(session: AsyncSession, filters: Filters) -> Evidence:
    skus, mix = await _counts(session, _all_facilities(filters))
    return Evidence(skus, mix)


async def findings(
    session: AsyncSession, filters: Filters, read: Evidence | None = None
) -> list[Finding]:
    """Every finding in the filters' slice, the most valuable first."""
    filters = _all_facilities(filters)
    read = read or await evidence(session, filters)
    skus, mix = read.skus, read.mix
    comments = await _comments(session, filters)
    category_of = {counts.sku: counts.category for counts in skus}
    category_of.update({row.sku: row.category for row in mix})
    return [
        finding
        for finding in rules.findings(skus, mix, themes(comments))
        if _in_scope(finding, filters, category_of)
    ]


async def product_rates(
    session: AsyncSession,
    filters: Filters,
    limit: int = 50,
    *,
    flagged: bool = False,
    read: Evidence | None = None,
) -> list[ProductRate]:
    """Products sold in the period's cohort, most returned first (by the shrunk estimate);
    only the frequently returned ones when ``flagged``."""
    read = read or await evidence(session, filters)
    return [
        rate
        for rate in rules.rate_products(read.skus, read.mix)
        if rate.estimate.shipped > 0
        and filters.sku in (None, rate.sku)
        and filters.category in (None, rate.category)
        and (rate.frequently_returned or not flagged)
    ][:limit]


async def product_rate(session: AsyncSession, sku: str, filters: Filters) -> ProductRate:
    """One product's rate; a product that sold nothing in the period is its category's prior."""
    product = await session.scalar(select(Product).where(Product.sku == sku))
    if product is None:
        raise NotFound(f"No product with SKU {sku!r}.", sku=sku)
    skus, mix = await _counts(session, _all_facilities(filters))
    if all(counts.sku != sku for counts in skus):
        skus.append(SkuCounts(sku, product.name, product.category, 0, 0, product.price_minor, 0))
    return next(rate for rate in rules.rate_products(skus, mix) if rate.sku == sku)


def _all_facilities(filters: Filters) -> Filters:
    """Shipments, the denominators, have no facility: see the module's docstring."""
    return replace(filters, facility=None)


def _in_scope(finding: Finding, filters: Filters, category_of: dict[str, str]) -> bool:
    if finding.kind == "theme":
        return True  # read from the slice's comments already
    if finding.kind == "sku_excess" or finding.evidence.get("level") == "sku":
        return filters.sku in (None, finding.subject) and filters.category in (
            None,
            category_of.get(finding.subject),
        )
    return filters.sku is None and filters.category in (None, finding.subject)


async def _counts(
    session: AsyncSession, filters: Filters
) -> tuple[list[SkuCounts], list[ReasonCount]]:
    """The whole shop's counts for the period, whatever category or SKU is picked."""
    whole = replace(filters, category=None, sku=None)
    counts = await product_counts(session, whole)
    prices = await _prices(session, [c.sku for c in counts])
    skus = [
        # An imported history can say more came back than its cohort shipped.
        SkuCounts(
            c.sku,
            c.name,
            c.category,
            c.shipped_units,
            min(c.returned_units, c.shipped_units),
            prices.get(c.sku, 0),
            c.shipped_lines,
        )
        for c in counts
    ]
    return skus, await _reason_counts(session, whole)


def _day_range(filters: Filters) -> tuple[datetime, datetime]:
    start = datetime.combine(filters.since, time(), tzinfo=UTC)
    return start, datetime.combine(filters.until + timedelta(days=1), time(), tzinfo=UTC)


async def _prices(session: AsyncSession, skus: Sequence[str]) -> dict[str, int]:
    prices: dict[str, int] = {}
    for start in range(0, len(skus), _CHUNK):
        rows = await session.execute(
            select(Product.sku, Product.price_minor).where(
                Product.sku.in_(skus[start : start + _CHUNK])
            )
        )
        prices.update({sku: int(price) for sku, price in rows})
    return prices


def _requested(query: Select[*Row], filters: Filters) -> Select[*Row]:
    """Return lines asked for in the period (and slices) on returns still standing."""
    start, end = _day_range(filters)
    query = (
        query.join(Return, Return.id == ReturnLine.return_id)
        .join(OrderLine, OrderLine.id == ReturnLine.order_line_id)
        .join(Product, Product.id == OrderLine.product_id)
        .where(
            Return.created_at >= start,
            Return.created_at < end,
            Return.status.not_in([status.value for status in NOT_RETURNED]),
        )
    )
    for column, value in (
        (Product.category, filters.category),
        (OrderLine.sku, filters.sku),
        (ReturnLine.reason, filters.reason),
        (Return.currency, filters.currency),
    ):
        if value is not None:
            query = query.where(column == value)
    return query


async def _reason_counts(session: AsyncSession, filters: Filters) -> list[ReasonCount]:
    value = OrderLine.unit_price_minor * ReturnLine.quantity
    query = _requested(
        select(
            OrderLine.sku,
            func.max(Product.name),
            func.max(Product.category),
            ReturnLine.reason,
            func.count(),
            func.sum(ReturnLine.quantity),
            func.sum(value),
        ).select_from(ReturnLine),
        filters,
    ).group_by(OrderLine.sku, ReturnLine.reason)
    return [
        ReasonCount(sku, name, category, reason, int(lines), int(units), int(worth))
        for sku, name, category, reason, lines, units, worth in await session.execute(query)
    ]


async def _comments(session: AsyncSession, filters: Filters) -> list[Comment]:
    query = _requested(
        select(
            Return.number,
            OrderLine.sku,
            Product.name,
            Product.category,
            ReturnLine.reason,
            ReturnLine.comment,
            OrderLine.unit_price_minor * ReturnLine.quantity,
        ).select_from(ReturnLine),
        filters,
    )
    query = (
        query.where(ReturnLine.comment.is_not(None), ReturnLine.comment != "")
        .order_by(Return.created_at.desc(), ReturnLine.id.desc())
        .limit(COMMENT_LIMIT)
    )
    return [
        Comment(number, sku, name, category, reason, text or "", int(value))
        for number, sku, name, category, reason, text, value in await session.execute(query)
    ]
