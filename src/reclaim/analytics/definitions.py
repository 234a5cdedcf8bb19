"""Every returns KPI, defined once: what it measures, in what unit, and which way is better.

The arithmetic is in ``kpis``, the sums it works on in ``rollups``; ``docs/analytics.md``
explains each in full.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from reclaim.errors import ValidationFailed
from reclaim.kit.money import Money
from reclaim.returns.states import FAULT, Disposition, Fault, Grade, Reason, Resolution, Status

Unit = Literal["percent", "hours", "days", "money", "ratio"]
Better = Literal["higher", "lower"]

# A unit counts toward the return rate when it is asked back within this many days of the
# order's placement.
RETURN_WINDOW_DAYS = 30

# Units on returns in these statuses were never returned: withdrawn, or never sent.
NOT_RETURNED = frozenset({Status.CANCELLED, Status.EXPIRED})
# Statuses a return only reaches once approved (one approved and then rejected or cancelled
# shows it by its approval event instead).
APPROVED_STATUSES = frozenset(
    {
        Status.APPROVED,
        Status.IN_TRANSIT,
        Status.RECEIVED,
        Status.INSPECTED,
        Status.COMPLETED,
        Status.EXPIRED,
    }
)
# The merchant's or the carrier's doing, not the shopper's.
FAULTY = frozenset({Fault.MERCHANT, Fault.CARRIER})
RETAINED = frozenset({Resolution.EXCHANGE, Resolution.STORE_CREDIT})
# The grades a resale channel (restock, open box) takes as they are.
SELLABLE_GRADES = frozenset({Grade.NEW, Grade.LIKE_NEW, Grade.VERY_GOOD, Grade.GOOD})
BACK_TO_STOCK = frozenset({Disposition.RESTOCK, Disposition.OPEN_BOX})
NOT_DIVERTED = frozenset({Disposition.DISPOSE})


@dataclass(frozen=True)
class KpiDefinition:
    """``percent`` values are fractions of 1 (0.125 is shown "12.5%"); ``money`` values are
    minor units of the report's currency."""

    key: str
    title: str
    unit: Unit
    definition: str
    better: Better


KPIS: tuple[KpiDefinition, ...] = (
    KpiDefinition(
        "return_rate",
        "Return rate",
        "percent",
        f"Units returned within {RETURN_WINDOW_DAYS} days of the order, over units shipped, "
        "for orders placed in the period. Returned means on a return that was not cancelled "
        "or expired.",
        "lower",
    ),
    KpiDefinition(
        "fault_share",
        "Merchant or carrier fault",
        "percent",
        "Returned units whose reason is the merchant's fault (defective, not as described, "
        "wrong item, missing parts, quality) or the carrier's (damaged, late), over all "
        "returned units.",
        "lower",
    ),
    KpiDefinition(
        "revenue_retained",
        "Revenue retained",
        "percent",
        "Value given back as an exchange or store credit, over all value given back for "
        "returned lines.",
        "higher",
    ),
    KpiDefinition(
        "returnless_rate",
        "Returnless rate",
        "percent",
        "Approved returns the shopper could keep (returnless refunds), over approved returns.",
        "lower",
    ),
    KpiDefinition(
        "refund_cycle_hours",
        "Refund cycle",
        "hours",
        "Mean hours from the return's request to the line's refund, credit or exchange.",
        "lower",
    ),
    KpiDefinition(
        "refund_after_first_scan_hours",
        "Refund after first scan",
        "hours",
        "Mean hours from the carrier's first scan of the parcel to the line's refund, credit "
        "or exchange.",
        "lower",
    ),
    KpiDefinition(
        "refund_after_receipt_hours",
        "Refund after receipt",
        "hours",
        "Mean hours from the line's receipt at the warehouse to its refund, credit or exchange.",
        "lower",
    ),
    KpiDefinition(
        "transit_days",
        "Transit time",
        "days",
        "Mean days from the carrier's first scan to receipt at the warehouse, per return.",
        "lower",
    ),
    KpiDefinition(
        "no_show_rate",
        "No-show rate",
        "percent",
        "Approved returns that expired because the parcel was never handed over, over "
        "approved returns that had to be sent (not returnless).",
        "lower",
    ),
    KpiDefinition(
        "dock_to_stock_hours",
        "Dock to stock",
        "hours",
        "Mean hours from receipt to disposition for lines sent back to stock (restock, open box).",
        "lower",
    ),
    KpiDefinition(
        "cost_per_return",
        "Cost per return",
        "money",
        "What the dispositions of returned units cost (realised if known, else expected), over "
        "returns received.",
        "lower",
    ),
    KpiDefinition(
        "sellable_rate",
        "Sellable rate",
        "percent",
        "Inspected units graded sellable as they are (new, like new, very good, good), over "
        "inspected units.",
        "higher",
    ),
    KpiDefinition(
        "recovery_rate",
        "Recovery rate",
        "percent",
        "Value recovered by dispositions (realised if known, else expected), over the original "
        "price of the units dispositioned.",
        "higher",
    ),
    KpiDefinition(
        "diversion_rate",
        "Diversion rate",
        "percent",
        "Dispositioned units sent anywhere but disposal (landfill), over dispositioned units.",
        "higher",
    ),
)
_BY_KEY = {kpi.key: kpi for kpi in KPIS}
KEYS = tuple(_BY_KEY)


def by_key(key: str) -> KpiDefinition:
    try:
        return _BY_KEY[key]
    except KeyError:
        raise ValidationFailed(
            f"Unknown KPI {key!r}; it is one of: {', '.join(KEYS)}.", key=key
        ) from None


def format_value(defn: KpiDefinition, value: float | None, currency: str | None) -> str:
    """The value as a dashboard shows it; "—" when there was nothing to divide by."""
    if value is None:
        return "—"
    if defn.unit == "percent":
        return f"{value * 100:.1f}%"
    if defn.unit == "hours":
        return f"{value:.1f} h"
    if defn.unit == "days":
        return f"{value:.1f} days"
    if defn.unit == "money":
        return Money(round(value), currency).format() if currency else f"{value:.0f}"
    return f"{value:.2f}"


def reason_label(reason: str) -> str:
    """``too_small`` as "Too small"; imported history that gave no reason as "Not stated"."""
    if reason == Reason.UNSPECIFIED:
        return "Not stated"
    return reason.replace("_", " ").capitalize()


FAULT_BY_REASON = {reason.value: fault.value for reason, fault in FAULT.items()}
FAULTY_REASONS = tuple(sorted(reason.value for reason, fault in FAULT.items() if fault in FAULTY))
