"""Root-cause findings: which products and categories come back abnormally often, which reasons
dominate, what shoppers keep writing, each stated as an action; and when nothing is said."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reclaim.analytics.concentration import REASON_ACTIONS, ReasonCount, concentrations
from reclaim.analytics.findings import (
    CATEGORY_ACTION,
    COMMENTS_ACTION,
    EXCESS_ACTION,
    Finding,
    SkuCounts,
    findings,
    percent,
    rate_products,
)
from reclaim.analytics.themes import Share, Theme
from reclaim.returns.states import Reason

SETTINGS = settings(max_examples=150, derandomize=True, database=None, deadline=None)


def sku(
    code: str,
    category: str,
    shipped: int,
    returned: int,
    price: int = 2500,
    *,
    lines: int | None = None,
) -> SkuCounts:
    """A product sold one unit per order line, unless ``lines`` says otherwise."""
    purchases = shipped if lines is None else lines
    return SkuCounts(code, f"Name of {code}", category, shipped, returned, price, purchases)


def returns_of(
    counts: SkuCounts, reason: str = Reason.NO_LONGER_NEEDED, *, returns: int | None = None
) -> ReasonCount:
    """The product's returned units as returns of one unit each (or in ``returns`` returns)."""
    lots = counts.returned if returns is None else returns
    return ReasonCount(
        counts.sku,
        counts.name,
        counts.category,
        reason,
        lots,
        counts.returned,
        counts.returned * counts.price_minor,
    )


def shop(*extra: SkuCounts) -> list[SkuCounts]:
    """Eight tees and five mugs, all coming back 5% of the time, and whatever the test adds."""
    tees = [sku(f"TEE-{i}", "apparel", 200, 10) for i in range(8)]
    mugs = [sku(f"MUG-{i}", "home", 300, 15, price=1200) for i in range(5)]
    return [*tees, *mugs, *extra]


def mix_of(skus: list[SkuCounts], **reasons: str) -> list[ReasonCount]:
    return [returns_of(c, reasons.get(c.sku, Reason.NO_LONGER_NEEDED)) for c in skus if c.returned]


def kinds(found: list[Finding], kind: str) -> list[str]:
    return [finding.subject for finding in found if finding.kind == kind]


def test_a_product_far_above_its_category_is_called_out_with_an_action() -> None:
    skus = shop(sku("TEE-X", "apparel", 200, 50))
    found = findings(skus, mix_of(skus))
    assert kinds(found, "sku_excess") == ["TEE-X"]
    (finding,) = [f for f in found if f.kind == "sku_excess"]
    rate = next(r for r in rate_products(skus, mix_of(skus)) if r.sku == "TEE-X")
    # The rest of the category: 80 of 1600 units, 5%.
    assert rate.category_rate == pytest.approx(0.05)
    assert finding.headline == (
        f"SKU TEE-X (Name of TEE-X) comes back {rate.estimate.mean / 0.05:.1f}× as often as "
        f"other products in apparel ({percent(rate.estimate.mean)} vs 5%, 200 units shipped): "
        "check its listing and quality."
    )
    assert finding.action == EXCESS_ACTION
    assert finding.evidence["q_value"] <= 0.05
    assert finding.evidence["interval"][0] > 0.05
    # 50 returned where 5% would have brought back 10: 40 units at 25.00.
    assert finding.severity == 40 * 2500


def test_the_outlier_is_shrunk_toward_its_category_but_stays_above_it() -> None:
    skus = shop(sku("TEE-X", "apparel", 200, 50))
    rate = next(r for r in rate_products(skus, mix_of(skus)) if r.sku == "TEE-X")
    assert rate.estimate.raw == 0.25
    assert 0.05 < rate.estimate.mean < 0.25
    assert rate.frequently_returned and rate.excessive
    assert rate.top_reason == Reason.NO_LONGER_NEEDED


@pytest.mark.parametrize(("shipped", "returned"), [(1, 1), (3, 2), (2, 2), (19, 19)])
def test_a_handful_of_sales_is_never_an_alarm_even_where_nothing_else_comes_back(
    shipped: int, returned: int
) -> None:
    quiet = [sku(f"VASE-{i}", "vases", 500, 0) for i in range(5)]
    skus = [*quiet, sku("VASE-X", "vases", shipped, returned)]
    rate = next(r for r in rate_products(skus, mix_of(skus)) if r.sku == "VASE-X")
    assert rate.category_rate == 0.0
    assert not rate.frequently_returned
    assert kinds(findings(skus, mix_of(skus)), "sku_excess") == []


