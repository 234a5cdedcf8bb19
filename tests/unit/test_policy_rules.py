"""The policy's decisions, one rule at a time, in the words the shopper reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from reclaim.policy.facts import Ask, Explanation, Item, OrderFacts
from reclaim.policy.rules import (
    Outcome,
    deadline,
    decide,
    item_verdict,
    options,
    refund_timing,
    returnless,
    review_reasons,
)
from reclaim.policy.schema import Policy, RefundTiming
from reclaim.returns.states import SHOPPER_METHODS, Method, Reason, Resolution

DELIVERED = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
HOLIDAY = {
    "name": "holiday returns",
    "delivered_from": "2026-11-01",
    "delivered_until": "2026-12-24",
    "return_by": "2027-01-31",
}

BEAUTY_RULE = {
    "when": {"categories": ["beauty"]},
    "resolutions": ["refund", "store_credit"],
    "explain": "Beauty products can be refunded or credited, not exchanged.",
}
INSURED_RULE = {
    "when": {"min_value": "400.00"},
    "methods": ["prepaid_label", "scheduled_pickup", "in_store"],
    "explain": "Items over 400.00 travel back insured: by label, pickup or in store.",
}
CHANGE_OF_MIND_RULE = {
    "when": {"reasons": ["no_longer_needed", "better_price"]},
    "resolutions": ["store_credit", "exchange"],
    "explain": "Change-of-mind returns get store credit or an exchange.",
}
SMALL_RULE = {
    "when": {"max_value": "20.00"},
    "methods": ["box_free_dropoff", "locker"],
    "explain": "Small items go back at a drop-off point or a locker.",
}


def make_policy(**rules: Any) -> Policy:
    """A policy with only the rules given; everything else at the schema's neutral defaults."""
    return Policy.model_validate({"name": "Test policy", **rules})


def make_item(
    ref: str = "L1",
    *,
    sku: str = "SHIRT-1",
    name: str = "Linen shirt",
    category: str = "apparel",
    returnable: bool = True,
    quantity: int = 1,
    held: int = 0,
    price: int = 5_000,
    paid: int | None = None,
    tax: int = 0,
    weight: int = 500,
) -> Item:
    """An order line; ``price`` is the whole line's list price, ``paid`` defaults to it."""
    return Item(
        line_ref=ref,
        sku=sku,
        name=name,
        category=category,
        returnable=returnable,
        quantity=quantity,
        held=held,
        list_minor=price,
        paid_minor=price if paid is None else paid,
        tax_minor=tax,
        weight_grams=weight,
    )


