"""What the analytics dashboard says around its charts: the period and its presets, the active
filters (each removable), links that drill into a category, SKU or reason, and a tile per KPI
with how it moved against the previous period of the same length.

Pure: filters and figures in, words and links out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from reclaim.analytics.comparison import Change, change
from reclaim.analytics.definitions import KpiDefinition
from reclaim.analytics.filters import Filters
from reclaim.analytics.service import KpiValue

DASHBOARD = "/console/analytics"
EXPORTS = "/console/analytics/export"
FIELDS = ("since", "until", "category", "sku", "reason", "facility", "currency")
PRESETS = (30, 90, 365)
# Daily points up to about six weeks, weekly ones up to a year and a half, then months.
DAILY_UP_TO = 45
WEEKLY_UP_TO = 550

# Why a KPI has no value: the thing it divides by didn't happen in the period.
NOTHING_TO_DIVIDE_BY: dict[str, str] = {
    "return_rate": "No units were shipped in this period.",
    "fault_share": "No units were returned in this period.",
    "revenue_retained": "Nothing returned has been settled yet.",
    "returnless_rate": "No returns were approved in this period.",
    "refund_cycle_hours": "No return was refunded yet.",
    "refund_after_first_scan_hours": "No refund followed a carrier scan yet.",
    "refund_after_receipt_hours": "No refund followed a receipt yet.",
    "transit_days": "No parcel has arrived yet.",
    "no_show_rate": "No return was due to be sent in this period.",
    "dock_to_stock_hours": "No unit has been put back in stock yet.",
    "cost_per_return": "No return has been dispositioned yet.",
    "sellable_rate": "No unit has been graded yet.",
    "recovery_rate": "No unit has been dispositioned yet.",
    "diversion_rate": "No unit has been dispositioned yet.",
}
FIELD_WORDS = {
    "category": "Category",
    "sku": "SKU",
    "reason": "Reason",
    "facility": "Facility",
    "currency": "Currency",
}


# --- the period and the links ---------------------------------------------------------------


def bucket(filters: Filters) -> str:
    days = filters.days
    return "day" if days <= DAILY_UP_TO else "week" if days <= WEEKLY_UP_TO else "month"


def params(filters: Filters, **changes: Any) -> dict[str, str]:
    """The filters as query parameters, changed as asked; a None or "" change drops one."""
    values = {name: getattr(filters, name) for name in FIELDS} | changes
    return {
        name: value.isoformat() if isinstance(value, date) else str(value)
        for name, value in values.items()
        if value not in (None, "")
    }


def link(filters: Filters, **changes: Any) -> str:
    """The dashboard with these filters, changed as asked."""
    return address(DASHBOARD, filters, **changes)


def address(path: str, filters: Filters, **changes: Any) -> str:
    return f"{path}?{urlencode(params(filters, **changes))}"


def day_span(since: date, until: date) -> str:
    """ "3 Mar – 31 May 2011", the year said once when both ends share it."""
    end = f"{until.day} {until:%b %Y}"
    if since.year == until.year:
        return f"{since.day} {since:%b} – {end}"
    return f"{since.day} {since:%b %Y} – {end}"


@dataclass(frozen=True, slots=True)
class Preset:
    days: int
    href: str
    current: bool


def presets(filters: Filters) -> list[Preset]:
    """The last 30, 90 or 365 days up to the period's end: looking at an old season, a preset
    stays in it."""
    found = []
    for days in PRESETS:
        since = filters.until - timedelta(days=days - 1)
        found.append(Preset(days, link(filters, since=since), since == filters.since))
    return found


@dataclass(frozen=True, slots=True)
class Chip:
    """An active filter, and the link that drops it."""

    words: str
    remove: str


def chips(filters: Filters, names: dict[str, dict[str, str]]) -> list[Chip]:
    """``names`` gives each filter's values their display names (a reason's label)."""
    found = []
    for name, words in FIELD_WORDS.items():
        value = getattr(filters, name)
        if value:
            shown = names.get(name, {}).get(value, value)
            found.append(Chip(f"{words}: {shown}", link(filters, **{name: None})))
    return found


# --- tiles ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tile:
    defn: KpiDefinition
    value: KpiValue
    change: Change | None
    why_none: str | None  # why there is no value, when there is none


def tiles(
    definitions: tuple[KpiDefinition, ...],
    now: list[KpiValue],
    before: list[KpiValue],
    filters: Filters,
) -> list[Tile]:
    """A tile per KPI, in the definitions' order, with its change on ``before``."""
    current = {kpi.key: kpi for kpi in now}
    earlier = {kpi.key: kpi.value for kpi in before}
    shown = []
    for defn in definitions:
        value = current[defn.key]
        why = None
        if value.value is None:
            why = NOTHING_TO_DIVIDE_BY.get(defn.key, "Nothing to measure in this period.")
            if filters.facility and defn.key == "return_rate":
                why = "Orders aren't shipped from a return facility: pick all facilities."
        moved = change(defn, value.value, earlier.get(defn.key), filters.days)
        shown.append(Tile(defn, value, moved, why))
    return shown