@SETTINGS
@given(st.integers(1, 2).flatmap(lambda r: st.tuples(st.just(r), st.integers(r, 5000))))
def test_one_or_two_returns_never_flag_a_product(counts: tuple[int, int]) -> None:
    returned, shipped = counts
    skus = shop(sku("TEE-X", "apparel", shipped, returned))
    rate = next(r for r in rate_products(skus, mix_of(skus)) if r.sku == "TEE-X")
    assert not rate.frequently_returned and not rate.excessive


def test_one_bulk_return_is_one_return_not_many() -> None:
    # 24 of 48 units back, in one return of one of two lines of 24: one purchase of two, no
    # pattern. The same units sold and returned two at a time are 12 of 24 purchases.
    bulk = shop(sku("TEE-X", "apparel", 48, 24, lines=2))
    mix = [*mix_of(bulk[:-1]), returns_of(bulk[-1], returns=1)]
    rate = next(r for r in rate_products(bulk, mix) if r.sku == "TEE-X")
    assert (rate.estimate.raw, rate.lot) == (0.5, 24)
    assert kinds(findings(bulk, mix), "sku_excess") == []
    pairs = shop(sku("TEE-X", "apparel", 48, 24, lines=24))
    mix = [*mix_of(pairs[:-1]), returns_of(pairs[-1], returns=12)]
    assert kinds(findings(pairs, mix), "sku_excess") == ["TEE-X"]


def test_a_giant_return_is_one_return_among_the_products_many_sales() -> None:
    # 1,000 units sold on 100 lines, 900 of them back on one return: 1 return of 100
    # purchases, not 90%.
    skus = shop(sku("JAR", "apparel", 1000, 900, lines=100))
    mix = [*mix_of(skus[:-1]), returns_of(skus[-1], returns=1)]
    rate = next(r for r in rate_products(skus, mix) if r.sku == "JAR")
    assert rate.estimate.raw == 0.9
    assert rate.estimate.mean < 0.05
    assert findings(skus, mix) == []


def test_a_product_a_little_above_its_category_is_not_frequently_returned() -> None:
    # 6.5% against 5%: neither material (1.5×) nor credibly above.
    skus = shop(sku("TEE-X", "apparel", 400, 26))
    rate = next(r for r in rate_products(skus, mix_of(skus)) if r.sku == "TEE-X")
    assert not rate.frequently_returned
    assert findings(skus, mix_of(skus)) == []


def test_frequently_returned_needs_the_interval_above_the_category_rate() -> None:
    # 20% raw at 25 units: the interval still reaches down to the category's 5%.
    few = shop(sku("TEE-X", "apparel", 25, 5))
    rate = next(r for r in rate_products(few, mix_of(few)) if r.sku == "TEE-X")
    assert rate.estimate.low <= rate.category_rate
    assert not rate.frequently_returned
    many = shop(sku("TEE-X", "apparel", 250, 50))
    rate = next(r for r in rate_products(many, mix_of(many)) if r.sku == "TEE-X")
    assert rate.estimate.low > rate.category_rate
    assert rate.frequently_returned


def test_a_product_alone_in_its_category_is_compared_with_the_rest_of_the_shop() -> None:
    skus = shop(sku("LAMP", "lighting", 300, 60))
    rate = next(r for r in rate_products(skus, mix_of(skus)) if r.sku == "LAMP")
    # The rest of the shop: 80 + 75 of 1600 + 1500 units.
    assert rate.category_rate == pytest.approx(155 / 3100)
    assert rate.excessive
    (finding,) = [f for f in findings(skus, mix_of(skus)) if f.kind == "sku_excess"]
    assert "as often as other products in the shop (" in finding.headline


def test_a_product_whose_peers_never_come_back_is_said_so() -> None:
    quiet = [sku(f"VASE-{i}", "vases", 500, 0) for i in range(5)]
    skus = [*quiet, sku("VASE-X", "vases", 200, 30)]
    (finding,) = findings(skus, mix_of(skus))
    rate = next(r for r in rate_products(skus, mix_of(skus)) if r.sku == "VASE-X")
    assert finding.headline == (
        f"SKU VASE-X (Name of VASE-X) comes back {percent(rate.estimate.mean)} of the time "
        "while nothing else in vases comes back (200 units shipped): check its listing and "
        "quality."
    )
    assert finding.evidence["ratio"] is None


