"""What a return gives back: paid amounts, fees and bonus, per line, explained.

The portal's preview and the recorded decision both come from :func:`quote`, so the shopper is
never shown one number and paid another. Fees only ever reduce what is given back, and nothing
but the store-credit bonus adds to what was paid.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from reclaim.kit.money import allocate
from reclaim.policy.facts import Ask, Explanation, OrderFacts, money, percent_of, to_minor
from reclaim.policy.schema import Policy
from reclaim.returns.states import Fault, Method, Reason, Resolution

SHOPPER_PAID_RESOLUTIONS = frozenset({Resolution.STORE_CREDIT, Resolution.EXCHANGE})


@dataclass(frozen=True, slots=True)
class LineQuote:
    line_ref: str
    resolution: Resolution
    goods_minor: int
    tax_minor: int
    shipping_minor: int  # the line's share of original shipping, when we were at fault
    fees_minor: int
    bonus_minor: int

    @property
    def paid_minor(self) -> int:
        return self.goods_minor + self.tax_minor + self.shipping_minor

    @property
    def amount_minor(self) -> int:
        """What the shopper gets for this line: paid, less fees, plus any credit bonus."""
        return self.paid_minor - self.fees_minor + self.bonus_minor


@dataclass(frozen=True, slots=True)
class Fee:
    kind: str
    amount_minor: int
    text: str


@dataclass(frozen=True, slots=True)
class Quote:
    currency: str
    lines: tuple[LineQuote, ...]
    fees: tuple[Fee, ...]
    explanations: tuple[Explanation, ...]

    def _total(self, resolution: Resolution) -> int:
        return sum(line.amount_minor for line in self.lines if line.resolution is resolution)

    @property
    def paid_minor(self) -> int:
        return sum(line.paid_minor for line in self.lines)

    @property
    def refund_minor(self) -> int:
        return self._total(Resolution.REFUND)

    @property
    def store_credit_minor(self) -> int:
        return self._total(Resolution.STORE_CREDIT)

    @property
    def exchange_minor(self) -> int:
        return self._total(Resolution.EXCHANGE)

    @property
    def fees_minor(self) -> int:
        return sum(fee.amount_minor for fee in self.fees)

    @property
    def bonus_minor(self) -> int:
        return sum(line.bonus_minor for line in self.lines)

    def summary(self) -> str:
        parts = []
        if self.refund_minor:
            parts.append(f"{money(self.refund_minor, self.currency)} back to your payment")
        if self.store_credit_minor:
            parts.append(f"{money(self.store_credit_minor, self.currency)} in store credit")
        if self.exchange_minor:
            parts.append(f"{money(self.exchange_minor, self.currency)} toward your exchange")
        return "You get " + (" and ".join(parts) or "nothing back") + "."

    def record(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "paid_minor": self.paid_minor,
            "refund_minor": self.refund_minor,
            "store_credit_minor": self.store_credit_minor,
            "exchange_minor": self.exchange_minor,
            "bonus_minor": self.bonus_minor,
            "fees": [
                {"kind": f.kind, "amount_minor": f.amount_minor, "text": f.text} for f in self.fees
            ],
            "lines": [
                {
                    "line_id": line.line_ref,
                    "resolution": line.resolution.value,
                    "paid_minor": line.paid_minor,
                    "fees_minor": line.fees_minor,
                    "bonus_minor": line.bonus_minor,
                    "amount_minor": line.amount_minor,
                }
                for line in self.lines
            ],
        }


FREE_BECAUSE = {
    Reason.DAMAGED_IN_TRANSIT: "Free return because the item arrived damaged.",
    Reason.ARRIVED_TOO_LATE: "Free return because the item arrived late.",
    Reason.WRONG_ITEM: "Free return because we sent the wrong item.",
    Reason.DEFECTIVE: "Free return because the item is faulty.",
    Reason.MISSING_PARTS: "Free return because parts were missing.",
}

METHOD_PHRASE = {
    Method.PREPAID_LABEL: "with a prepaid label",
    Method.BOX_FREE_DROPOFF: "at a drop-off point, no box needed",
    Method.LOCKER: "at a parcel locker",
    Method.IN_STORE: "when you bring it to a store",
    Method.SCHEDULED_PICKUP: "with a pickup from your door",
    Method.KEEP_ITEM: "with nothing to send back",
}


def free_return_text(asks: Iterable[Ask]) -> str:
    for ask in asks:
        if ask.fault in (Fault.MERCHANT, Fault.CARRIER):
            return FREE_BECAUSE.get(
                ask.reason, "Free return because the item wasn't as it should be."
            )
    return "Free return."


def _at_fault(asks: Iterable[Ask]) -> bool:
    return any(ask.fault in (Fault.MERCHANT, Fault.CARRIER) for ask in asks)


def _label_fee_applies(
    policy: Policy, asks: Sequence[Ask], method: Method | None, allowed: frozenset[Method]
) -> tuple[bool, Explanation | None]:
    """Whether the trip back is charged, and the words for it when it isn't."""
    fees = policy.fees
    if fees.label_fee <= 0:
        return False, None
    if method is Method.KEEP_ITEM:
        return False, None
    if _at_fault(asks):
        return False, Explanation("free_return", free_return_text(asks))
    if all(ask.resolution in SHOPPER_PAID_RESOLUTIONS for ask in asks):
        return False, Explanation(
            "free_with_credit", "Free return when you choose store credit or an exchange."
        )
    if method is not None and method not in fees.label_fee_methods:
        return False, Explanation("free_method", f"Free return {METHOD_PHRASE[method]}.")
    free = sorted(allowed - fees.label_fee_methods)
    if method is None and free:
        # Before the shopper picks a method: price the mail-back, say how to avoid the fee.
        return True, Explanation("free_method", f"Free return {METHOD_PHRASE[free[0]]}.")
    return True, None


