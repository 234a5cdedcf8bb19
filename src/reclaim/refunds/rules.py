"""What a settled return line gives back, when it is due, and how a refund splits over payments.

Pure: values in, values out. The amounts come from the same :func:`reclaim.policy.pricing.quote`
the portal previews, so a shopper is paid what they were shown, less only what inspection found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reclaim.errors import AmountExceeded, ValidationFailed
from reclaim.policy.facts import Explanation, money, percent_of, to_minor
from reclaim.policy.pricing import LineQuote, Quote
from reclaim.policy.schema import Refunds, RefundTiming
from reclaim.returns.states import FAULT, Fault, Grade, Reason, Resolution


@dataclass(frozen=True, slots=True)
class LineState:
    """A return line as the money rules see it."""

    line_ref: str
    quantity: int  # units asked
    received: int
    grade: Grade | None
    reason: Reason
    resolution: Resolution  # KEEP_ITEM is treated like REFUND
    settled: bool


def effective_timing(recorded: RefundTiming, *, returnless: bool, risky: bool) -> RefundTiming:
    """Nothing comes back to wait for on a returnless return; a risky one waits for inspection."""
    if returnless:
        return RefundTiming.IMMEDIATELY
    if risky:
        return RefundTiming.AFTER_INSPECTION
    return recorded


def units_due(
    timing: RefundTiming, line: LineState, *, scanned: bool, completing: bool = False
) -> int:
    """How many units of ``line`` may be settled now; 0 when nothing is due yet (or ever).

    ``completing``: the return is being closed, so units that did arrive are settled even
    though the rest never will."""
    if line.settled:
        return 0
    received = min(line.received, line.quantity)
    if timing is RefundTiming.IMMEDIATELY:
        return line.quantity
    if timing is RefundTiming.AT_FIRST_SCAN:
        return line.quantity if scanned or received > 0 else 0
    if timing is RefundTiming.AT_RECEIPT:
        if received == line.quantity or (completing and received > 0):
            return received
        return 0
    if line.grade is not None or (completing and received > 0):
        return received
    return 0


VERB = {
    Resolution.REFUND: "refunded",
    Resolution.KEEP_ITEM: "refunded",
    Resolution.STORE_CREDIT: "credited",
    Resolution.EXCHANGE: "exchanged",
}


def not_due_reason(timing: RefundTiming, line: LineState, *, scanned: bool) -> str:
    """Why ``line`` can't be settled yet, in words for staff and shoppers alike."""
    name = f"Line '{line.line_ref}'"
    verb = VERB[line.resolution]
    if line.settled:
        return f"{name} has already been {verb}."
    if timing is RefundTiming.AT_FIRST_SCAN and not scanned:
        return f"{name} is {verb} once the carrier first scans the parcel (at first scan)."
    if timing is RefundTiming.AT_RECEIPT:
        return (
            f"{name} is {verb} once it is received (at receipt): "
            f"{min(line.received, line.quantity)} of {line.quantity} received so far."
        )
    if timing is RefundTiming.AFTER_INSPECTION:
        if line.received == 0:
            return f"{name} is {verb} once it is received and inspected (after inspection)."
        return f"{name} is {verb} once it is inspected (after inspection)."
    return f"{name} is due to be {verb} now."


@dataclass(frozen=True, slots=True)
class LineSettlement:
    line_ref: str
    resolution: Resolution  # REFUND, STORE_CREDIT or EXCHANGE: a kept item is refunded
    units: int
    paid_minor: int  # goods + tax + shipping share for these units (from the quote line)
    fees_minor: int  # the quote line's fees, for these units
    deduction_minor: int  # customer-caused damage found at inspection
    bonus_minor: int  # store-credit bonus for these units (0 if value is 0)
    explanations: tuple[Explanation, ...]

    @property
    def value_minor(self) -> int:
        """The refund, the credit principal or the exchange value."""
        return max(self.paid_minor - self.fees_minor - self.deduction_minor, 0)

    @property
    def amount_minor(self) -> int:
        return self.value_minor + self.bonus_minor


