"""What a return gives back: paid amounts, fees and the store-credit bonus, line by line."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from reclaim.policy.facts import Ask, Explanation, Item, OrderFacts, percent_of, to_minor
from reclaim.policy.pricing import Quote, quote
from reclaim.policy.rules import decide
from reclaim.policy.schema import Policy
from reclaim.returns.states import SHOPPER_METHODS, Method, Reason, Resolution

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DELIVERED = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
LABEL_FEE_TEXT = (
    "A {} return shipping fee comes off your refund. Store credit and exchanges return free."
)


def make_policy(**rules: Any) -> Policy:
    return Policy.model_validate({"name": "Test policy", **rules})


def make_item(
    ref: str = "L1",
    *,
    category: str = "apparel",
    quantity: int = 1,
    price: int = 10_000,
    paid: int | None = None,
    tax: int = 0,
) -> Item:
    """An order line; ``price`` is the whole line's list price, ``paid`` defaults to it."""
    return Item(
        line_ref=ref,
        sku=f"SKU-{ref}",
        name=f"Item {ref}",
        category=category,
        returnable=True,
        quantity=quantity,
        held=0,
        list_minor=price,
        paid_minor=price if paid is None else paid,
        tax_minor=tax,
    )


def make_order(*items: Item, shipping: int = 0, currency: str = "EUR") -> OrderFacts:
    return OrderFacts(
        currency=currency,
        delivered_at=DELIVERED,
        tier="standard",
        recent_returns=0,
        shipping_minor=shipping,
        items=items or (make_item(),),
    )


def make_ask(
    ref: str = "L1",
    quantity: int = 1,
    reason: Reason = Reason.NO_LONGER_NEEDED,
    resolution: Resolution = Resolution.REFUND,
    *,
    opened: bool = False,
) -> Ask:
    return Ask(ref, quantity, reason, resolution, opened)


def price(
    policy: Policy,
    order: OrderFacts,
    *asks: Ask,
    method: Method | None = Method.PREPAID_LABEL,
    allowed: frozenset[Method] = SHOPPER_METHODS,
) -> Quote:
    return quote(policy, order, asks or (make_ask(),), method, allowed)


def texts(result: Quote) -> list[str]:
    return [note.text for note in result.explanations]


def kinds(result: Quote) -> list[str]:
    return [fee.kind for fee in result.fees]


# --- what was paid -----------------------------------------------------------------------------


def test_a_refund_gives_back_the_goods_and_tax_paid() -> None:
    result = price(make_policy(), make_order(make_item(price=10_000, tax=2_000)))

    (line,) = result.lines
    assert (line.goods_minor, line.tax_minor, line.shipping_minor) == (10_000, 2_000, 0)
    assert result.refund_minor == 12_000
    assert result.paid_minor == 12_000
    assert result.fees == ()
    assert result.explanations == ()


def test_returning_some_units_gives_back_their_share_rounded_down() -> None:
    order = make_order(make_item(quantity=3, price=1_000, tax=200))

    result = price(make_policy(), order, make_ask(quantity=1))

    assert (result.lines[0].goods_minor, result.lines[0].tax_minor) == (333, 66)


def test_an_order_discount_is_already_in_what_the_line_paid() -> None:
    order = make_order(make_item(price=10_000, paid=8_000, tax=1_600))

    result = price(make_policy(), order)

    assert result.refund_minor == 9_600


def test_store_credit_and_exchange_lines_are_totalled_apart_from_refunds() -> None:
    order = make_order(make_item("L1"), make_item("L2", price=3_000), make_item("L3", price=700))
    asks = (
        make_ask("L1"),
        make_ask("L2", resolution=Resolution.STORE_CREDIT),
        make_ask("L3", resolution=Resolution.EXCHANGE),
    )

    result = price(make_policy(), order, *asks)

    assert (result.refund_minor, result.store_credit_minor, result.exchange_minor) == (
        10_000,
        3_000,
        700,
    )
    assert result.summary() == (
        "You get 100.00 EUR back to your payment and 30.00 EUR in store credit "
        "and 7.00 EUR toward your exchange."
    )


def test_a_quote_for_a_line_the_order_does_not_have_prices_nothing() -> None:
    result = price(make_policy(), make_order(), make_ask("L9"))

    assert result.lines == ()
    assert result.summary() == "You get nothing back."


# --- restocking fee ----------------------------------------------------------------------------


RESTOCKING = {"restocking_percent": 15, "restocking_categories": ["electronics"]}


