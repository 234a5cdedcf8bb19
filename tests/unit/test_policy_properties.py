"""Whatever the merchant writes, the policy never gives back more than was paid (but the bonus).

Policies are drawn at random but valid, built directly as ``Policy`` objects. Orders and requests
lean towards what a policy accepts, so most examples reach the pricing; a spoiled request (too many
units, none, a line asked twice, a line the order lacks) must always be refused.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reclaim.policy.facts import Ask, Item, OrderFacts, to_minor
from reclaim.policy.pricing import Quote
from reclaim.policy.rules import Decision, Outcome, decide, options
from reclaim.policy.schema import (
    Eligibility,
    Fees,
    Holiday,
    Options,
    Policy,
    RefundTiming,
    Restriction,
    Returnless,
    Review,
    StoreCredit,
    Timing,
    When,
    Window,
)
from reclaim.returns.states import SHOPPER_METHODS, Method, Reason, Resolution

NOW = datetime(2026, 12, 15, 12, 0, tzinfo=UTC)
CATEGORIES = ("apparel", "electronics", "beauty", "home")
SKUS = ("SKU-A", "SKU-B", "SKU-C", "SKU-D")
TIERS = ("standard", "gold", "vip")
CURRENCIES = ("EUR", "JPY", "KWD")
REQUESTABLE = (Resolution.REFUND, Resolution.STORE_CREDIT, Resolution.EXCHANGE)
CHOSEN_TIMINGS = tuple(timing for timing in RefundTiming if timing is not RefundTiming.IMMEDIATELY)

T = TypeVar("T")

SETTINGS = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

amounts = st.decimals(min_value=0, max_value=2_000, places=2)
percents = st.decimals(min_value=0, max_value=100, places=1)
days = st.integers(min_value=0, max_value=90)
categories = st.frozensets(st.sampled_from(CATEGORIES), max_size=2)
skus = st.frozensets(st.sampled_from(SKUS), max_size=2)
methods = st.frozensets(st.sampled_from(sorted(SHOPPER_METHODS)))
resolutions = st.frozensets(st.sampled_from(REQUESTABLE))
# What a whole policy offers: usually everything, sometimes a few, rarely nothing at all.
offered_methods = st.just(SHOPPER_METHODS) | methods.filter(bool) | methods
offered_resolutions = st.just(frozenset(REQUESTABLE)) | resolutions.filter(bool) | resolutions


def mostly(likely: st.SearchStrategy[T], other: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """``likely`` four times in five, ``other`` the rest (``a | b`` would be an even split)."""
    return st.sampled_from((True, True, True, True, False)).flatmap(
        lambda usual: likely if usual else other
    )


@st.composite
def holidays(draw: st.DrawFn) -> Holiday:
    start = draw(st.dates(min_value=date(2026, 9, 1), max_value=date(2026, 12, 31)))
    until = start + timedelta(days=draw(st.integers(0, 60)))
    return Holiday(
        name="holiday",
        delivered_from=start,
        delivered_until=until,
        return_by=until + timedelta(days=draw(st.integers(0, 60))),
    )


@st.composite
def restrictions(draw: st.DrawFn) -> Restriction:
    low = draw(st.none() | amounts)
    return Restriction(
        when=When(
            categories=draw(categories),
            skus=draw(skus),
            reasons=draw(st.frozensets(st.sampled_from(Reason), max_size=3)),
            tiers=draw(st.frozensets(st.sampled_from(TIERS), max_size=2)),
            min_value=low,
            max_value=draw(st.none() | amounts),
        ),
        methods=draw(st.none() | offered_methods),
        resolutions=draw(st.none() | offered_resolutions),
        explain=draw(st.none() | st.just("A rule narrowed the choice.")),
    )


@st.composite
def eligibilities(draw: st.DrawFn) -> Eligibility:
    # Names the orders never use as well, so a rule often leaves the drawn lines alone.
    some_categories = st.frozensets(st.sampled_from((*CATEGORIES, "toys", "food")), max_size=1)
    some_skus = st.frozensets(st.sampled_from((*SKUS, "SKU-X", "SKU-Y")), max_size=1)
    return Eligibility(
        non_returnable_categories=draw(some_categories),
        non_returnable_skus=draw(some_skus),
        final_sale_categories=draw(some_categories),
        final_sale_skus=draw(some_skus),
        final_sale_discount_percent=draw(st.none() | percents),
    )


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    return Policy(
        name="Drawn policy",
        auto_approve=draw(st.booleans()),
        window=Window(
            days=draw(st.integers(14, 90) | days),
            categories=draw(st.dictionaries(st.sampled_from(CATEGORIES), days, max_size=2)),
            skus=draw(st.dictionaries(st.sampled_from(SKUS), days, max_size=2)),
            tier_extra_days=draw(st.dictionaries(st.sampled_from(TIERS), days, max_size=2)),
        ),
        holidays=tuple(draw(st.lists(holidays(), max_size=2))),
        eligibility=draw(mostly(st.just(Eligibility()), eligibilities())),
        options=Options(
            methods=draw(offered_methods),
            resolutions=draw(offered_resolutions),
            rules=tuple(draw(st.lists(restrictions(), max_size=3))),
        ),
        fees=Fees(
            restocking_percent=draw(percents),
            restocking_categories=draw(categories),
            label_fee=draw(amounts),
            label_fee_methods=draw(methods),
        ),
        store_credit=StoreCredit(bonus_percent=draw(percents), bonus_cap=draw(st.none() | amounts)),
        returnless=Returnless(
            categories=draw(categories),
            when_uneconomic=draw(st.booleans()),
            shipping_cost=draw(amounts),
            shipping_cost_per_kg=draw(amounts),
            handling_cost_per_unit=draw(amounts),
            recovery_percent=draw(percents),
            recovery_percent_by_category=draw(
                st.dictionaries(st.sampled_from(CATEGORIES), percents, max_size=2)
            ),
            max_value=draw(st.none() | amounts),
        ),
        refund_timing=Timing(
            default=draw(st.sampled_from(CHOSEN_TIMINGS)),
            tiers=draw(st.dictionaries(st.sampled_from(TIERS), st.sampled_from(CHOSEN_TIMINGS))),
        ),
        review=Review(
            min_return_value=draw(st.none() | amounts),
            max_recent_returns=draw(st.none() | st.integers(1, 10)),
            recent_days=draw(st.integers(1, 365)),
            reasons=draw(st.frozensets(st.sampled_from(Reason), max_size=2)),
        ),
    )


@st.composite
def items(draw: st.DrawFn, ref: str) -> Item:
    quantity = draw(st.integers(1, 5))
    listed = draw(st.integers(0, 500_000))
    paid = draw(st.integers(0, listed))
    return Item(
        line_ref=ref,
        sku=draw(st.sampled_from(SKUS)),
        name=f"Item {ref}",
        category=draw(st.sampled_from(CATEGORIES)),
        returnable=draw(mostly(st.just(True), st.booleans())),
        quantity=quantity,
        held=draw(mostly(st.just(0), st.integers(0, quantity))),
        list_minor=listed,
        paid_minor=paid,
        tax_minor=draw(st.integers(0, paid // 4)),
        weight_grams=draw(st.integers(0, 30_000)),
    )


@st.composite
def orders(draw: st.DrawFn) -> OrderFacts:
    count = draw(st.integers(1, 4))
    # Days since delivery: mostly well inside any window, sometimes long ago, not yet, or never.
    ago = draw(mostly(st.integers(0, 14), st.integers(-2, 150) | st.none()))
    return OrderFacts(
        currency=draw(st.sampled_from(CURRENCIES)),
        delivered_at=None if ago is None else NOW - timedelta(days=ago, hours=3),
        tier=draw(st.sampled_from(TIERS)),
        recent_returns=draw(st.integers(0, 12)),
        shipping_minor=draw(st.integers(0, 5_000)),
        items=tuple(draw(items(f"L{number}")) for number in range(1, count + 1)),
    )


SPOILS = ("too_many", "none", "twice", "unknown_line", "keep_item")


@st.composite
def requests(draw: st.DrawFn, policy: Policy, order: OrderFacts) -> list[Ask]:
    """One ask per chosen line for at most its open units, mostly with a resolution the portal
    offers for it."""
    chosen = draw(st.lists(st.sampled_from(order.items), min_size=1, max_size=4, unique_by=id))
    asks = []
    for item in chosen:
        ask = Ask(
            item.line_ref,
            draw(st.integers(1, max(item.open_quantity, 1))),
            draw(st.sampled_from(Reason)),
            Resolution.REFUND,
            draw(st.booleans()),
        )
        offered = sorted(options(policy, order, [ask]).resolutions[item.line_ref])
        anything = st.sampled_from(REQUESTABLE)
        pick = mostly(st.sampled_from(offered), anything) if offered else anything
        asks.append(replace(ask, resolution=draw(pick)))
    return draw(st.permutations(asks))


SPOILS = ("too_many", "none", "twice", "unknown_line", "keep_item")


@st.composite
def spoiled(draw: st.DrawFn, order: OrderFacts, asks: list[Ask], how: str) -> list[Ask]:
    """The request made one the policy must refuse, in the way ``how`` names."""
    first = asks[0]
    item = order.item(first.line_ref)
    assert item is not None
    rest = asks[1:]
    if how == "too_many":
        extra = draw(st.integers(1, 3))
        return [replace(first, quantity=item.open_quantity + extra), *rest]
    if how == "none":
        return [replace(first, quantity=draw(st.integers(-2, 0))), *rest]
    if how == "twice":
        again = replace(first, quantity=1, reason=draw(st.sampled_from(Reason)))
        return draw(st.permutations([*asks, again]))
    if how == "unknown_line":
        return draw(st.permutations([*asks, replace(first, line_ref="L9")]))
    assert how == "keep_item"
    return [replace(first, resolution=Resolution.KEEP_ITEM), *rest]


@st.composite
def methods_for(
    draw: st.DrawFn, policy: Policy, order: OrderFacts, asks: list[Ask]
) -> Method | None:
    """Mostly a method the portal offers for these asks, else none yet or any at all."""
    offered = sorted(options(policy, order, asks).methods)
    other = st.none() | st.sampled_from(sorted(SHOPPER_METHODS))
    return draw(mostly(st.sampled_from(offered), other) if offered else other)


def order_cost(order: OrderFacts) -> int:
    return order.goods_minor + sum(item.tax_minor for item in order.items) + order.shipping_minor


def check_accepted(decision: Decision, order: OrderFacts, asks: list[Ask]) -> Quote:
    """The invariants of one accepted decision; returns its quote."""
    assert decision.eligible
    asked = Counter[str]()
    for ask in asks:
        assert ask.quantity >= 1
        asked[ask.line_ref] += ask.quantity
    for ref, units in asked.items():
        item = order.item(ref)
        assert item is not None
        assert units <= item.open_quantity

    result = decision.quote
    assert result is not None
    # One priced line per ask, in the order asked.
    for ask, line in zip(asks, result.lines, strict=True):
        item = order.item(line.line_ref)
        assert item is not None
        assert (line.line_ref, line.resolution) == (ask.line_ref, ask.resolution)
        for part in (line.goods_minor, line.tax_minor, line.shipping_minor):
            assert part >= 0
        assert line.fees_minor >= 0
        assert line.bonus_minor >= 0
        # No more than the line's share for those units, compared in exact fractions.
        assert line.goods_minor * item.quantity <= item.paid_minor * ask.quantity
        assert line.tax_minor * item.quantity <= item.tax_minor * ask.quantity
        if line.shipping_minor:
            assert (
                line.shipping_minor * order.goods_minor <= order.shipping_minor * line.goods_minor
            )
        assert line.fees_minor <= line.paid_minor
        assert 0 <= line.amount_minor - line.bonus_minor <= line.paid_minor
        if line.resolution is not Resolution.STORE_CREDIT:
            assert line.bonus_minor == 0
    assert result.paid_minor <= order_cost(order)
    assert result.fees_minor == sum(line.fees_minor for line in result.lines)
    for total in (result.refund_minor, result.store_credit_minor, result.exchange_minor):
        assert total >= 0
    return result


@SETTINGS
@given(data=st.data(), policy=policies(), order=orders())
def test_an_accepted_request_never_gives_back_more_than_was_paid_for_the_units(
    data: st.DataObject, policy: Policy, order: OrderFacts
) -> None:
    asks = data.draw(requests(policy, order))

    decision = decide(policy, order, asks, data.draw(methods_for(policy, order, asks)), NOW)

    event(f"outcome: {decision.outcome.value}")
    if decision.outcome is Outcome.REFUSE:
        assert decision.problems
        assert decision.quote is None
        return
    check_accepted(decision, order, asks)


@SETTINGS
@given(data=st.data(), policy=policies(), order=orders(), how=st.sampled_from(SPOILS))
def test_a_spoiled_request_is_never_accepted(
    data: st.DataObject, policy: Policy, order: OrderFacts, how: str
) -> None:
    asks = data.draw(requests(policy, order))
    method = data.draw(methods_for(policy, order, asks))
    if decide(policy, order, asks, method, NOW).eligible:
        event("the request was acceptable before it was spoiled")

    decision = decide(policy, order, data.draw(spoiled(order, asks, how)), method, NOW)

    assert decision.outcome is Outcome.REFUSE
    assert decision.quote is None


@SETTINGS
@given(data=st.data(), policy=policies(), order=orders())
def test_the_bonus_the_label_fee_and_returnless_stay_within_the_policy_limits(
    data: st.DataObject, policy: Policy, order: OrderFacts
) -> None:
    asks = data.draw(requests(policy, order))

    decision = decide(policy, order, asks, data.draw(methods_for(policy, order, asks)), NOW)

    if decision.quote is None:
        return
    result = decision.quote
    cap = policy.store_credit.bonus_cap
    if cap is not None:
        assert result.bonus_minor <= to_minor(cap, order.currency)
    labels = [fee for fee in result.fees if fee.kind == "label"]
    assert len(labels) <= 1
    for fee in labels:
        assert 0 < fee.amount_minor <= to_minor(policy.fees.label_fee, order.currency)
    if decision.returnless:
        event("returnless")
        assert decision.method is Method.KEEP_ITEM
        assert decision.refund_timing is RefundTiming.IMMEDIATELY
        assert labels == []
        limit = policy.returnless.max_value
        if limit is not None:
            kept = sum(line.goods_minor for line in result.lines)
            assert kept <= to_minor(limit, order.currency)
    if decision.outcome is Outcome.REVIEW:
        event("review")
        assert decision.refund_timing is RefundTiming.AFTER_INSPECTION
        assert not decision.returnless


@SETTINGS
@given(data=st.data(), policy=policies(), order=orders())
def test_sequential_returns_of_one_order_never_give_back_more_than_it_cost(
    data: st.DataObject, policy: Policy, order: OrderFacts
) -> None:
    # Start with nothing returned yet, so every unit is there to be returned again and again.
    order = replace(order, items=tuple(replace(item, held=0) for item in order.items))
    goods = Counter[str]()
    taxes = Counter[str]()
    shipping = paid = accepted = 0
    for _ in range(data.draw(st.integers(2, 6))):
        asks = data.draw(requests(policy, order))
        decision = decide(policy, order, asks, data.draw(methods_for(policy, order, asks)), NOW)
        if not decision.eligible:
            continue
        event("accepted a later return" if accepted else "accepted a first return")
        accepted += 1
        result = check_accepted(decision, order, asks)
        for line in result.lines:
            goods[line.line_ref] += line.goods_minor
            taxes[line.line_ref] += line.tax_minor
            shipping += line.shipping_minor
        paid += result.paid_minor
        taken = Counter[str]()
        for ask in asks:
            taken[ask.line_ref] += ask.quantity
        order = replace(
            order,
            items=tuple(
                replace(item, held=item.held + taken[item.line_ref]) for item in order.items
            ),
        )

    assert paid <= order_cost(order)
    assert shipping <= order.shipping_minor
    for item in order.items:
        assert item.held <= item.quantity
        assert goods[item.line_ref] <= item.paid_minor
        assert taxes[item.line_ref] <= item.tax_minor
