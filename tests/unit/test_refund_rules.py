"""The money rules: when a line is due, what it gives back, how a refund splits over payments."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reclaim.errors import AmountExceeded, ValidationFailed
from reclaim.policy.facts import Ask, Item, OrderFacts
from reclaim.policy.pricing import Quote, quote
from reclaim.policy.schema import Fees, Policy, Refunds, RefundTiming, StoreCredit
from reclaim.refunds.rules import (
    LineState,
    PaymentRoom,
    effective_timing,
    needs_second_approval,
    not_due_reason,
    order_total,
    settle_lines,
    split_refund,
    units_due,
)
from reclaim.returns.states import SHOPPER_METHODS, Grade, Method, Reason, Resolution

SETTINGS = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
DAMAGE = Refunds(
    damage_deduction_percent={Grade.ACCEPTABLE: Decimal(20), Grade.UNSELLABLE: Decimal(100)}
)


def line(
    *,
    ref: str = "L1",
    quantity: int = 3,
    received: int = 0,
    grade: Grade | None = None,
    reason: Reason = Reason.NO_LONGER_NEEDED,
    resolution: Resolution = Resolution.REFUND,
    settled: bool = False,
) -> LineState:
    return LineState(ref, quantity, received, grade, reason, resolution, settled)


def item(ref: str = "L1", *, quantity: int = 3, paid: int = 6_000, tax: int = 0) -> Item:
    return Item(ref, f"SKU-{ref}", f"Item {ref}", "apparel", True, quantity, 0, paid, paid, tax)


def order(*items: Item, shipping: int = 0, currency: str = "USD") -> OrderFacts:
    return OrderFacts(currency, None, "standard", 0, shipping, items)


def priced(policy: Policy, facts: OrderFacts, *asks: Ask) -> Quote:
    return quote(policy, facts, asks, Method.PREPAID_LABEL, SHOPPER_METHODS)


PLAIN = Policy(name="Plain")


# Timing ------------------------------------------------------------------------------------


def test_a_returnless_return_is_due_immediately_even_when_risky() -> None:
    timing = effective_timing(RefundTiming.AT_RECEIPT, returnless=True, risky=True)

    assert timing is RefundTiming.IMMEDIATELY


def test_a_risky_return_waits_for_inspection_whatever_the_policy_says() -> None:
    timing = effective_timing(RefundTiming.AT_FIRST_SCAN, returnless=False, risky=True)

    assert timing is RefundTiming.AFTER_INSPECTION


def test_an_ordinary_return_keeps_its_recorded_timing() -> None:
    timing = effective_timing(RefundTiming.AT_RECEIPT, returnless=False, risky=False)

    assert timing is RefundTiming.AT_RECEIPT


def test_a_settled_line_is_never_due_again() -> None:
    for timing in RefundTiming:
        done = line(received=3, grade=Grade.NEW, settled=True)
        assert units_due(timing, done, scanned=True, completing=True) == 0


def test_immediately_settles_every_unit_asked() -> None:
    assert units_due(RefundTiming.IMMEDIATELY, line(), scanned=False) == 3


def test_at_first_scan_is_due_once_scanned_or_anything_arrived() -> None:
    timing = RefundTiming.AT_FIRST_SCAN

    assert units_due(timing, line(), scanned=False) == 0
    assert units_due(timing, line(), scanned=True) == 3
    assert units_due(timing, line(received=1), scanned=False) == 3


def test_at_receipt_waits_for_every_unit_unless_the_return_is_completing() -> None:
    timing = RefundTiming.AT_RECEIPT

    assert units_due(timing, line(received=2), scanned=True) == 0
    assert units_due(timing, line(received=3), scanned=True) == 3
    assert units_due(timing, line(received=2), scanned=True, completing=True) == 2
    assert units_due(timing, line(received=0), scanned=True, completing=True) == 0


def test_after_inspection_waits_for_a_grade_unless_the_return_is_completing() -> None:
    timing = RefundTiming.AFTER_INSPECTION

    assert units_due(timing, line(received=3), scanned=True) == 0
    assert units_due(timing, line(received=2, grade=Grade.GOOD), scanned=True) == 2
    assert units_due(timing, line(received=1), scanned=True, completing=True) == 1
    assert units_due(timing, line(), scanned=True, completing=True) == 0


def test_not_due_reasons_say_what_the_line_waits_for() -> None:
    waiting = line(ref="2", received=1)

    at_receipt = not_due_reason(RefundTiming.AT_RECEIPT, waiting, scanned=True)
    at_scan = not_due_reason(RefundTiming.AT_FIRST_SCAN, line(ref="2"), scanned=False)
    inspected = not_due_reason(RefundTiming.AFTER_INSPECTION, waiting, scanned=True)
    settled = not_due_reason(RefundTiming.AT_RECEIPT, replace(waiting, settled=True), scanned=True)

    assert at_receipt == (
        "Line '2' is refunded once it is received (at receipt): 1 of 3 received so far."
    )
    assert (
        at_scan == "Line '2' is refunded once the carrier first scans the parcel (at first scan)."
    )
    assert inspected == "Line '2' is refunded once it is inspected (after inspection)."
    assert settled == "Line '2' has already been refunded."


def test_not_due_reasons_name_the_resolution() -> None:
    credit = line(ref="A", resolution=Resolution.STORE_CREDIT)

    text = not_due_reason(RefundTiming.AFTER_INSPECTION, credit, scanned=False)

    assert text == "Line 'A' is credited once it is received and inspected (after inspection)."


# Amounts -----------------------------------------------------------------------------------


def test_full_units_give_exactly_what_the_quote_said() -> None:
    policy = Policy(name="Fees", fees=Fees(restocking_percent=Decimal(10)))
    facts = order(item(paid=6_000, tax=600))
    ask = Ask("L1", 3, Reason.NO_LONGER_NEEDED, Resolution.REFUND, opened=True)
    preview = priced(policy, facts, ask)

    (settled,) = settle_lines(preview, [(line(received=3, grade=Grade.NEW), 3)], Refunds())

    (quoted,) = preview.lines
    assert settled.paid_minor == quoted.paid_minor == 6_600
    assert settled.fees_minor == quoted.fees_minor == 600
    assert settled.value_minor == settled.amount_minor == quoted.amount_minor == 6_000
    assert settled.deduction_minor == 0
    assert settled.explanations[0].text == "6.00 USD in fees comes off."


def test_fewer_units_give_a_floor_rounded_share_and_say_so() -> None:
    facts = order(item(paid=1_000, quantity=3))
    preview = priced(PLAIN, facts, Ask("L1", 3, Reason.NO_LONGER_NEEDED, Resolution.REFUND))

    (settled,) = settle_lines(preview, [(line(received=2), 2)], Refunds())

    assert settled.units == 2
    assert settled.value_minor == 666
    assert [note.text for note in settled.explanations] == ["2 of 3 received: refunded for 2."]


def test_customer_caused_damage_keeps_back_the_graded_percent() -> None:
    facts = order(item(paid=6_000, quantity=1))
    preview = priced(PLAIN, facts, Ask("L1", 1, Reason.TOO_SMALL, Resolution.REFUND))
    damaged = line(quantity=1, received=1, grade=Grade.ACCEPTABLE, reason=Reason.TOO_SMALL)

    (settled,) = settle_lines(preview, [(damaged, 1)], DAMAGE)

    assert settled.deduction_minor == 1_200
    assert settled.value_minor == 4_800
    assert [note.code for note in settled.explanations] == ["damage_deduction"]
    assert settled.explanations[0].text == (
        "20% (12.00 USD) kept back: the item came back damaged (graded acceptable)."
    )


def test_damage_is_not_deducted_when_we_or_the_carrier_were_at_fault() -> None:
    facts = order(item(paid=6_000, quantity=1))
    for reason in (Reason.DEFECTIVE, Reason.DAMAGED_IN_TRANSIT):
        preview = priced(PLAIN, facts, Ask("L1", 1, reason, Resolution.REFUND))
        graded = line(quantity=1, received=1, grade=Grade.UNSELLABLE, reason=reason)

        (settled,) = settle_lines(preview, [(graded, 1)], DAMAGE)

        assert settled.deduction_minor == 0
        assert settled.value_minor == 6_000


def test_a_grade_without_a_percent_deducts_nothing() -> None:
    facts = order(item(paid=6_000, quantity=1))
    preview = priced(PLAIN, facts, Ask("L1", 1, Reason.TOO_SMALL, Resolution.REFUND))
    graded = line(quantity=1, received=1, grade=Grade.GOOD, reason=Reason.TOO_SMALL)

    (settled,) = settle_lines(preview, [(graded, 1)], DAMAGE)

    assert settled.deduction_minor == 0
    assert settled.explanations == ()


def test_a_worthless_credit_line_earns_no_bonus() -> None:
    policy = Policy(name="Bonus", store_credit=StoreCredit(bonus_percent=Decimal(10)))
    facts = order(item(paid=6_000, quantity=1))
    preview = priced(policy, facts, Ask("L1", 1, Reason.TOO_SMALL, Resolution.STORE_CREDIT))
    ruined = line(
        quantity=1,
        received=1,
        grade=Grade.UNSELLABLE,
        reason=Reason.TOO_SMALL,
        resolution=Resolution.STORE_CREDIT,
    )
    fine = replace(ruined, grade=Grade.NEW)

    (nothing,) = settle_lines(preview, [(ruined, 1)], DAMAGE)
    (credited,) = settle_lines(preview, [(fine, 1)], DAMAGE)

    assert (nothing.value_minor, nothing.bonus_minor, nothing.amount_minor) == (0, 0, 0)
    assert (credited.value_minor, credited.bonus_minor, credited.amount_minor) == (
        6_000,
        600,
        6_600,
    )


def test_a_kept_item_is_settled_as_a_refund() -> None:
    facts = order(item(paid=2_000, quantity=1))
    preview = priced(PLAIN, facts, Ask("L1", 1, Reason.DEFECTIVE, Resolution.REFUND))
    kept = line(quantity=1, reason=Reason.DEFECTIVE, resolution=Resolution.KEEP_ITEM)

    (settled,) = settle_lines(preview, [(kept, 1)], Refunds())

    assert settled.resolution is Resolution.REFUND
    assert settled.value_minor == 2_000


def test_settling_a_line_the_quote_lacks_or_too_many_units_is_a_programming_error() -> None:
    preview = priced(PLAIN, order(item()), Ask("L1", 3, Reason.TOO_SMALL, Resolution.REFUND))

    with pytest.raises(ValueError, match="no line"):
        settle_lines(preview, [(line(ref="L2"), 1)], Refunds())
    with pytest.raises(ValueError, match="units"):
        settle_lines(preview, [(line(), 4)], Refunds())
    with pytest.raises(ValueError, match="units"):
        settle_lines(preview, [(line(), 0)], Refunds())


# Payments, approval, totals ----------------------------------------------------------------


def test_a_refund_takes_from_payments_in_position_order() -> None:
    card, gift = PaymentRoom(7, 1, 5_000), PaymentRoom(9, 2, 2_000)

    assert split_refund(3_000, [gift, card]) == [(7, 3_000)]
    assert split_refund(6_000, [gift, card]) == [(7, 5_000), (9, 1_000)]
    assert split_refund(7_000, [card, gift]) == [(7, 5_000), (9, 2_000)]


def test_a_used_up_payment_is_skipped() -> None:
    rooms = [PaymentRoom(1, 1, 0), PaymentRoom(2, 2, 500)]

    assert split_refund(500, rooms) == [(2, 500)]


def test_a_refund_beyond_what_the_payments_have_left_is_refused() -> None:
    rooms = [PaymentRoom(1, 1, 100), PaymentRoom(2, 2, 50)]

    with pytest.raises(AmountExceeded):
        split_refund(151, rooms)
    with pytest.raises(AmountExceeded):
        split_refund(1, [])


@pytest.mark.parametrize("amount", [0, -1])
def test_a_refund_of_nothing_or_less_is_refused(amount: int) -> None:
    with pytest.raises(ValidationFailed):
        split_refund(amount, [PaymentRoom(1, 1, 100)])


def test_only_amounts_above_the_threshold_need_a_second_approval() -> None:
    rules = Refunds(second_approval_above=Decimal("100.00"))

    assert not needs_second_approval(10_000, "USD", rules)
    assert needs_second_approval(10_001, "USD", rules)
    assert not needs_second_approval(100, "JPY", rules)
    assert needs_second_approval(101, "JPY", rules)


def test_the_order_total_is_lines_less_discounts_plus_tax_and_shipping() -> None:
    lines = [(1_000, 2, 100, 190), (500, 1, 0, 50)]

    assert order_total(lines, 495, 200) == 2_000 - 100 + 190 + 500 + 50 + 495 - 200
    assert order_total([], 0, 0) == 0


# Properties --------------------------------------------------------------------------------

CURRENCIES = ("USD", "JPY", "KWD")
percents = st.decimals(min_value=0, max_value=100, places=1)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    return Policy(
        name="Drawn",
        fees=Fees(
            restocking_percent=draw(percents),
            label_fee=draw(st.decimals(min_value=0, max_value=50, places=2)),
        ),
        store_credit=StoreCredit(
            bonus_percent=draw(percents),
            bonus_cap=draw(st.none() | st.decimals(min_value=0, max_value=50, places=2)),
        ),
    )


@st.composite
def orders(draw: st.DrawFn) -> OrderFacts:
    items = []
    for number in range(1, draw(st.integers(1, 4)) + 1):
        quantity = draw(st.integers(1, 6))
        listed = draw(st.integers(0, 500_000))
        paid = draw(st.integers(0, listed))
        tax = draw(st.integers(0, paid // 4))
        items.append(
            Item(f"L{number}", "SKU", "Item", "apparel", True, quantity, 0, listed, paid, tax)
        )
    return order(
        *items,
        shipping=draw(st.integers(0, 5_000)),
        currency=draw(st.sampled_from(CURRENCIES)),
    )


@st.composite
def returns(draw: st.DrawFn) -> tuple[Policy, OrderFacts, list[LineState], Quote]:
    """A policy, an order, one return line per order line, and the quote for them."""
    policy, facts = draw(policies()), draw(orders())
    states = [
        LineState(
            it.line_ref,
            draw(st.integers(1, it.quantity)),
            0,
            None,
            draw(st.sampled_from(Reason)),
            draw(st.sampled_from(Resolution)),
            False,
        )
        for it in facts.items
    ]
    asks = [
        Ask(
            state.line_ref,
            state.quantity,
            state.reason,
            Resolution.REFUND if state.resolution is Resolution.KEEP_ITEM else state.resolution,
            draw(st.booleans()),
        )
        for state in states
    ]
    method = draw(st.none() | st.sampled_from(sorted(Method)))
    return policy, facts, states, quote(policy, facts, asks, method, SHOPPER_METHODS)


deductions = st.dictionaries(st.sampled_from(Grade), percents).map(
    lambda table: Refunds(damage_deduction_percent=table)
)


@SETTINGS
@given(drawn=returns())
def test_full_units_without_a_grade_settle_at_exactly_the_quoted_amounts(
    drawn: tuple[Policy, OrderFacts, list[LineState], Quote],
) -> None:
    _, _, states, preview = drawn

    settled = settle_lines(preview, [(state, state.quantity) for state in states], DAMAGE)

    for quoted, result in zip(preview.lines, settled, strict=True):
        assert result.line_ref == quoted.line_ref
        assert result.paid_minor == quoted.paid_minor
        assert result.fees_minor == quoted.fees_minor
        assert result.bonus_minor == quoted.bonus_minor
        assert result.amount_minor == quoted.amount_minor


@SETTINGS
@given(drawn=returns(), rules=deductions, data=st.data())
def test_a_settled_value_is_never_negative_nor_above_what_was_paid(
    drawn: tuple[Policy, OrderFacts, list[LineState], Quote], rules: Refunds, data: st.DataObject
) -> None:
    _, _, states, preview = drawn
    picked = [
        (
            replace(state, grade=data.draw(st.none() | st.sampled_from(Grade))),
            data.draw(st.integers(1, state.quantity)),
        )
        for state in states
    ]

    for quoted, result in zip(preview.lines, settle_lines(preview, picked, rules), strict=True):
        assert 0 <= result.value_minor <= result.paid_minor <= quoted.paid_minor
        assert result.fees_minor >= 0
        assert result.deduction_minor >= 0
        assert 0 <= result.bonus_minor <= quoted.bonus_minor
        if result.value_minor == 0:
            assert result.bonus_minor == 0


@SETTINGS
@given(drawn=returns(), rules=deductions, data=st.data())
def test_settling_a_line_in_pieces_never_gives_more_than_settling_it_whole(
    drawn: tuple[Policy, OrderFacts, list[LineState], Quote], rules: Refunds, data: st.DataObject
) -> None:
    _, _, states, preview = drawn
    state = replace(
        data.draw(st.sampled_from(states)), grade=data.draw(st.none() | st.sampled_from(Grade))
    )
    pieces: list[int] = []
    left = state.quantity
    while left:
        pieces.append(data.draw(st.integers(1, left)))
        left -= pieces[-1]

    (whole,) = settle_lines(preview, [(state, state.quantity)], rules)
    parts = settle_lines(preview, [(state, units) for units in pieces], rules)

    assert sum(part.value_minor for part in parts) <= whole.value_minor
    assert sum(part.amount_minor for part in parts) <= whole.amount_minor


rooms = st.lists(
    st.tuples(st.integers(1, 1_000), st.integers(-5, 10_000)), max_size=5, unique_by=lambda r: r[0]
).map(lambda drawn: [PaymentRoom(100 + pos, pos, room) for pos, room in drawn])


@SETTINGS
@given(payments=rooms, amount=st.integers(1, 40_000))
def test_refund_parts_add_up_stay_within_each_room_and_follow_position_order(
    payments: list[PaymentRoom], amount: int
) -> None:
    available = sum(max(payment.room_minor, 0) for payment in payments)
    if amount > available:
        with pytest.raises(AmountExceeded):
            split_refund(amount, payments)
        return

    parts = split_refund(amount, payments)

    by_id = {payment.payment_id: payment for payment in payments}
    assert sum(part for _, part in parts) == amount
    assert all(0 < part <= by_id[pid].room_minor for pid, part in parts)
    positions = [by_id[pid].position for pid, _ in parts]
    assert positions == sorted(positions)
    # An earlier payment is used up before a later one is touched.
    for pid, part in parts[:-1]:
        assert part == by_id[pid].room_minor
    skipped = [
        p for p in payments if p.position < positions[-1] and p.payment_id not in dict(parts)
    ]
    assert all(p.room_minor <= 0 for p in skipped)