def test_products_are_listed_most_returned_first() -> None:
    skus = shop(sku("TEE-X", "apparel", 200, 50))
    rates = rate_products(skus, mix_of(skus))
    means = [rate.estimate.mean for rate in rates]
    assert means == sorted(means, reverse=True)
    assert rates[0].sku == "TEE-X"


def test_a_category_far_above_the_rest_of_the_shop_is_called_out() -> None:
    shoes = [sku(f"SHOE-{i}", "shoes", 200, 40, price=6000) for i in range(4)]
    skus = shop(*shoes)
    found = findings(skus, mix_of(skus))
    assert kinds(found, "category_excess") == ["shoes"]
    (finding,) = [f for f in found if f.kind == "category_excess"]
    assert finding.headline.startswith("Category shoes comes back ")
    assert finding.headline.endswith(f"800 units shipped): {CATEGORY_ACTION}.")
    assert kinds(found, "sku_excess") == []  # each shoe is like the other shoes


def test_a_reason_that_dominates_a_products_returns_is_stated_as_its_action() -> None:
    skus = shop(sku("TEE-X", "apparel", 200, 10))
    mix = [
        *mix_of(skus[:-1]),
        ReasonCount("TEE-X", "Name of TEE-X", "apparel", Reason.TOO_SMALL, 7, 7, 17500),
        ReasonCount("TEE-X", "Name of TEE-X", "apparel", Reason.NO_LONGER_NEEDED, 3, 3, 7500),
    ]
    found = [f for f in findings(skus, mix) if f.kind == "reason_concentration"]
    assert [(f.subject, f.label) for f in found] == [("TEE-X", Reason.TOO_SMALL)]
    assert found[0].headline == (
        "70% of returns of SKU TEE-X (Name of TEE-X) say too small: it runs small — "
        "update the size guide."
    )
    assert found[0].action == "update the size guide"
    # None of the other tees' returns said too small: all 7 are beyond their share, worth
    # the product's mean return of 2,500.
    assert found[0].severity == 7 * 2500
    assert found[0].evidence["peer_share"] == 0.0


def test_a_reason_shared_by_the_whole_category_is_said_of_the_category_alone() -> None:
    skus = shop()
    mix = [
        returns_of(c, Reason.TOO_SMALL if c.category == "apparel" else Reason.NO_LONGER_NEEDED)
        for c in skus
    ]
    found = [(c.level, c.subject, c.reason) for c in concentrations(mix)]
    assert found == [("category", "apparel", Reason.TOO_SMALL)]


def test_fewer_than_five_returns_say_nothing_about_reasons() -> None:
    skus = shop(sku("TEE-X", "apparel", 200, 4))
    mix = [*mix_of(skus[:-1]), returns_of(skus[-1], Reason.DEFECTIVE)]
    assert [c.subject for c in concentrations(mix) if c.level == "sku"] == []


@pytest.mark.parametrize(
    ("reason", "said"),
    [
        (Reason.DEFECTIVE, [("TEE-X", Reason.DEFECTIVE)]),
        (Reason.ORDERED_BY_MISTAKE, []),
        (Reason.NO_LONGER_NEEDED, []),
        (Reason.UNSPECIFIED, []),
    ],
)
def test_only_reasons_with_something_to_fix_make_findings(
    reason: Reason, said: list[tuple[str, str]]
) -> None:
    skus = shop(sku("TEE-X", "apparel", 200, 10))
    others = [returns_of(c, Reason.BETTER_PRICE) for c in skus[:-1]]
    mix = [*others, returns_of(skus[-1], reason)]
    found = [(c.subject, c.reason) for c in concentrations(mix) if c.level == "sku"]
    assert found == said


def test_every_reason_has_an_action_and_the_unstated_one_asks_for_none() -> None:
    assert set(REASON_ACTIONS) == set(Reason)
    assert not REASON_ACTIONS[Reason.UNSPECIFIED].fixable
    assert not REASON_ACTIONS[Reason.NO_LONGER_NEEDED].fixable
    assert not REASON_ACTIONS[Reason.ORDERED_BY_MISTAKE].fixable