def test_an_opened_item_returned_for_a_refund_after_a_change_of_mind_pays_restocking() -> None:
    order = make_order(make_item(category="electronics", price=20_000, tax=4_000))

    result = price(make_policy(fees=RESTOCKING), order, make_ask(opened=True))

    text = (
        "A 15% restocking fee (30.00 EUR) applies to opened items returned for a refund. "
        "Store credit or an exchange avoids it."
    )
    assert result.fees[0].kind == "restocking"
    assert result.fees[0].amount_minor == 3_000
    assert result.lines[0].fees_minor == 3_000
    assert result.refund_minor == 21_000
    assert Explanation("restocking_fee", text) in result.explanations


def test_restocking_is_a_share_of_the_goods_not_of_the_tax() -> None:
    order = make_order(make_item(category="electronics", price=10_000, tax=9_000))

    result = price(make_policy(fees=RESTOCKING), order, make_ask(opened=True))

    assert result.fees_minor == 1_500


def test_an_unopened_item_pays_no_restocking() -> None:
    order = make_order(make_item(category="electronics"))

    assert price(make_policy(fees=RESTOCKING), order, make_ask(opened=False)).fees == ()


def test_a_faulty_opened_item_pays_no_restocking() -> None:
    order = make_order(make_item(category="electronics"))
    ask = make_ask(reason=Reason.DEFECTIVE, opened=True)

    assert price(make_policy(fees=RESTOCKING), order, ask).fees == ()


def test_an_opened_item_damaged_in_transit_pays_no_restocking() -> None:
    order = make_order(make_item(category="electronics"))
    ask = make_ask(reason=Reason.DAMAGED_IN_TRANSIT, opened=True)

    assert price(make_policy(fees=RESTOCKING), order, ask).fees == ()


@pytest.mark.parametrize("resolution", [Resolution.STORE_CREDIT, Resolution.EXCHANGE])
def test_an_opened_item_taken_as_credit_or_exchange_pays_no_restocking(
    resolution: Resolution,
) -> None:
    order = make_order(make_item(category="electronics"))
    ask = make_ask(resolution=resolution, opened=True)

    assert price(make_policy(fees=RESTOCKING), order, ask).fees == ()


def test_an_opened_item_outside_the_restocking_categories_pays_no_restocking() -> None:
    order = make_order(make_item(category="apparel"))

    assert price(make_policy(fees=RESTOCKING), order, make_ask(opened=True)).fees == ()


def test_restocking_without_categories_applies_to_every_category() -> None:
    order = make_order(make_item(category="apparel", price=10_000))
    policy = make_policy(fees={"restocking_percent": "12.5"})

    result = price(policy, order, make_ask(opened=True))

    assert result.fees_minor == 1_250
    assert result.fees[0].text.startswith("A 12.5% restocking fee (12.50 EUR) applies")


def test_restocking_is_charged_per_opened_line() -> None:
    order = make_order(
        make_item("L1", category="electronics", price=10_000),
        make_item("L2", category="electronics", price=20_000),
        make_item("L3", category="electronics", price=40_000),
    )
    asks = (make_ask("L1", opened=True), make_ask("L2", opened=True), make_ask("L3"))

    result = price(make_policy(fees=RESTOCKING), order, *asks)

    assert [line.fees_minor for line in result.lines] == [1_500, 3_000, 0]
    assert kinds(result) == ["restocking", "restocking"]


# --- label fee ---------------------------------------------------------------------------------


LABEL = {"label_fee": "4.95"}


def test_a_change_of_mind_refund_pays_the_label_fee() -> None:
    result = price(make_policy(fees=LABEL), make_order())

    assert kinds(result) == ["label"]
    assert result.fees_minor == 495
    assert result.refund_minor == 10_000 - 495
    assert texts(result) == [LABEL_FEE_TEXT.format("4.95 EUR")]


def test_the_label_fee_is_charged_once_per_return_and_spread_over_the_refunded_lines() -> None:
    order = make_order(make_item("L1", price=3_000), make_item("L2", price=1_000))

    result = price(make_policy(fees=LABEL), order, make_ask("L1"), make_ask("L2"))

    assert kinds(result) == ["label"]
    assert result.fees_minor == 495
    assert [line.fees_minor for line in result.lines] == [371, 124]
    assert sum(line.fees_minor for line in result.lines) == 495


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        (Reason.DAMAGED_IN_TRANSIT, "Free return because the item arrived damaged."),
        (Reason.ARRIVED_TOO_LATE, "Free return because the item arrived late."),
        (Reason.WRONG_ITEM, "Free return because we sent the wrong item."),
        (Reason.DEFECTIVE, "Free return because the item is faulty."),
        (Reason.MISSING_PARTS, "Free return because parts were missing."),
        (Reason.NOT_AS_DESCRIBED, "Free return because the item wasn't as it should be."),
        (Reason.QUALITY_NOT_AS_EXPECTED, "Free return because the item wasn't as it should be."),
    ],
)
def test_the_label_fee_is_waived_when_the_merchant_or_carrier_is_at_fault(
    reason: Reason, text: str
) -> None:
    result = price(make_policy(fees=LABEL), make_order(), make_ask(reason=reason))

    assert result.fees == ()
    assert result.explanations[0] == Explanation("free_return", text)