def quote(
    policy: Policy,
    order: OrderFacts,
    asks: Sequence[Ask],
    method: Method | None,
    allowed: frozenset[Method],
) -> Quote:
    currency = order.currency
    notes: list[Explanation] = []
    fees: list[Fee] = []
    rows: list[dict[str, Any]] = []
    at_fault = _at_fault(asks)
    for ask in asks:
        item = order.item(ask.line_ref)
        if item is None:
            continue
        goods, tax = item.paid_for(ask.quantity), item.tax_for(ask.quantity)
        shipping = 0
        if ask.fault in (Fault.MERCHANT, Fault.CARRIER) and order.goods_minor > 0:
            shipping = order.shipping_minor * goods // order.goods_minor
        restocking = 0
        rules = policy.fees
        if (
            rules.restocking_percent > 0
            and ask.opened
            and ask.fault is Fault.CUSTOMER
            and ask.resolution is Resolution.REFUND
            and (not rules.restocking_categories or item.category in rules.restocking_categories)
        ):
            restocking = percent_of(goods, rules.restocking_percent)
            text = (
                f"A {rules.restocking_percent.normalize():f}% restocking fee "
                f"({money(restocking, currency)}) applies to opened items returned for a refund. "
                "Store credit or an exchange avoids it."
            )
            fees.append(Fee("restocking", restocking, text))
            notes.append(Explanation("restocking_fee", text))
        rows.append(
            {"ask": ask, "goods": goods, "tax": tax, "shipping": shipping, "fees": restocking}
        )
    charged, free_note = _label_fee_applies(policy, asks, method, allowed)
    if free_note:
        notes.append(free_note)
    if charged:
        refund_rows = [row for row in rows if row["ask"].resolution is Resolution.REFUND]
        room = [row["goods"] + row["tax"] + row["shipping"] - row["fees"] for row in refund_rows]
        fee = min(to_minor(policy.fees.label_fee, currency), sum(room))
        if fee > 0:
            for row, part in zip(refund_rows, allocate(fee, room), strict=True):
                row["fees"] += part
            text = (
                f"A {money(fee, currency)} return shipping fee comes off your refund. "
                "Store credit and exchanges return free."
            )
            fees.append(Fee("label", fee, text))
            notes.append(Explanation("label_fee", text))
    bonus_rows = [row for row in rows if row["ask"].resolution is Resolution.STORE_CREDIT]
    bonuses = [0] * len(bonus_rows)
    credit = policy.store_credit
    if credit.bonus_percent > 0 and bonus_rows:
        bonuses = [
            percent_of(row["goods"] + row["tax"], credit.bonus_percent) for row in bonus_rows
        ]
        if credit.bonus_cap is not None and sum(bonuses) > to_minor(credit.bonus_cap, currency):
            weights = [row["goods"] + row["tax"] for row in bonus_rows]
            bonuses = allocate(to_minor(credit.bonus_cap, currency), weights)
        if sum(bonuses):
            notes.append(
                Explanation(
                    "credit_bonus",
                    f"Store credit comes with {money(sum(bonuses), currency)} extra "
                    f"({credit.bonus_percent.normalize():f}% bonus).",
                )
            )
    bonus_by_ref = {
        row["ask"].line_ref: bonus for row, bonus in zip(bonus_rows, bonuses, strict=True)
    }
    if at_fault and any(row["shipping"] for row in rows):
        notes.append(Explanation("shipping_refunded", "Your original shipping is refunded too."))
    lines = tuple(
        LineQuote(
            row["ask"].line_ref,
            row["ask"].resolution,
            row["goods"],
            row["tax"],
            row["shipping"],
            min(row["fees"], row["goods"] + row["tax"] + row["shipping"]),
            bonus_by_ref.get(row["ask"].line_ref, 0),
        )
        for row in rows
    )
    return Quote(currency, lines, tuple(fees), tuple(notes))
