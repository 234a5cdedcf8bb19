"""What the policy looks at: an order and a request, as plain values (no database)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from reclaim.kit.money import Money, minor_digits
from reclaim.returns.states import FAULT, Fault, Reason, Resolution


@dataclass(frozen=True, slots=True)
class Explanation:
    """One decision in the shopper's words, with a stable code for machines and tests."""

    code: str
    text: str


@dataclass(frozen=True, slots=True)
class Item:
    """An order line as the policy sees it. Amounts are for the whole line, in minor units."""

    line_ref: str
    sku: str
    name: str
    category: str
    returnable: bool  # the shop's own flag on the product
    quantity: int
    held: int  # units already taken by other returns
    list_minor: int  # unit price × quantity, before any discount
    paid_minor: int  # after line and order discounts, before tax
    tax_minor: int
    weight_grams: int = 0

    @property
    def open_quantity(self) -> int:
        return max(self.quantity - self.held, 0)

    def paid_for(self, units: int) -> int:
        """Goods paid for ``units`` of the line, rounded down so shares never add up to more."""
        return self.paid_minor * units // self.quantity

    def tax_for(self, units: int) -> int:
        return self.tax_minor * units // self.quantity


@dataclass(frozen=True, slots=True)
class OrderFacts:
    currency: str
    delivered_at: datetime | None
    tier: str
    # The customer's other returns within the review rule's recent_days.
    recent_returns: int
    shipping_minor: int
    items: tuple[Item, ...]

    def item(self, line_ref: str) -> Item | None:
        return next((item for item in self.items if item.line_ref == line_ref), None)

    @property
    def goods_minor(self) -> int:
        return sum(item.paid_minor for item in self.items)


@dataclass(frozen=True, slots=True)
class Ask:
    """One line of a return request."""

    line_ref: str
    quantity: int
    reason: Reason
    resolution: Resolution
    opened: bool = False

    @property
    def fault(self) -> Fault:
        return FAULT[self.reason]


def to_minor(amount: Decimal, currency: str) -> int:
    """A policy amount in the order's currency; "4.95" in a currency without cents rounds."""
    scaled = amount.scaleb(minor_digits(currency))
    return int(scaled.to_integral_value(rounding=ROUND_HALF_UP))


def percent_of(minor: int, percent: Decimal) -> int:
    return int((Decimal(minor) * percent / 100).to_integral_value(rounding=ROUND_HALF_UP))


def money(minor: int, currency: str) -> str:
    return Money(minor, currency).format()


def day(moment: datetime) -> str:
    return f"{moment.day} {moment:%b %Y}"