def test_one_faulty_line_makes_the_whole_parcel_free() -> None:
    order = make_order(make_item("L1"), make_item("L2"))
    asks = (make_ask("L1"), make_ask("L2", reason=Reason.WRONG_ITEM))

    result = price(make_policy(fees=LABEL), order, *asks)

    assert result.fees == ()
    assert texts(result) == ["Free return because we sent the wrong item."]


def test_the_label_fee_is_waived_when_every_line_takes_store_credit_or_exchange() -> None:
    order = make_order(make_item("L1"), make_item("L2"))
    asks = (
        make_ask("L1", resolution=Resolution.STORE_CREDIT),
        make_ask("L2", resolution=Resolution.EXCHANGE),
    )

    result = price(make_policy(fees=LABEL), order, *asks)

    assert result.fees == ()
    assert result.explanations == (
        Explanation("free_with_credit", "Free return when you choose store credit or an exchange."),
    )


def test_the_label_fee_falls_only_on_the_refunded_lines_of_a_mixed_return() -> None:
    order = make_order(make_item("L1"), make_item("L2"))
    asks = (make_ask("L1"), make_ask("L2", resolution=Resolution.STORE_CREDIT))

    result = price(make_policy(fees=LABEL), order, *asks)

    assert [line.fees_minor for line in result.lines] == [495, 0]
    assert result.store_credit_minor == 10_000


def test_the_label_fee_is_waived_for_a_method_outside_the_label_fee_methods() -> None:
    result = price(make_policy(fees=LABEL), make_order(), method=Method.IN_STORE)

    assert result.fees == ()
    assert result.explanations == (
        Explanation("free_method", "Free return when you bring it to a store."),
    )


def test_the_label_fee_methods_can_be_chosen_by_the_merchant() -> None:
    policy = make_policy(fees=LABEL | {"label_fee_methods": ["scheduled_pickup"]})

    locker = price(policy, make_order(), method=Method.LOCKER)
    pickup = price(policy, make_order(), method=Method.SCHEDULED_PICKUP)

    assert texts(locker) == ["Free return at a parcel locker."]
    assert pickup.fees_minor == 495


def test_before_a_method_is_chosen_the_fee_is_priced_and_the_free_way_is_named() -> None:
    result = price(make_policy(fees=LABEL), make_order(), method=None)

    assert result.fees_minor == 495
    assert texts(result) == [
        "Free return when you bring it to a store.",
        LABEL_FEE_TEXT.format("4.95 EUR"),
    ]


def test_before_a_method_is_chosen_no_free_way_is_named_when_none_is_offered() -> None:
    allowed = frozenset({Method.PREPAID_LABEL, Method.LOCKER})

    result = price(make_policy(fees=LABEL), make_order(), method=None, allowed=allowed)

    assert texts(result) == [LABEL_FEE_TEXT.format("4.95 EUR")]


def test_the_label_fee_is_never_more_than_the_refund() -> None:
    order = make_order(make_item(price=300))

    result = price(make_policy(fees=LABEL), order)

    assert result.fees_minor == 300
    assert result.refund_minor == 0
    assert texts(result) == [LABEL_FEE_TEXT.format("3.00 EUR")]


def test_the_label_fee_comes_after_restocking_and_never_takes_a_line_below_zero() -> None:
    order = make_order(make_item(category="electronics", price=500))
    policy = make_policy(fees=RESTOCKING | LABEL | {"restocking_percent": 90})

    result = price(policy, order, make_ask(opened=True))

    assert [(fee.kind, fee.amount_minor) for fee in result.fees] == [
        ("restocking", 450),
        ("label", 50),
    ]
    assert result.refund_minor == 0


def test_a_free_item_pays_no_label_fee() -> None:
    result = price(make_policy(fees=LABEL), make_order(make_item(price=0)))

    assert result.fees == ()
    assert result.refund_minor == 0


