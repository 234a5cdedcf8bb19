"""What the dashboard and the report read beside the KPIs: how many returns came in per day,
week or month, what the filters can be set to, and the last day anything was returned.

All of it from the rollups (or the small catalog and facility tables), so it stays fast as
history grows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import cast

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.analytics import kpis
from reclaim.analytics.definitions import reason_label
from reclaim.analytics.filters import Filters
from reclaim.analytics.models import ReturnDay
from reclaim.analytics.service import NO_FACILITY, return_scope
from reclaim.catalog.models import Product
from reclaim.errors import ValidationFailed
from reclaim.logistics.models import Facility
from reclaim.returns.states import Reason


@dataclass(frozen=True)
class Volume:
    """Returns asked for in one bucket (a return split over slices counts its share in each),
    and their units."""

    start: date
    returns: float
    units: int


async def volumes(session: AsyncSession, filters: Filters, bucket: str) -> list[Volume]:
    """Returns and units per bucket of the period, every bucket listed, empty ones as 0."""
    if bucket not in kpis.BUCKETS:
        raise ValidationFailed(f"Unknown bucket {bucket!r}.", field="bucket")
    chosen = cast(kpis.Bucket, bucket)
    rows = await session.execute(
        select(ReturnDay.day, func.sum(ReturnDay.returns), func.sum(ReturnDay.returned_units))
        .where(*return_scope(filters))
        .group_by(ReturnDay.day)
    )
    summed: dict[date, tuple[float, int]] = {}
    for day, returns, units in rows:
        start = kpis.bucket_start(day, chosen)
        before = summed.get(start, (0.0, 0))
        summed[start] = (before[0] + float(returns or 0), before[1] + int(units or 0))
    return [
        Volume(start, *summed.get(start, (0.0, 0)))
        for start in kpis.bucket_starts(filters.since, filters.until, chosen)
    ]


@dataclass(frozen=True)
class Choices:
    """What each filter may be set to: (value, what to call it)."""

    categories: list[str]
    reasons: list[tuple[str, str]]
    facilities: list[tuple[str, str]]
    currencies: list[str]


async def choices(session: AsyncSession) -> Choices:
    categories = await session.scalars(
        select(Product.category).distinct().order_by(Product.category)
    )
    codes = list(await session.scalars(select(ReturnDay.facility).distinct()))
    named = await session.execute(
        select(Facility.code, Facility.name).where(Facility.code.in_(codes))
    )
    names = {code: name for code, name in named}
    facilities = sorted(
        ((code, names.get(code, NO_FACILITY if code == "" else code)) for code in codes),
        key=lambda pair: (pair[0] == "", pair[1].lower()),
    )
    currencies = await session.scalars(
        select(ReturnDay.currency).distinct().order_by(ReturnDay.currency)
    )
    return Choices(
        [category for category in categories if category],
        [(reason.value, reason_label(reason.value)) for reason in Reason],
        # Returns without a facility can't be picked: "" means "every facility" in a form.
        [(code, name) for code, name in facilities if code],
        list(currencies),
    )


async def latest_return_day(session: AsyncSession) -> date | None:
    """The last day anything was returned on: where to look when a period holds nothing."""
    found: date | None = await session.scalar(select(func.max(ReturnDay.day)))
    return found