def make_order(
    *items: Item,
    delivered: datetime | None = DELIVERED,
    tier: str = "standard",
    recent: int = 0,
    shipping: int = 0,
    currency: str = "EUR",
) -> OrderFacts:
    return OrderFacts(
        currency=currency,
        delivered_at=delivered,
        tier=tier,
        recent_returns=recent,
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


def texts(notes: tuple[Explanation, ...]) -> list[str]:
    return [note.text for note in notes]


def codes(notes: tuple[Explanation, ...]) -> list[str]:
    return [note.code for note in notes]


# --- the window ------------------------------------------------------------------------------


def test_the_window_counts_the_default_days_from_delivery() -> None:
    last, text = deadline(make_policy(window={"days": 30}), DELIVERED, make_item(), "standard")

    assert last == DELIVERED + timedelta(days=30)
    assert text == "Return by 23 Dec 2026."


def test_a_category_window_replaces_the_default_days() -> None:
    policy = make_policy(window={"days": 30, "categories": {"electronics": 15}})

    last, text = deadline(policy, DELIVERED, make_item(category="electronics"), "standard")

    assert last == datetime(2026, 12, 8, 15, 0, tzinfo=UTC)
    assert text == "Return by 8 Dec 2026."


def test_a_category_window_leaves_other_categories_on_the_default() -> None:
    policy = make_policy(window={"days": 30, "categories": {"electronics": 15}})

    last, _ = deadline(policy, DELIVERED, make_item(category="apparel"), "standard")

    assert last == DELIVERED + timedelta(days=30)


def test_a_sku_window_beats_its_category_window() -> None:
    policy = make_policy(
        window={"days": 30, "categories": {"electronics": 15}, "skus": {"TV-55": 60}}
    )

    last, text = deadline(
        policy, DELIVERED, make_item(sku="TV-55", category="electronics"), "standard"
    )

    assert last == DELIVERED + timedelta(days=60)
    assert text == "Return by 22 Jan 2027."


def test_a_sku_window_may_be_shorter_than_the_default() -> None:
    policy = make_policy(window={"days": 30, "skus": {"SWIMSUIT": 7}})

    last, _ = deadline(policy, DELIVERED, make_item(sku="SWIMSUIT"), "standard")

    assert last == DELIVERED + timedelta(days=7)


def test_a_gold_member_gets_the_tier_extra_days_on_the_deadline() -> None:
    policy = make_policy(window={"days": 30, "tier_extra_days": {"gold": 15}})

    last, text = deadline(policy, DELIVERED, make_item(), "gold")

    assert last == DELIVERED + timedelta(days=45)
    assert text == "Return by 7 Jan 2027 (15 extra days as a gold member)."


def test_tier_extra_days_add_to_a_category_window() -> None:
    policy = make_policy(
        window={"days": 30, "categories": {"electronics": 15}, "tier_extra_days": {"vip": 30}}
    )

    last, _ = deadline(policy, DELIVERED, make_item(category="electronics"), "vip")

    assert last == DELIVERED + timedelta(days=45)


def test_a_tier_without_extra_days_gets_the_plain_deadline() -> None:
    policy = make_policy(window={"days": 30, "tier_extra_days": {"gold": 15}})

    _, text = deadline(policy, DELIVERED, make_item(), "standard")

    assert text == "Return by 23 Dec 2026."


def test_an_item_can_still_be_returned_at_the_last_moment_of_its_window() -> None:
    verdict = item_verdict(make_policy(), make_order(), make_item(), DELIVERED + timedelta(days=30))

    assert verdict.returnable
    assert verdict.quantity == 1
    assert verdict.deadline == DELIVERED + timedelta(days=30)
    assert verdict.explanation == Explanation("window", "Return by 23 Dec 2026.")


def test_the_window_is_closed_a_moment_after_the_deadline() -> None:
    now = DELIVERED + timedelta(days=30, seconds=1)

    verdict = item_verdict(make_policy(), make_order(), make_item(), now)

    assert not verdict.returnable
    assert verdict.quantity == 0
    assert verdict.deadline == DELIVERED + timedelta(days=30)
    assert verdict.explanation == Explanation(
        "window_closed", "The return window closed on 23 Dec 2026."
    )


def test_a_gold_member_may_still_return_after_the_standard_window_closed() -> None:
    policy = make_policy(window={"days": 30, "tier_extra_days": {"gold": 15}})
    now = DELIVERED + timedelta(days=40)

    assert item_verdict(policy, make_order(tier="gold"), make_item(), now).returnable
    assert not item_verdict(policy, make_order(tier="standard"), make_item(), now).returnable


# --- holidays ----------------------------------------------------------------------------------


def test_an_item_delivered_inside_the_holiday_range_may_come_back_until_the_holiday_date() -> None:
    policy = make_policy(holidays=[HOLIDAY])

    last, text = deadline(policy, DELIVERED, make_item(), "standard")

    assert last == datetime(2027, 1, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    assert text == "Return by 31 Jan 2027 (holiday returns)."


def test_an_item_delivered_on_the_last_holiday_delivery_day_gets_the_holiday_date() -> None:
    policy = make_policy(holidays=[HOLIDAY])
    delivered = datetime(2026, 12, 24, 23, 0, tzinfo=UTC)

    last, _ = deadline(policy, delivered, make_item(), "standard")

    assert last.date().isoformat() == "2027-01-31"


def test_an_item_delivered_after_the_holiday_range_keeps_its_own_window() -> None:
    policy = make_policy(holidays=[HOLIDAY])
    delivered = datetime(2026, 12, 26, 10, 0, tzinfo=UTC)

    last, text = deadline(policy, delivered, make_item(), "standard")

    assert last == delivered + timedelta(days=30)
    assert text == "Return by 25 Jan 2027."


def test_an_item_delivered_before_the_holiday_range_keeps_its_own_window() -> None:
    policy = make_policy(holidays=[HOLIDAY])
    delivered = datetime(2026, 10, 31, 10, 0, tzinfo=UTC)

    last, _ = deadline(policy, delivered, make_item(), "standard")

    assert last == delivered + timedelta(days=30)


def test_a_holiday_never_shortens_a_longer_window() -> None:
    policy = make_policy(window={"days": 90}, holidays=[HOLIDAY])

    last, text = deadline(policy, DELIVERED, make_item(), "standard")

    assert last == DELIVERED + timedelta(days=90)
    assert text == "Return by 21 Feb 2027."


def test_a_holiday_return_is_still_open_on_the_evening_of_the_holiday_date() -> None:
    policy = make_policy(holidays=[HOLIDAY])
    now = datetime(2027, 1, 31, 22, 0, tzinfo=UTC)

    assert item_verdict(policy, make_order(), make_item(), now).returnable
    closed = item_verdict(policy, make_order(), make_item(), now + timedelta(hours=3))
    assert closed.explanation.text == "The return window closed on 31 Jan 2027."


# --- eligibility -------------------------------------------------------------------------------


def test_a_product_the_shop_flags_as_not_returnable_cant_be_returned() -> None:
    item = make_item(returnable=False)

    verdict = item_verdict(make_policy(), make_order(item), item, NOW)

    assert not verdict.returnable
    assert verdict.explanation == Explanation("non_returnable", "This item can't be returned.")


def test_a_non_returnable_category_cant_be_returned() -> None:
    policy = make_policy(eligibility={"non_returnable_categories": ["gift_cards"]})
    item = make_item(category="gift_cards")

    verdict = item_verdict(policy, make_order(item), item, NOW)

    assert verdict.explanation == Explanation("non_returnable", "This item can't be returned.")


def test_a_non_returnable_sku_cant_be_returned() -> None:
    policy = make_policy(eligibility={"non_returnable_skus": ["EARRINGS-9"]})
    item = make_item(sku="EARRINGS-9")

    assert item_verdict(policy, make_order(item), item, NOW).explanation.code == "non_returnable"


def test_final_sale_by_sku_cant_be_returned() -> None:
    policy = make_policy(eligibility={"final_sale_skus": ["SHIRT-1"]})

    verdict = item_verdict(policy, make_order(), make_item(sku="SHIRT-1"), NOW)

    assert not verdict.returnable
    assert verdict.explanation == Explanation("final_sale", "Final sale items can't be returned.")


def test_final_sale_by_category_cant_be_returned() -> None:
    policy = make_policy(eligibility={"final_sale_categories": ["swimwear"]})

    verdict = item_verdict(policy, make_order(), make_item(category="swimwear"), NOW)

    assert verdict.explanation.code == "final_sale"


def test_a_line_discounted_by_the_clearance_percent_is_final_sale() -> None:
    policy = make_policy(eligibility={"final_sale_discount_percent": 70})
    item = make_item(price=10_000, paid=3_000)

    verdict = item_verdict(policy, make_order(item), item, NOW)

    assert verdict.explanation == Explanation("final_sale", "Final sale items can't be returned.")


def test_a_line_discounted_just_under_the_clearance_percent_can_be_returned() -> None:
    policy = make_policy(eligibility={"final_sale_discount_percent": 70})
    item = make_item(price=10_000, paid=3_001)

    assert item_verdict(policy, make_order(item), item, NOW).returnable


def test_a_free_line_is_not_final_sale_by_discount() -> None:
    policy = make_policy(eligibility={"final_sale_discount_percent": 70})
    item = make_item(price=0, paid=0)

    assert item_verdict(policy, make_order(item), item, NOW).returnable


def test_not_returnable_is_said_before_final_sale() -> None:
    policy = make_policy(
        eligibility={"non_returnable_skus": ["SHIRT-1"], "final_sale_skus": ["SHIRT-1"]}
    )

    assert item_verdict(policy, make_order(), make_item(), NOW).explanation.code == (
        "non_returnable"
    )


def test_an_order_not_delivered_yet_cant_be_returned() -> None:
    verdict = item_verdict(make_policy(), make_order(delivered=None), make_item(), NOW)

    assert not verdict.returnable
    assert verdict.deadline is None
    assert verdict.explanation == Explanation(
        "not_delivered", "This item hasn't been delivered yet, so it can't be returned."
    )


def test_an_order_delivered_after_now_cant_be_returned_yet() -> None:
    order = make_order(delivered=NOW + timedelta(hours=1))

    assert item_verdict(make_policy(), order, make_item(), NOW).explanation.code == (
        "not_delivered"
    )


def test_a_line_whose_units_are_all_held_by_other_returns_has_nothing_left_to_return() -> None:
    item = make_item(quantity=2, held=2)

    verdict = item_verdict(make_policy(), make_order(item), item, NOW)

    assert not verdict.returnable
    assert verdict.explanation == Explanation(
        "already_returned", "This item is already being returned."
    )


def test_only_the_units_not_held_by_other_returns_can_be_returned() -> None:
    item = make_item(quantity=3, held=1)

    verdict = item_verdict(make_policy(), make_order(item), item, NOW)

    assert verdict.returnable
    assert verdict.quantity == 2


def test_asking_for_more_units_than_are_left_is_refused_with_how_many_are() -> None:
    item = make_item(quantity=3, held=1)

    decision = decide(make_policy(), make_order(item), [make_ask(quantity=3)], None, NOW)

    assert decision.outcome is Outcome.REFUSE
    assert decision.problems == (
        Explanation("quantity", "Only 2 of Linen shirt can still be returned."),
    )


def test_the_same_line_asked_for_twice_is_refused_so_it_cant_add_up_to_more() -> None:
    item = make_item(quantity=2)
    asks = [make_ask(quantity=2), make_ask(quantity=1, resolution=Resolution.STORE_CREDIT)]

    decision = decide(make_policy(), make_order(item), asks, None, NOW)

    assert decision.outcome is Outcome.REFUSE
    assert decision.problems == (
        Explanation(
            "repeated_line", "Linen shirt is asked for twice; put the whole quantity on one line."
        ),
    )


def test_the_same_line_asked_for_twice_is_refused_even_within_what_is_left() -> None:
    # Per-line options would otherwise let one ask's reason lift another ask's restriction.
    policy = make_policy(options={"rules": [CHANGE_OF_MIND_RULE]})
    item = make_item(quantity=3)
    asks = [make_ask(quantity=1), make_ask(quantity=1, reason=Reason.DEFECTIVE)]

    decision = decide(policy, make_order(item), asks, None, NOW)

    assert decision.outcome is Outcome.REFUSE
    assert "repeated_line" in codes(decision.problems)


def test_asking_for_no_units_is_refused() -> None:
    decision = decide(make_policy(), make_order(), [make_ask(quantity=0)], None, NOW)

    assert decision.outcome is Outcome.REFUSE
    assert decision.problems == (
        Explanation("quantity", "Choose at least one Linen shirt to return."),
    )
    assert decision.quote is None


def test_asking_for_a_negative_number_of_units_is_refused() -> None:
    decision = decide(make_policy(), make_order(), [make_ask(quantity=-1)], None, NOW)

    assert codes(decision.problems) == ["quantity"]


def test_a_line_the_order_does_not_have_is_a_problem() -> None:
    decision = decide(make_policy(), make_order(), [make_ask("L9")], None, NOW)

    assert decision.problems == (Explanation("unknown_line", "The order has no line L9."),)


# --- what the shopper may choose ---------------------------------------------------------------


def test_without_rules_every_shopper_method_and_resolution_is_offered() -> None:
    allowed = options(make_policy(), make_order(), [make_item()])

    assert allowed.methods == SHOPPER_METHODS
    assert allowed.resolutions == {
        "L1": {Resolution.REFUND, Resolution.STORE_CREDIT, Resolution.EXCHANGE}
    }
    assert allowed.explanations == ()


def test_the_policy_wide_lists_limit_what_is_offered() -> None:
    policy = make_policy(options={"methods": ["prepaid_label"], "resolutions": ["refund"]})

    allowed = options(policy, make_order(), [make_item()])

    assert allowed.methods == {Method.PREPAID_LABEL}
    assert allowed.resolutions == {"L1": {Resolution.REFUND}}


def test_a_category_rule_narrows_the_resolutions_of_matching_lines_only() -> None:
    policy = make_policy(options={"rules": [BEAUTY_RULE]})
    lipstick = make_item("L1", category="beauty")
    shirt = make_item("L2", category="apparel")

    allowed = options(policy, make_order(lipstick, shirt), [lipstick, shirt])

    assert allowed.resolutions["L1"] == {Resolution.REFUND, Resolution.STORE_CREDIT}
    assert allowed.resolutions["L2"] == {
        Resolution.REFUND,
        Resolution.STORE_CREDIT,
        Resolution.EXCHANGE,
    }
    assert allowed.explanations == (
        Explanation("option_rule", "Beauty products can be refunded or credited, not exchanged."),
    )


def test_a_rule_that_matches_nothing_says_nothing() -> None:
    policy = make_policy(options={"rules": [BEAUTY_RULE]})

    assert options(policy, make_order(), [make_item(category="apparel")]).explanations == ()


def test_a_reason_rule_applies_once_the_shopper_gives_that_reason() -> None:
    policy = make_policy(options={"rules": [CHANGE_OF_MIND_RULE]})

    allowed = options(policy, make_order(), [make_ask(reason=Reason.BETTER_PRICE)])

    assert allowed.resolutions["L1"] == {Resolution.STORE_CREDIT, Resolution.EXCHANGE}
    assert texts(allowed.explanations) == [
        "Change-of-mind returns get store credit or an exchange."
    ]


def test_a_reason_rule_does_not_apply_before_the_shopper_gives_a_reason() -> None:
    policy = make_policy(options={"rules": [CHANGE_OF_MIND_RULE]})

    allowed = options(policy, make_order(), [make_item()])

    assert Resolution.REFUND in allowed.resolutions["L1"]
    assert allowed.explanations == ()


def test_a_reason_rule_does_not_apply_to_other_reasons() -> None:
    policy = make_policy(options={"rules": [CHANGE_OF_MIND_RULE]})

    allowed = options(policy, make_order(), [make_ask(reason=Reason.DEFECTIVE)])

    assert Resolution.REFUND in allowed.resolutions["L1"]


def test_a_fault_rule_applies_to_every_reason_with_that_fault() -> None:
    rule = {"when": {"faults": ["carrier"]}, "resolutions": ["refund"]}
    policy = make_policy(options={"rules": [rule]})

    damaged = options(policy, make_order(), [make_ask(reason=Reason.DAMAGED_IN_TRANSIT)])
    late = options(policy, make_order(), [make_ask(reason=Reason.ARRIVED_TOO_LATE)])

    assert damaged.resolutions["L1"] == late.resolutions["L1"] == {Resolution.REFUND}


def test_a_tier_rule_applies_only_to_that_tier() -> None:
    rule = {"when": {"tiers": ["vip"]}, "methods": ["scheduled_pickup"]}
    policy = make_policy(options={"rules": [rule]})

    vip = options(policy, make_order(tier="vip"), [make_item()])
    standard = options(policy, make_order(), [make_item()])

    assert vip.methods == {Method.SCHEDULED_PICKUP}
    assert standard.methods == SHOPPER_METHODS


def test_a_sku_rule_applies_only_to_that_sku() -> None:
    rule = {"when": {"skus": ["SOFA-3"]}, "methods": ["scheduled_pickup"]}
    policy = make_policy(options={"rules": [rule]})

    sofa, shirt = make_item(sku="SOFA-3"), make_item()

    assert options(policy, make_order(sofa), [sofa]).methods == {Method.SCHEDULED_PICKUP}
    assert options(policy, make_order(shirt), [shirt]).methods == SHOPPER_METHODS


def test_a_min_value_rule_narrows_the_methods_for_the_whole_parcel() -> None:
    policy = make_policy(options={"rules": [INSURED_RULE]})
    camera = make_item("L1", category="electronics", price=45_000)
    strap = make_item("L2", price=2_000)

    allowed = options(policy, make_order(camera, strap), [make_ask("L1"), make_ask("L2")])

    assert allowed.methods == {Method.PREPAID_LABEL, Method.SCHEDULED_PICKUP, Method.IN_STORE}
    assert texts(allowed.explanations) == [
        "Items over 400.00 travel back insured: by label, pickup or in store."
    ]


def test_a_min_value_rule_includes_its_threshold() -> None:
    policy = make_policy(options={"rules": [INSURED_RULE]})

    at = options(policy, make_order(make_item(price=40_000)), [make_ask()])
    under = options(policy, make_order(make_item(price=39_999)), [make_ask()])

    assert Method.LOCKER not in at.methods
    assert under.methods == SHOPPER_METHODS


def test_a_value_rule_weighs_only_the_units_asked_for() -> None:
    policy = make_policy(options={"rules": [INSURED_RULE]})
    pair = make_item(quantity=2, price=50_000)

    one = options(policy, make_order(pair), [make_ask(quantity=1)])
    both = options(policy, make_order(pair), [make_ask(quantity=2)])

    assert one.methods == SHOPPER_METHODS
    assert Method.LOCKER not in both.methods


def test_a_value_rule_weighs_what_was_paid_after_discounts() -> None:
    policy = make_policy(options={"rules": [INSURED_RULE]})
    discounted = make_item(price=50_000, paid=35_000)

    assert options(policy, make_order(discounted), [make_ask()]).methods == SHOPPER_METHODS


def test_a_max_value_rule_applies_to_small_items_only() -> None:
    policy = make_policy(options={"rules": [SMALL_RULE]})

    small = options(policy, make_order(make_item(price=2_000)), [make_ask()])
    large = options(policy, make_order(make_item(price=2_001)), [make_ask()])

    assert small.methods == {Method.BOX_FREE_DROPOFF, Method.LOCKER}
    assert texts(small.explanations) == ["Small items go back at a drop-off point or a locker."]
    assert large.methods == SHOPPER_METHODS


def test_two_matching_rules_both_narrow_and_both_explain() -> None:
    policy = make_policy(options={"rules": [BEAUTY_RULE, CHANGE_OF_MIND_RULE]})
    lipstick = make_item(category="beauty")

    allowed = options(policy, make_order(lipstick), [make_ask()])

    assert allowed.resolutions["L1"] == {Resolution.STORE_CREDIT}
    assert codes(allowed.explanations) == ["option_rule", "option_rule"]


def test_a_rule_matching_several_lines_explains_itself_once() -> None:
    policy = make_policy(options={"rules": [BEAUTY_RULE]})
    items = (make_item("L1", category="beauty"), make_item("L2", category="beauty"))

    allowed = options(policy, make_order(*items), list(items))

    assert len(allowed.explanations) == 1


def test_a_resolution_the_rules_dont_offer_is_refused() -> None:
    policy = make_policy(options={"rules": [BEAUTY_RULE]})
    order = make_order(make_item(category="beauty"))

    decision = decide(policy, order, [make_ask(resolution=Resolution.EXCHANGE)], None, NOW)

    assert decision.outcome is Outcome.REFUSE
    assert decision.problems == (
        Explanation("resolution_not_offered", "Exchange isn't offered for this item."),
    )


def test_keep_item_is_never_a_resolution_a_shopper_can_ask_for() -> None:
    decision = decide(
        make_policy(), make_order(), [make_ask(resolution=Resolution.KEEP_ITEM)], None, NOW
    )

    assert decision.problems == (
        Explanation("resolution_not_offered", "Keep item isn't offered for this item."),
    )


def test_a_method_the_rules_dont_offer_is_refused() -> None:
    policy = make_policy(options={"rules": [INSURED_RULE]})
    order = make_order(make_item(price=45_000))

    decision = decide(policy, order, [make_ask()], Method.BOX_FREE_DROPOFF, NOW)

    assert decision.problems == (
        Explanation("method_not_offered", "Box free dropoff isn't available for this return."),
    )


def test_rules_that_leave_no_method_refuse_the_return() -> None:
    policy = make_policy(options={"rules": [BEAUTY_RULE | {"methods": []}]})
    order = make_order(make_item(category="beauty"))

    decision = decide(policy, order, [make_ask()], None, NOW)

    assert decision.problems == (
        Explanation("no_method", "No way of sending this return back is offered."),
    )


def test_an_approved_return_repeats_the_rules_explain_text() -> None:
    policy = make_policy(options={"rules": [BEAUTY_RULE]})
    order = make_order(make_item(category="beauty"))

    decision = decide(policy, order, [make_ask()], Method.LOCKER, NOW)

    assert decision.outcome is Outcome.APPROVE
    assert "Beauty products can be refunded or credited, not exchanged." in texts(
        decision.explanations
    )
    assert decision.options.resolutions["L1"] == {Resolution.REFUND, Resolution.STORE_CREDIT}


# --- returnless ------------------------------------------------------------------------------


UNECONOMIC = {
    "when_uneconomic": True,
    "shipping_cost": "6.50",
    "shipping_cost_per_kg": "0.80",
    "handling_cost_per_unit": "2.50",
    "recovery_percent": 45,
}


def test_a_returnless_category_lets_the_shopper_keep_the_item() -> None:
    policy = make_policy(returnless={"categories": ["beauty"]})
    order = make_order(make_item(category="beauty"))

    assert returnless(policy, order, [make_ask()]) == Explanation(
        "returnless_category", "Keep the item: there's no need to send it back."
    )


def test_a_returnless_category_needs_every_line_to_be_in_it() -> None:
    policy = make_policy(returnless={"categories": ["beauty"]})
    order = make_order(make_item("L1", category="beauty"), make_item("L2", category="apparel"))

    assert returnless(policy, order, [make_ask("L1"), make_ask("L2")]) is None


def test_without_returnless_rules_everything_comes_back() -> None:
    assert returnless(make_policy(), make_order(make_item(price=100)), [make_ask()]) is None


def test_an_item_that_costs_more_to_bring_back_than_it_recovers_is_kept() -> None:
    # Bringing 500 g back: 6.50 + 0.40 + 2.50 = 9.40; 45% of 15.00 recovers only 6.75.
    policy = make_policy(returnless=UNECONOMIC)
    order = make_order(make_item(price=1_500, weight=500))

    assert returnless(policy, order, [make_ask()]) == Explanation(
        "returnless_uneconomic", "Keep the item: sending it back would cost more than it's worth."
    )


def test_an_item_worth_bringing_back_comes_back() -> None:
    # 45% of 30.00 recovers 13.50, more than the 9.40 it costs.
    policy = make_policy(returnless=UNECONOMIC)
    order = make_order(make_item(price=3_000, weight=500))

    assert returnless(policy, order, [make_ask()]) is None


def test_weight_makes_a_heavy_item_uneconomic_to_bring_back() -> None:
    # 20 kg: 6.50 + 16.00 + 2.50 = 25.00 against 45% of 50.00 = 22.50.
    policy = make_policy(returnless=UNECONOMIC)
    order = make_order(make_item(price=5_000, weight=20_000))

    assert returnless(policy, order, [make_ask()]) is not None
    assert returnless(policy, make_order(make_item(price=5_000, weight=500)), [make_ask()]) is None


def test_a_category_recovery_percent_replaces_the_default_one() -> None:
    # 10% of 50.00 recovers 5.00, less than the 9.40 it costs.
    policy = make_policy(returnless=UNECONOMIC | {"recovery_percent_by_category": {"beauty": 10}})

    beauty = make_order(make_item(category="beauty", price=5_000))
    apparel = make_order(make_item(category="apparel", price=5_000))

    assert returnless(policy, beauty, [make_ask()]) is not None
    assert returnless(policy, apparel, [make_ask()]) is None


def test_handling_cost_counts_every_unit() -> None:
    # Three units: 6.50 + 1.20 + 7.50 = 15.20 against 45% of 30.00 = 13.50.
    policy = make_policy(returnless=UNECONOMIC)
    order = make_order(make_item(quantity=3, price=3_000, weight=500))

    assert returnless(policy, order, [make_ask(quantity=3)]) is not None
    assert returnless(policy, order, [make_ask(quantity=1)]) is not None


def test_returnless_is_never_offered_above_its_max_value() -> None:
    policy = make_policy(returnless={"categories": ["beauty"], "max_value": "40.00"})

    at = make_order(make_item(category="beauty", price=4_000))
    above = make_order(make_item(category="beauty", price=4_001))

    assert returnless(policy, at, [make_ask()]) is not None
    assert returnless(policy, above, [make_ask()]) is None


def test_the_max_value_weighs_the_whole_return_not_each_line() -> None:
    policy = make_policy(returnless={"categories": ["beauty"], "max_value": "40.00"})
    order = make_order(
        make_item("L1", category="beauty", price=2_500),
        make_item("L2", category="beauty", price=2_500),
    )

    assert returnless(policy, order, [make_ask("L1")]) is not None
    assert returnless(policy, order, [make_ask("L1"), make_ask("L2")]) is None


def test_an_uneconomic_item_above_the_max_value_comes_back() -> None:
    policy = make_policy(returnless=UNECONOMIC | {"max_value": "10.00"})
    order = make_order(make_item(price=1_500, weight=500))

    assert returnless(policy, order, [make_ask()]) is None


def test_a_kept_item_is_approved_with_nothing_to_send_and_refunded_right_away() -> None:
    policy = make_policy(returnless={"categories": ["beauty"]}, fees={"label_fee": "4.95"})
    order = make_order(make_item(category="beauty", price=1_200))

    decision = decide(policy, order, [make_ask()], None, NOW)

    assert decision.outcome is Outcome.APPROVE
    assert decision.returnless
    assert decision.method is Method.KEEP_ITEM
    assert decision.refund_timing is RefundTiming.IMMEDIATELY
    assert decision.quote is not None
    assert decision.quote.refund_minor == 1_200
    assert decision.quote.fees == ()
    assert texts(decision.explanations) == [
        "Return by 23 Dec 2026.",
        "Keep the item: there's no need to send it back.",
        "You're refunded right away.",
    ]


# --- review ------------------------------------------------------------------------------------


def test_a_high_value_return_is_sent_to_review() -> None:
    policy = make_policy(review={"min_return_value": "600.00"})
    order = make_order(make_item(price=65_000))

    assert review_reasons(policy, order, [make_ask()]) == [
        "High value: 650.00 EUR (review from 600.00 EUR)"
    ]


def test_a_return_just_under_the_review_value_is_not_reviewed() -> None:
    policy = make_policy(review={"min_return_value": "600.00"})

    assert review_reasons(policy, make_order(make_item(price=59_999)), [make_ask()]) == []
    assert review_reasons(policy, make_order(make_item(price=60_000)), [make_ask()]) != []


def test_a_customer_with_many_recent_returns_is_sent_to_review() -> None:
    policy = make_policy(review={"max_recent_returns": 6, "recent_days": 90})

    assert review_reasons(policy, make_order(recent=6), [make_ask()]) == [
        "6 other returns in the last 90 days (review from 6)"
    ]
    assert review_reasons(policy, make_order(recent=5), [make_ask()]) == []


def test_an_unauthorized_purchase_is_sent_to_review_by_default() -> None:
    asks = [make_ask(reason=Reason.UNAUTHORIZED_PURCHASE)]

    assert review_reasons(make_policy(), make_order(), asks) == [
        "Reason needs review: unauthorized purchase"
    ]


def test_a_review_reason_is_named_once_however_many_lines_give_it() -> None:
    policy = make_policy(review={"reasons": ["defective"]})
    order = make_order(make_item("L1"), make_item("L2"))
    asks = [make_ask("L1", reason=Reason.DEFECTIVE), make_ask("L2", reason=Reason.DEFECTIVE)]

    assert review_reasons(policy, order, asks) == ["Reason needs review: defective"]


def test_every_tripped_review_rule_is_listed() -> None:
    policy = make_policy(review={"min_return_value": "100.00", "max_recent_returns": 2})
    order = make_order(make_item(price=20_000), recent=3)

    reasons = review_reasons(policy, order, [make_ask(reason=Reason.UNAUTHORIZED_PURCHASE)])

    assert len(reasons) == 3


def test_a_reviewed_return_waits_for_staff_and_is_refunded_after_inspection() -> None:
    policy = make_policy(
        review={"min_return_value": "600.00"}, refund_timing={"tiers": {"gold": "at_first_scan"}}
    )
    order = make_order(make_item(price=65_000), tier="gold")

    decision = decide(policy, order, [make_ask()], Method.PREPAID_LABEL, NOW)

    assert decision.outcome is Outcome.REVIEW
    assert decision.eligible
    assert decision.refund_timing is RefundTiming.AFTER_INSPECTION
    assert decision.review_reasons == ("High value: 650.00 EUR (review from 600.00 EUR)",)
    assert texts(decision.explanations)[-2:] == [
        "We'll check this return first and tell you within one working day.",
        "Your money comes back once we've checked your return.",
    ]


def test_a_reviewed_return_is_not_kept_even_when_it_would_be_returnless() -> None:
    policy = make_policy(returnless={"categories": ["beauty"]})
    order = make_order(make_item(category="beauty"))
    asks = [make_ask(reason=Reason.UNAUTHORIZED_PURCHASE)]

    decision = decide(policy, order, asks, Method.LOCKER, NOW)

    assert decision.outcome is Outcome.REVIEW
    assert not decision.returnless
    assert decision.method is Method.LOCKER
    assert decision.refund_timing is RefundTiming.AFTER_INSPECTION
    assert "Keep the item: there's no need to send it back." not in texts(decision.explanations)


# --- refund timing -----------------------------------------------------------------------------


def test_refunds_follow_the_policy_default_timing() -> None:
    policy = make_policy(refund_timing={"default": "at_receipt"})

    assert refund_timing(policy, make_order(), kept=False, reviewed=False) is (
        RefundTiming.AT_RECEIPT
    )


def test_a_tier_gets_its_own_refund_timing() -> None:
    policy = make_policy(
        refund_timing={"default": "at_receipt", "tiers": {"gold": "at_first_scan"}}
    )

    gold = refund_timing(policy, make_order(tier="gold"), kept=False, reviewed=False)
    standard = refund_timing(policy, make_order(), kept=False, reviewed=False)

    assert gold is RefundTiming.AT_FIRST_SCAN
    assert standard is RefundTiming.AT_RECEIPT


def test_a_kept_item_is_refunded_immediately() -> None:
    policy = make_policy(refund_timing={"default": "after_inspection"})

    assert refund_timing(policy, make_order(), kept=True, reviewed=False) is (
        RefundTiming.IMMEDIATELY
    )


def test_a_reviewed_return_is_refunded_after_inspection_whatever_else_applies() -> None:
    policy = make_policy(refund_timing={"default": "at_first_scan"})

    for kept in (False, True):
        assert refund_timing(policy, make_order(), kept=kept, reviewed=True) is (
            RefundTiming.AFTER_INSPECTION
        )


def test_the_refund_timing_is_told_to_the_shopper() -> None:
    policy = make_policy(refund_timing={"tiers": {"vip": "at_first_scan"}})

    decision = decide(policy, make_order(tier="vip"), [make_ask()], Method.LOCKER, NOW)

    assert decision.refund_timing is RefundTiming.AT_FIRST_SCAN
    assert decision.explanations[-1] == Explanation(
        "timing_at_first_scan", "Your money comes back as soon as the carrier scans your parcel."
    )


# --- outcomes ----------------------------------------------------------------------------------


def test_an_eligible_return_is_approved_at_once() -> None:
    decision = decide(make_policy(), make_order(), [make_ask()], Method.PREPAID_LABEL, NOW)

    assert decision.outcome is Outcome.APPROVE
    assert decision.eligible
    assert not decision.returnless
    assert decision.method is Method.PREPAID_LABEL
    assert decision.problems == ()
    assert decision.review_reasons == ()


def test_without_auto_approve_an_eligible_return_is_left_for_staff() -> None:
    policy = make_policy(auto_approve=False, refund_timing={"default": "at_receipt"})

    decision = decide(policy, make_order(), [make_ask()], Method.PREPAID_LABEL, NOW)

    assert decision.outcome is Outcome.MANUAL
    assert decision.eligible
    assert decision.refund_timing is RefundTiming.AT_RECEIPT
    assert decision.quote is not None


def test_without_auto_approve_a_review_trigger_still_says_review() -> None:
    policy = make_policy(auto_approve=False)
    asks = [make_ask(reason=Reason.UNAUTHORIZED_PURCHASE)]

    assert decide(policy, make_order(), asks, None, NOW).outcome is Outcome.REVIEW


def test_without_auto_approve_an_ineligible_return_is_still_refused() -> None:
    policy = make_policy(auto_approve=False)

    decision = decide(policy, make_order(delivered=None), [make_ask()], None, NOW)

    assert decision.outcome is Outcome.REFUSE


def test_a_refused_request_lists_every_problem_and_prices_nothing() -> None:
    policy = make_policy(
        eligibility={"final_sale_skus": ["SALE-1"]}, options={"methods": ["prepaid_label"]}
    )
    order = make_order(
        make_item("L1", sku="SALE-1"),
        make_item("L2", sku="GIFT", returnable=False),
        make_item("L3", name="Wool scarf", quantity=1),
        make_item("L4"),
    )
    asks = [make_ask("L1"), make_ask("L2"), make_ask("L3", quantity=2), make_ask("L4")]

    decision = decide(policy, order, asks, Method.LOCKER, NOW)

    assert decision.outcome is Outcome.REFUSE
    assert not decision.eligible
    assert decision.quote is None
    assert texts(decision.problems) == [
        "Final sale items can't be returned.",
        "This item can't be returned.",
        "Only 1 of Wool scarf can still be returned.",
        "Locker isn't available for this return.",
    ]
    # The line that was fine still says until when it may come back.
    assert texts(decision.explanations) == ["Return by 23 Dec 2026."]


def test_a_refused_request_keeps_the_policy_default_timing() -> None:
    policy = make_policy(refund_timing={"default": "at_receipt"})

    decision = decide(policy, make_order(delivered=None), [make_ask()], None, NOW)

    assert decision.refund_timing is RefundTiming.AT_RECEIPT


# --- explanations as the shopper reads them ----------------------------------------------------


def test_a_change_of_mind_refund_explains_the_deadline_the_fee_and_the_timing() -> None:
    policy = make_policy(fees={"label_fee": "4.95"}, refund_timing={"default": "at_receipt"})

    decision = decide(policy, make_order(), [make_ask()], Method.PREPAID_LABEL, NOW)

    assert [(note.code, note.text) for note in decision.explanations] == [
        ("window", "Return by 23 Dec 2026."),
        (
            "label_fee",
            "A 4.95 EUR return shipping fee comes off your refund. "
            "Store credit and exchanges return free.",
        ),
        ("timing_at_receipt", "Your money comes back when your return reaches us."),
    ]


def test_a_damaged_item_is_explained_as_a_free_return() -> None:
    policy = make_policy(fees={"label_fee": "4.95"})
    asks = [make_ask(reason=Reason.DAMAGED_IN_TRANSIT)]

    decision = decide(policy, make_order(), asks, Method.PREPAID_LABEL, NOW)

    assert "Free return because the item arrived damaged." in texts(decision.explanations)
    assert decision.quote is not None
    assert decision.quote.fees == ()


def test_the_same_deadline_is_said_once_for_several_lines() -> None:
    order = make_order(make_item("L1"), make_item("L2"))

    decision = decide(make_policy(), order, [make_ask("L1"), make_ask("L2")], None, NOW)

    assert texts(decision.explanations).count("Return by 23 Dec 2026.") == 1


def test_lines_with_different_deadlines_each_say_theirs() -> None:
    policy = make_policy(window={"days": 30, "categories": {"electronics": 15}})
    order = make_order(make_item("L1"), make_item("L2", category="electronics"))

    decision = decide(policy, order, [make_ask("L1"), make_ask("L2")], None, NOW)

    assert texts(decision.explanations)[:2] == ["Return by 23 Dec 2026.", "Return by 8 Dec 2026."]


def test_the_recorded_decision_carries_the_policy_version_and_the_words() -> None:
    decision = decide(make_policy(), make_order(), [make_ask()], Method.LOCKER, NOW)

    record = decision.record("test-policy@0123456789ab")

    assert record["policy_version"] == "test-policy@0123456789ab"
    assert record["outcome"] == "approve"
    assert record["returnless"] is False
    assert record["refund_timing"] == "after_inspection"
    assert record["explanations"][0] == {"code": "window", "text": "Return by 23 Dec 2026."}
    assert record["review_reasons"] == []
    assert record["quote"]["refund_minor"] == 5_000
