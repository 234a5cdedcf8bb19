"""The what-if replay, without a database: past returns decided under two policies, tallied."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from reclaim.policy.facts import Ask, Item, OrderFacts
from reclaim.policy.loader import parse
from reclaim.policy.rules import Outcome
from reclaim.policy.whatif import (
    Case,
    Holding,
    Tally,
    compare,
    held_at,
    holding,
    past_return,
)
from reclaim.returns.states import Method, Reason, Resolution, Status

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)
LIVE_TEXT = """
name = "Live"
[window]
days = 30
[fees]
label_fee = "5.00"
[store_credit]
bonus_percent = 10
[returnless]
categories = ["beauty"]
max_value = "20.00"
[review]
min_return_value = "500.00"
max_recent_returns = 3
recent_days = 30
"""
DRAFT_TEXT = (
    LIVE_TEXT.replace('name = "Live"', 'name = "Draft"')
    .replace("days = 30\n[fees]", "days = 14\n[fees]")
    .replace('label_fee = "5.00"', 'label_fee = "8.00"')
    .replace('min_return_value = "500.00"', 'min_return_value = "100.00"')
    .replace("max_recent_returns = 3", "max_recent_returns = 2")
)
LIVE = parse(LIVE_TEXT, "live")
DRAFT = parse(DRAFT_TEXT, "draft")


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


YESTERDAY = days_ago(1)


def case(
    return_id: int,
    *,
    delivered_days_ago: float,
    price: int,
    category: str = "apparel",
    reason: Reason = Reason.TOO_SMALL,
    resolution: Resolution = Resolution.REFUND,
    method: Method | None = Method.PREPAID_LABEL,
    history: tuple[tuple[int, datetime, datetime | None], ...] = (),
) -> Case:
    item = Item("1", f"SKU-{return_id}", "Thing", category, True, 1, 0, price, price, 0)
    facts = OrderFacts("USD", days_ago(delivered_days_ago), "standard", 0, 0, (item,))
    return Case(
        return_id=return_id,
        number=f"RMA-{return_id}",
        created_at=NOW,
        recorded_version=LIVE.version,
        facts=facts,
        asks=(Ask("1", 1, reason, resolution),),
        method=method,
        customer_returns=tuple(
            past_return(i, at, "rejected" if ended else "approved", ended or at)
            for i, at, ended in history
        ),
    )


CASES = [
    # Fresh, refunded by label: a label fee under both, a higher one in the draft.
    case(1, delivered_days_ago=5, price=4_000),
    # Inside the live window, outside the draft's.
    case(2, delivered_days_ago=20, price=4_000),
    # Store credit: free return with a bonus; over the draft's review threshold.
    case(3, delivered_days_ago=3, price=20_000, resolution=Resolution.STORE_CREDIT),
    # A cheap beauty item kept by the shopper; the method it was asked with is unknown.
    case(4, delivered_days_ago=2, price=1_500, category="beauty", method=None),
    # Two other recent returns: review in the draft (from 2), not live (from 3). The rejected
    # one stopped counting before this return, one is too old and one came later.
    case(
        5,
        delivered_days_ago=4,
        price=3_000,
        reason=Reason.DEFECTIVE,
        history=(
            (101, days_ago(10), None),
            (102, days_ago(20), None),
            (103, days_ago(5), days_ago(1)),
            (104, days_ago(40), None),
            (105, NOW + timedelta(days=1), None),
            (5, NOW, None),
        ),
    ),
]


def test_each_policy_decides_every_return_and_the_tallies_add_up() -> None:
    result = compare(CASES, LIVE, DRAFT)

    assert result.live == Tally(
        replayed=5,
        eligible=5,
        refused=0,
        approved=5,
        kept=1,
        review=0,
        charged=2,
        refund={"USD": 3_500 + 3_500 + 1_500 + 3_000},
        store_credit={"USD": 22_000},
        bonus={"USD": 2_000},
        fees={"USD": 1_000},
    )
    assert result.draft == Tally(
        replayed=5,
        eligible=4,
        refused=1,
        refusals={"window_closed": 1},
        approved=2,
        kept=1,
        review=2,
        charged=1,
        refund={"USD": 3_200 + 1_500 + 3_000},
        store_credit={"USD": 22_000},
        bonus={"USD": 2_000},
        fees={"USD": 800},
    )
    assert result.changed == {
        (Outcome.APPROVE, Outcome.APPROVE): 1,
        (Outcome.APPROVE, Outcome.REFUSE): 1,
        (Outcome.APPROVE, Outcome.REVIEW): 2,
    }
    assert result.differ == 4
    assert result.currencies == ["USD"]
    assert result.other_versions == 0


def test_the_same_policy_on_both_sides_changes_nothing() -> None:
    result = compare(CASES, LIVE, parse(LIVE_TEXT, "a copy"))

    assert result.live == result.draft
    assert result.differ == 0


def test_money_is_kept_per_currency() -> None:
    usd = CASES[0]
    euro = replace(usd, facts=replace(usd.facts, currency="EUR"), recorded_version="older-policy@1")

    result = compare([usd, euro], LIVE, DRAFT)

    assert result.currencies == ["EUR", "USD"]
    assert result.live.refund == {"EUR": 3_500, "USD": 3_500}
    assert result.draft.fees == {"EUR": 800, "USD": 800}
    assert result.other_versions == 1


def test_recent_returns_are_counted_as_the_review_rule_saw_them() -> None:
    rejected_later = case(
        7,
        delivered_days_ago=4,
        price=3_000,
        history=(
            (201, days_ago(3), NOW + timedelta(hours=1)),  # still counted when 7 was made
            (202, days_ago(3), days_ago(2)),  # already rejected
            (203, days_ago(29), None),
            (204, days_ago(31), None),
            (205, NOW, None),  # the same moment isn't "before"
        ),
    )

    assert rejected_later.recent_returns(30) == 2
    assert rejected_later.recent_returns(60) == 3
    assert rejected_later.recent_returns(1) == 0


def test_held_units_are_those_other_returns_held_when_the_return_was_made() -> None:
    line = 11

    def other(
        return_id: int,
        created: datetime,
        status: Status,
        *,
        method: Method = Method.PREPAID_LABEL,
        updated: datetime = YESTERDAY,
        order_line_id: int = line,
        received: int = 0,
    ) -> Holding:
        return holding(return_id, created, status, method, updated, order_line_id, 2, received)

    before = days_ago(10)
    holdings = [
        other(1, before, Status.APPROVED),  # holds both units
        other(2, before, Status.CANCELLED, updated=days_ago(5)),  # released before: none
        other(3, before, Status.REJECTED, updated=NOW + timedelta(hours=1)),  # still held: 2
        other(4, before, Status.COMPLETED, updated=days_ago(5), received=1),  # kept 1
        other(5, before, Status.COMPLETED, method=Method.KEEP_ITEM, updated=days_ago(5)),  # 2
        other(6, NOW + timedelta(days=1), Status.APPROVED),  # made later: none
        other(49, NOW, Status.APPROVED),  # same moment, made first: 2
        other(51, NOW, Status.APPROVED),  # same moment, made after: none
        other(7, before, Status.APPROVED, order_line_id=99),  # another line
        other(50, NOW, Status.APPROVED),  # the return itself
    ]

    assert held_at(holdings, line, 50, NOW) == 2 + 0 + 2 + 1 + 2 + 2


def test_a_refused_return_brings_no_money_and_counts_each_reason_once() -> None:
    late = case(8, delivered_days_ago=40, price=4_000)

    live = compare([late, late], LIVE, DRAFT).live

    assert live.refused == 2 and live.eligible == 0
    assert live.refusals == {"window_closed": 2}
    assert live.refund == {} and live.charged == 0


def test_a_returnless_return_replayed_without_returnless_prices_the_trip_back() -> None:
    kept = CASES[3]
    no_keeping = parse(LIVE_TEXT.replace('categories = ["beauty"]', "categories = []"), "x")

    result = compare([kept], LIVE, no_keeping)

    assert (result.live.kept, result.draft.kept) == (1, 0)
    # The shopper's method is unknown, so the mail-back is priced: the label fee applies.
    assert result.live.fees == {"USD": 0}
    assert result.draft.fees == {"USD": 500}