@pytest.mark.parametrize(
    ("reason", "cause", "action"),
    [
        (Reason.TOO_SMALL, "it runs small", "update the size guide"),
        (Reason.TOO_LARGE, "it runs large", "update the size guide"),
        (
            Reason.STYLE_NOT_AS_EXPECTED,
            "the photos set the wrong expectation",
            "show it truer in the photos and description",
        ),
        (Reason.DEFECTIVE, "units arrive faulty", "raise a quality claim with the supplier"),
        (Reason.NOT_AS_DESCRIBED, "the listing misleads", "fix the photos and description"),
        (Reason.WRONG_ITEM, "the wrong item gets picked", "check picking and bin labels"),
        (Reason.MISSING_PARTS, "parts go missing", "check packing and the supplier's kitting"),
        (
            Reason.QUALITY_NOT_AS_EXPECTED,
            "the quality falls short of the listing",
            "take the quality up with the supplier, or describe it as it is",
        ),
        (Reason.DAMAGED_IN_TRANSIT, "it breaks on the way", "improve the packaging"),
        (
            Reason.ARRIVED_TOO_LATE,
            "delivery is too slow",
            "review the carrier and the delivery times promised",
        ),
        (Reason.BETTER_PRICE, "it is cheaper elsewhere", "check its price against competitors"),
        (Reason.NO_LONGER_NEEDED, "shoppers change their minds", "usually nothing to fix"),
        (Reason.ORDERED_BY_MISTAKE, "shoppers order it by mistake", "usually nothing to fix"),
        (
            Reason.UNAUTHORIZED_PURCHASE,
            "its orders get disputed",
            "send its orders to fraud review",
        ),
        (Reason.UNSPECIFIED, "the reason was never recorded", "nothing to act on"),
    ],
)
def test_each_reason_says_what_it_means_and_what_to_do(
    reason: Reason, cause: str, action: str
) -> None:
    assert (REASON_ACTIONS[reason].cause, REASON_ACTIONS[reason].action) == (cause, action)


def theme(phrase: str, returns: int, skus: tuple[Share, ...], reasons: tuple[Share, ...]) -> Theme:
    categories = (Share("apparel", "apparel", returns),)
    return Theme(phrase, returns, 0.3, skus, categories, reasons, returns * 2500)


def test_a_theme_names_the_product_it_is_about_and_its_reasons_action() -> None:
    runs_small = theme(
        "runs small",
        9,
        (Share("TEE-M", "Tee (M)", 7), Share("TEE-L", "Tee (L)", 2)),
        (Share(Reason.TOO_SMALL, Reason.TOO_SMALL, 8), Share("style", "style", 1)),
    )
    (finding,) = findings([], [], [runs_small])
    assert finding.kind == "theme"
    assert finding.headline == (
        "9 shoppers wrote “runs small” (7 of them about SKU TEE-M (Tee (M))): "
        "update the size guide."
    )
    assert finding.severity == 9 * 2500
    assert finding.evidence["skus"][0] == {"key": "TEE-M", "label": "Tee (M)", "returns": 7}


def test_a_theme_spread_over_products_and_reasons_asks_to_read_the_comments() -> None:
    spread = theme(
        "gift",
        6,
        tuple(Share(f"S{i}", f"S{i}", 1) for i in range(6)),
        (Share(Reason.NO_LONGER_NEEDED, "x", 4), Share(Reason.DEFECTIVE, "y", 2)),
    )
    (finding,) = findings([], [], [spread])
    assert (
        finding.headline == f"6 shoppers wrote “gift” (6 of them about apparel): {COMMENTS_ACTION}."
    )


def test_findings_come_most_valuable_first() -> None:
    skus = shop(sku("TEE-X", "apparel", 200, 50), sku("MUG-X", "home", 300, 40, price=1200))
    found = findings(skus, mix_of(skus))
    assert [f.severity for f in found] == sorted((f.severity for f in found), reverse=True)
    assert {"TEE-X", "MUG-X"} <= set(kinds(found, "sku_excess"))


def test_nothing_to_say_about_a_quiet_shop() -> None:
    assert findings(shop(), mix_of(shop())) == []
    assert findings([], []) == []


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0.18, "18%"), (0.0583, "5.8%"), (0.05, "5%"), (0.004, "0.4%"), (1, "100%")],
)
def test_rates_are_shown_to_two_significant_figures(value: float, shown: str) -> None:
    assert percent(value) == shown


