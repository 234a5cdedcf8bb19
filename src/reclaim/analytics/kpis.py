"""The KPIs' arithmetic: each a ratio or a mean of sums the rollups keep. Pure.

Means are kept as a sum and a count, so totals of any slice or any run of days add up to the
right mean; and a KPI whose denominator is 0 has no value (``None``), never 0.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import Any, Literal

Bucket = Literal["day", "week", "month"]
BUCKETS: tuple[Bucket, ...] = ("day", "week", "month")
HOURS_PER_DAY = 24.0


@dataclass(frozen=True)
class Totals:
    """Sums over some slice of the rollups. Counts of returns are fractional: a return of n
    lines counts 1/n on each line, so a slice holding some of its lines holds that share."""

    # The shipment cohort: units shipped on orders placed in the period, and those of them
    # returned within the window.
    shipped_units: int = 0
    cohort_units: int = 0
    # Returns requested in the period.
    returned_units: int = 0
    faulty_units: int = 0
    approved: float = 0.0
    returnless: float = 0.0
    needs_sending: float = 0.0
    expired: float = 0.0
    graded_units: int = 0
    sellable_units: int = 0
    dispositioned_units: int = 0
    diverted_units: int = 0
    # Money, in the report's one currency.
    settled_minor: int = 0
    retained_minor: int = 0
    price_minor: int = 0
    recovered_minor: int = 0
    cost_minor: int = 0
    costed_returns: float = 0.0
    cycle_hours: float = 0.0
    cycle_lines: int = 0
    scan_cycle_hours: float = 0.0
    scan_cycle_lines: int = 0
    receipt_cycle_hours: float = 0.0
    receipt_cycle_lines: int = 0
    transit_hours: float = 0.0
    transit_returns: float = 0.0
    dock_hours: float = 0.0
    dock_lines: int = 0

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> Totals:
        """Totals from a database row's sums: ``None`` (no rows) is 0, and PostgreSQL's
        numeric sums become plain ints and floats."""
        kinds = {f.name: f.type for f in fields(cls)}
        converted: dict[str, Any] = {
            name: (float if kinds[name] == "float" else int)(value or 0)
            for name, value in values.items()
            if name in kinds
        }
        return cls(**converted)


@dataclass(frozen=True)
class Measure:
    value: float | None
    numerator: float
    denominator: float


def ratio(numerator: float, denominator: float) -> Measure:
    value = numerator / denominator if denominator else None
    return Measure(value, float(numerator), float(denominator))


FORMULAS: dict[str, Callable[[Totals], Measure]] = {
    "return_rate": lambda t: ratio(t.cohort_units, t.shipped_units),
    "fault_share": lambda t: ratio(t.faulty_units, t.returned_units),
    "revenue_retained": lambda t: ratio(t.retained_minor, t.settled_minor),
    "returnless_rate": lambda t: ratio(t.returnless, t.approved),
    "refund_cycle_hours": lambda t: ratio(t.cycle_hours, t.cycle_lines),
    "refund_after_first_scan_hours": lambda t: ratio(t.scan_cycle_hours, t.scan_cycle_lines),
    "refund_after_receipt_hours": lambda t: ratio(t.receipt_cycle_hours, t.receipt_cycle_lines),
    "transit_days": lambda t: ratio(t.transit_hours / HOURS_PER_DAY, t.transit_returns),
    "no_show_rate": lambda t: ratio(t.expired, t.needs_sending),
    "dock_to_stock_hours": lambda t: ratio(t.dock_hours, t.dock_lines),
    "cost_per_return": lambda t: ratio(t.cost_minor, t.costed_returns),
    "sellable_rate": lambda t: ratio(t.sellable_units, t.graded_units),
    "recovery_rate": lambda t: ratio(t.recovered_minor, t.price_minor),
    "diversion_rate": lambda t: ratio(t.diverted_units, t.dispositioned_units),
}


def measure(key: str, totals: Totals) -> Measure:
    return FORMULAS[key](totals)


def values(totals: Totals, keys: Iterable[str]) -> dict[str, float | None]:
    return {key: measure(key, totals).value for key in keys}


def bucket_start(day: date, bucket: Bucket) -> date:
    """The first day of the day's bucket: itself, its ISO week's Monday, or its month's 1st."""
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    return day


def bucket_starts(since: date, until: date, bucket: Bucket) -> list[date]:
    """Every bucket the period touches, in order; the first may start before ``since``."""
    starts = []
    start = bucket_start(since, bucket)
    while start <= until:
        starts.append(start)
        start = _next(start, bucket)
    return starts


def _next(start: date, bucket: Bucket) -> date:
    if bucket == "week":
        return start + timedelta(days=7)
    if bucket == "month":
        days = calendar.monthrange(start.year, start.month)[1]
        return start + timedelta(days=days)
    return start + timedelta(days=1)


def by_bucket(daily: Mapping[date, Totals], bucket: Bucket) -> dict[date, Totals]:
    """Daily totals summed into their buckets."""
    summed: dict[date, Totals] = {}
    for day, totals in daily.items():
        start = bucket_start(day, bucket)
        summed[start] = summed.get(start, Totals()) + totals
    return summed