def _share(minor: int, units: int, quantity: int, *, up: bool = False) -> int:
    """``minor`` scaled to ``units`` of ``quantity``: down for what is given, up for what is
    kept back, so settling a line in pieces never gives more than settling it whole."""
    if up:
        return -(-minor * units // quantity)
    return minor * units // quantity


def _deduction(
    line: LineState, quoted: LineQuote, units: int, rules: Refunds, currency: str
) -> tuple[int, Explanation | None]:
    if FAULT[line.reason] is not Fault.CUSTOMER or line.grade is None:
        return 0, None
    percent = rules.damage_deduction_percent.get(line.grade)
    if not percent:
        return 0, None
    whole = percent_of(quoted.goods_minor + quoted.tax_minor, percent)
    kept = _share(whole, units, line.quantity, up=True)
    if kept == 0:
        return 0, None
    grade = line.grade.value.replace("_", " ")
    text = (
        f"{percent.normalize():f}% ({money(kept, currency)}) kept back: "
        f"the item came back damaged (graded {grade})."
    )
    return kept, Explanation("damage_deduction", text)


def settle_lines(
    quote: Quote, lines: Sequence[tuple[LineState, int]], rules: Refunds
) -> tuple[LineSettlement, ...]:
    """What each line gives back for the given units, from the quote made under the return's
    recorded policy. Full units give the quote's own numbers; fewer give a floor-rounded share."""
    by_ref = {quoted.line_ref: quoted for quoted in quote.lines}
    currency = quote.currency
    settled = []
    for line, units in lines:
        quoted = by_ref.get(line.line_ref)
        if quoted is None:
            raise ValueError(f"the quote has no line {line.line_ref!r}")
        if not 0 < units <= line.quantity:
            raise ValueError(f"{units} units of line {line.line_ref!r} asked for {line.quantity}")
        resolution = (
            Resolution.REFUND if line.resolution is Resolution.KEEP_ITEM else line.resolution
        )
        notes = []
        if units < line.quantity:
            notes.append(
                Explanation(
                    "partial_units",
                    f"{units} of {line.quantity} received: {VERB[resolution]} for {units}.",
                )
            )
        paid = _share(quoted.paid_minor, units, line.quantity)
        # Fees are whatever separates the paid share from the net share, so they scale up.
        net = _share(quoted.paid_minor - quoted.fees_minor, units, line.quantity)
        fees = paid - net
        if fees:
            notes.append(Explanation("fees", f"{money(fees, currency)} in fees comes off."))
        deduction, note = _deduction(line, quoted, units, rules, currency)
        if note is not None:
            notes.append(note)
        bonus = _share(quoted.bonus_minor, units, line.quantity) if net > deduction else 0
        if bonus:
            notes.append(
                Explanation("credit_bonus", f"{money(bonus, currency)} bonus store credit.")
            )
        settled.append(
            LineSettlement(
                line.line_ref, resolution, units, paid, fees, deduction, bonus, tuple(notes)
            )
        )
    return tuple(settled)


@dataclass(frozen=True, slots=True)
class PaymentRoom:
    payment_id: int
    position: int
    room_minor: int  # captured − refunded


def split_refund(amount_minor: int, payments: Sequence[PaymentRoom]) -> list[tuple[int, int]]:
    """``[(payment_id, part)]``: the refund taken from payments in position order, each up to
    what is left of its capture."""
    if amount_minor <= 0:
        raise ValidationFailed("A refund must be more than zero.", amount_minor=amount_minor)
    rooms = sorted(payments, key=lambda payment: payment.position)
    available = sum(max(payment.room_minor, 0) for payment in rooms)
    if available < amount_minor:
        raise AmountExceeded(
            "The refund is more than the order's payments have left to refund.",
            amount_minor=amount_minor,
            available_minor=available,
        )
    parts = []
    left = amount_minor
    for payment in rooms:
        part = min(max(payment.room_minor, 0), left)
        if part > 0:
            parts.append((payment.payment_id, part))
            left -= part
        if left == 0:
            break
    return parts


def needs_second_approval(amount_minor: int, currency: str, rules: Refunds) -> bool:
    return amount_minor > to_minor(rules.second_approval_above, currency)


def order_total(
    lines: Sequence[tuple[int, int, int, int]], shipping_minor: int, discount_minor: int
) -> int:
    """What the shopper paid: ``lines`` are (unit_price_minor, quantity, discount_minor,
    tax_minor)."""
    goods = sum(unit * quantity - discount + tax for unit, quantity, discount, tax in lines)
    return goods - discount_minor + shipping_minor