def test_a_category_is_judged_without_the_products_already_called_out() -> None:
    # Two tees far above the rest lift apparel to 1.7× the mugs; without them it is like them.
    skus = shop(sku("TEE-X", "apparel", 200, 50), sku("TEE-Y", "apparel", 200, 50))
    found = findings(skus, mix_of(skus))
    assert kinds(found, "sku_excess") == ["TEE-X", "TEE-Y"]
    assert kinds(found, "category_excess") == []


def test_a_reason_one_product_accounts_for_is_not_said_of_its_category() -> None:
    skus = shop(sku("TEE-X", "apparel", 200, 10))
    mix = [*mix_of(skus[:-1]), returns_of(skus[-1], Reason.TOO_SMALL)]
    found = [(c.level, c.subject) for c in concentrations(mix)]
    assert found == [("sku", "TEE-X")]


def mugs_beside(mug: SkuCounts) -> list[SkuCounts]:
    """A mug beside the only other mug, sold once and never returned, in a shop of tees that
    come back 10% of the time."""
    tees = [sku(f"TEE-{i}", "apparel", 100, 10) for i in range(5)]
    return [mug, sku("MUG-1", "home", 1, 0), *tees]


def test_a_product_whose_peers_sold_once_is_compared_with_the_rest_of_the_shop() -> None:
    # 3 of 20 is the shop's 10% after shrinkage: the other mug's one sale proves nothing.
    skus = mugs_beside(sku("MUG-X", "home", 20, 3))
    rate = next(r for r in rate_products(skus, mix_of(skus)) if r.sku == "MUG-X")
    assert rate.category_rate == pytest.approx(50 / 501)
    assert rate.p_value is not None and rate.p_value > 0.05
    assert not rate.frequently_returned and not rate.excessive
    assert findings(skus, mix_of(skus)) == []


@pytest.mark.parametrize(("shipped", "returned"), [(1, 1), (3, 2), (5, 5), (20, 4)])
def test_a_few_returns_beside_a_peer_sold_once_are_never_an_alarm(
    shipped: int, returned: int
) -> None:
    skus = mugs_beside(sku("MUG-X", "home", shipped, returned))
    assert kinds(findings(skus, mix_of(skus)), "sku_excess") == []
    rate = next(r for r in rate_products(skus, mix_of(skus)) if r.sku == "MUG-X")
    assert not rate.frequently_returned


def test_a_clear_outlier_beside_a_peer_sold_once_is_still_called_out_against_the_shop() -> None:
    skus = mugs_beside(sku("MUG-X", "home", 200, 80))
    (finding,) = [f for f in findings(skus, mix_of(skus)) if f.kind == "sku_excess"]
    assert finding.subject == "MUG-X"
    assert "as often as other products in the shop (" in finding.headline
    assert finding.evidence["peer_rate"] == pytest.approx(50 / 501)


def test_a_category_is_not_called_out_against_a_rest_of_the_shop_of_one_sale() -> None:
    # The whole shop is apparel but for one mug sold once: nothing to compare apparel with.
    skus = [*[sku(f"TEE-{i}", "apparel", 100, 10) for i in range(5)], sku("MUG", "home", 1, 0)]
    assert findings(skus, mix_of(skus)) == []


def test_a_reason_share_against_a_single_peer_return_is_no_finding() -> None:
    # 2 of 5 say defective where the one other return doesn't: nothing that can't be chance.
    mix = [
        ReasonCount("MUG-X", "Mug", "home", Reason.DEFECTIVE, 2, 2, 2000),
        ReasonCount("MUG-X", "Mug", "home", Reason.TOO_LARGE, 3, 3, 3000),
        ReasonCount("MUG-1", "Mug", "home", Reason.TOO_LARGE, 1, 1, 1000),
    ]
    assert concentrations(mix) == []


def test_a_reason_its_few_peers_never_give_is_still_called_out_when_it_is_all_there_is() -> None:
    # 8 of 8 say too small, none of the other 3 returns do: p = 1 / C(11, 3).
    mix = [
        ReasonCount("TEE-X", "Tee", "apparel", Reason.TOO_SMALL, 8, 8, 8000),
        *[
            ReasonCount(f"TEE-{i}", "Tee", "apparel", Reason.NO_LONGER_NEEDED, 1, 1, 1000)
            for i in range(3)
        ],
    ]
    (found,) = concentrations(mix)
    assert (found.subject, found.reason, found.baseline) == ("TEE-X", Reason.TOO_SMALL, 0.0)
    assert found.p_value == pytest.approx(1 / 165)