def test_a_kept_item_pays_no_label_fee() -> None:
    result = price(make_policy(fees=LABEL), make_order(), method=Method.KEEP_ITEM)

    assert result.fees == ()
    assert result.explanations == ()


def test_without_a_label_fee_nothing_is_said_about_one() -> None:
    assert price(make_policy(), make_order(), method=None).explanations == ()


# --- store-credit bonus ------------------------------------------------------------------------


BONUS = {"bonus_percent": 10, "bonus_cap": "25.00"}


def test_store_credit_earns_the_bonus_percent_on_goods_and_tax() -> None:
    order = make_order(make_item(price=8_000, tax=2_000))
    ask = make_ask(resolution=Resolution.STORE_CREDIT)

    result = price(make_policy(store_credit=BONUS), order, ask)

    assert result.bonus_minor == 1_000
    assert result.lines[0].amount_minor == 11_000
    assert result.store_credit_minor == 11_000
    assert texts(result)[-1] == "Store credit comes with 10.00 EUR extra (10% bonus)."


def test_the_store_credit_bonus_is_capped_per_return_and_spread_by_value() -> None:
    order = make_order(make_item("L1", price=20_000), make_item("L2", price=10_000))
    asks = (
        make_ask("L1", resolution=Resolution.STORE_CREDIT),
        make_ask("L2", resolution=Resolution.STORE_CREDIT),
    )

    result = price(make_policy(store_credit=BONUS), order, *asks)

    assert [line.bonus_minor for line in result.lines] == [1_667, 833]
    assert result.bonus_minor == 2_500
    assert texts(result)[-1] == "Store credit comes with 25.00 EUR extra (10% bonus)."


def test_a_bonus_under_the_cap_is_not_touched_by_it() -> None:
    order = make_order(make_item(price=24_000))
    ask = make_ask(resolution=Resolution.STORE_CREDIT)

    assert price(make_policy(store_credit=BONUS), order, ask).bonus_minor == 2_400


def test_a_bonus_without_a_cap_has_no_limit() -> None:
    order = make_order(make_item(price=1_000_000))
    ask = make_ask(resolution=Resolution.STORE_CREDIT)

    result = price(make_policy(store_credit={"bonus_percent": 10}), order, ask)

    assert result.bonus_minor == 100_000


@pytest.mark.parametrize("resolution", [Resolution.REFUND, Resolution.EXCHANGE])
def test_only_store_credit_earns_a_bonus(resolution: Resolution) -> None:
    result = price(make_policy(store_credit=BONUS), make_order(), make_ask(resolution=resolution))

    assert result.bonus_minor == 0
    assert not any(note.code == "credit_bonus" for note in result.explanations)


def test_the_bonus_does_not_count_refunded_shipping() -> None:
    order = make_order(make_item(price=10_000), shipping=1_000)
    ask = make_ask(reason=Reason.DEFECTIVE, resolution=Resolution.STORE_CREDIT)

    result = price(make_policy(store_credit={"bonus_percent": 10}), order, ask)

    assert result.lines[0].shipping_minor == 1_000
    assert result.bonus_minor == 1_000


def test_a_zero_cap_gives_no_bonus_and_says_nothing() -> None:
    order = make_order()
    ask = make_ask(resolution=Resolution.STORE_CREDIT)

    result = price(make_policy(store_credit={"bonus_percent": 10, "bonus_cap": "0"}), order, ask)

    assert result.bonus_minor == 0
    assert result.explanations == ()


# --- original shipping -------------------------------------------------------------------------


def test_original_shipping_is_refunded_in_proportion_when_the_merchant_is_at_fault() -> None:
    order = make_order(make_item("L1", price=10_000), make_item("L2", price=5_000), shipping=600)

    result = price(make_policy(), order, make_ask("L1", reason=Reason.DEFECTIVE))

    assert result.lines[0].shipping_minor == 400
    assert result.refund_minor == 10_400
    assert texts(result) == ["Your original shipping is refunded too."]


def test_original_shipping_is_refunded_when_the_carrier_is_at_fault() -> None:
    order = make_order(shipping=495)

    result = price(make_policy(), order, make_ask(reason=Reason.ARRIVED_TOO_LATE))

    assert result.lines[0].shipping_minor == 495


def test_original_shipping_is_kept_after_a_change_of_mind() -> None:
    result = price(make_policy(), make_order(shipping=495), make_ask())

    assert result.lines[0].shipping_minor == 0
    assert result.explanations == ()


def test_only_the_faulty_lines_get_a_shipping_share() -> None:
    order = make_order(make_item("L1"), make_item("L2"), shipping=1_000)
    asks = (make_ask("L1", reason=Reason.WRONG_ITEM), make_ask("L2"))

    result = price(make_policy(), order, *asks)

    assert [line.shipping_minor for line in result.lines] == [500, 0]


def test_shipping_on_an_order_of_free_goods_is_not_refunded_by_share() -> None:
    order = make_order(make_item(price=0), shipping=495)

    result = price(make_policy(), order, make_ask(reason=Reason.DEFECTIVE))

    assert result.lines[0].shipping_minor == 0


# --- currencies --------------------------------------------------------------------------------


def test_a_currency_without_minor_units_charges_whole_yen() -> None:
    policy = make_policy(fees={"label_fee": "500"}, store_credit={"bonus_percent": 10})
    order = make_order(make_item("L1", price=3_000), make_item("L2", price=1_234), currency="JPY")
    asks = (make_ask("L1"), make_ask("L2", resolution=Resolution.STORE_CREDIT))

    result = price(policy, order, *asks)

    assert result.fees_minor == 500
    assert result.refund_minor == 2_500
    assert result.bonus_minor == 123
    assert texts(result) == [
        LABEL_FEE_TEXT.format("500 JPY"),
        "Store credit comes with 123 JPY extra (10% bonus).",
    ]


def test_a_fee_with_cents_rounds_to_whole_yen() -> None:
    order = make_order(make_item(price=3_000), currency="JPY")

    result = price(make_policy(fees={"label_fee": "4.95"}), order)

    assert result.fees_minor == 5


def test_a_currency_with_three_minor_digits_charges_in_fils() -> None:
    policy = make_policy(fees={"label_fee": "1.250"}, store_credit=BONUS)
    order = make_order(
        make_item("L1", price=12_500), make_item("L2", price=400_000), currency="KWD"
    )
    asks = (make_ask("L1"), make_ask("L2", resolution=Resolution.STORE_CREDIT))

    result = price(policy, order, *asks)

    assert result.fees_minor == 1_250
    assert result.refund_minor == 11_250
    # 10% of 400.000 KWD is 40.000, capped at 25.000.
    assert result.bonus_minor == 25_000
    assert texts(result) == [
        LABEL_FEE_TEXT.format("1.250 KWD"),
        "Store credit comes with 25.000 KWD extra (10% bonus).",
    ]


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("4.95", "EUR", 495),
        ("4.95", "JPY", 5),
        ("4.49", "JPY", 4),
        ("4.95", "KWD", 4_950),
        ("0.0005", "KWD", 1),
        ("0.005", "EUR", 1),
        ("0", "USD", 0),
    ],
)
def test_a_policy_amount_becomes_minor_units_of_the_order_currency(
    amount: str, currency: str, minor: int
) -> None:
    assert to_minor(Decimal(amount), currency) == minor


@pytest.mark.parametrize(
    ("minor", "percent", "share"),
    [(1_000, "15", 150), (5, "10", 1), (4, "10", 0), (999, "100", 999), (999, "0", 0)],
)
def test_a_percentage_of_an_amount_rounds_half_up_to_a_minor_unit(
    minor: int, percent: str, share: int
) -> None:
    assert percent_of(minor, Decimal(percent)) == share


# --- through decide ----------------------------------------------------------------------------


def test_the_decision_prices_with_the_policy_and_the_chosen_method() -> None:
    policy = make_policy(fees=LABEL | RESTOCKING, store_credit=BONUS)
    order = make_order(
        make_item("L1", category="electronics", price=20_000, tax=4_000),
        make_item("L2", price=5_000, tax=1_000),
    )
    asks = [
        make_ask("L1", opened=True),
        make_ask("L2", resolution=Resolution.STORE_CREDIT),
    ]

    decision = decide(policy, order, asks, Method.PREPAID_LABEL, NOW)

    assert decision.quote is not None
    record = decision.quote.record()
    assert record["paid_minor"] == 30_000
    assert record["refund_minor"] == 24_000 - 3_000 - 495
    assert record["store_credit_minor"] == 6_000 + 600
    assert record["bonus_minor"] == 600
    assert [fee["kind"] for fee in record["fees"]] == ["restocking", "label"]
    assert [line["amount_minor"] for line in record["lines"]] == [20_505, 6_600]
    assert decision.quote.summary() == (
        "You get 205.05 EUR back to your payment and 66.00 EUR in store credit."
    )
