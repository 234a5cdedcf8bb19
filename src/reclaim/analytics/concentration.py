"""Reason concentration: a reason that dominates one product's (or category's) returns far more
than its peers', and what each reason asks the merchant to do about it."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence, Set
from dataclasses import dataclass, replace

from reclaim.analytics.rates import benjamini_hochberg, fisher_greater
from reclaim.returns.states import Reason

FDR = 0.05  # false discovery rate held across every (product or category, reason) tested
# Enough returns to speak of a share, and a large share. A product's peers are the rest of its
# category when they have as many returns, else the rest of the shop.
MIN_REASON_RETURNS = 5
MIN_REASON_SHARE = 0.40
# A category's reason is its own only when no single product holds this share of it.
ONE_PRODUCT = 0.5


@dataclass(frozen=True, slots=True)
class ReasonAction:
    """What a reason says about a product when it dominates its returns, and what to do."""

    says: str
    cause: str
    action: str
    # Change-of-mind reasons point at nothing to repair: they make no finding of their own.
    fixable: bool = True


REASON_ACTIONS: dict[str, ReasonAction] = {
    Reason.TOO_SMALL: ReasonAction("say too small", "it runs small", "update the size guide"),
    Reason.TOO_LARGE: ReasonAction("say too large", "it runs large", "update the size guide"),
    Reason.STYLE_NOT_AS_EXPECTED: ReasonAction(
        "say the style isn't what they expected",
        "the photos set the wrong expectation",
        "show it truer in the photos and description",
    ),
    Reason.DEFECTIVE: ReasonAction(
        "say it's faulty", "units arrive faulty", "raise a quality claim with the supplier"
    ),
    Reason.NOT_AS_DESCRIBED: ReasonAction(
        "say it's not as described", "the listing misleads", "fix the photos and description"
    ),
    Reason.WRONG_ITEM: ReasonAction(
        "say the wrong item came", "the wrong item gets picked", "check picking and bin labels"
    ),
    Reason.MISSING_PARTS: ReasonAction(
        "say parts are missing", "parts go missing", "check packing and the supplier's kitting"
    ),
    Reason.QUALITY_NOT_AS_EXPECTED: ReasonAction(
        "say the quality disappoints",
        "the quality falls short of the listing",
        "take the quality up with the supplier, or describe it as it is",
    ),
    Reason.DAMAGED_IN_TRANSIT: ReasonAction(
        "say it arrived damaged", "it breaks on the way", "improve the packaging"
    ),
    Reason.ARRIVED_TOO_LATE: ReasonAction(
        "say it arrived too late",
        "delivery is too slow",
        "review the carrier and the delivery times promised",
    ),
    Reason.BETTER_PRICE: ReasonAction(
        "say they found a better price",
        "it is cheaper elsewhere",
        "check its price against competitors",
    ),
    Reason.NO_LONGER_NEEDED: ReasonAction(
        "say no longer needed", "shoppers change their minds", "usually nothing to fix", False
    ),
    Reason.ORDERED_BY_MISTAKE: ReasonAction(
        "say ordered by mistake", "shoppers order it by mistake", "usually nothing to fix", False
    ),
    Reason.UNAUTHORIZED_PURCHASE: ReasonAction(
        "say they didn't order it", "its orders get disputed", "send its orders to fraud review"
    ),
    # Imported history that never recorded why: there is nothing in it to act on.
    Reason.UNSPECIFIED: ReasonAction(
        "give no reason", "the reason was never recorded", "nothing to act on", False
    ),
}


@dataclass(frozen=True, slots=True)
class ReasonCount:
    """A product's returns (return lines) for one reason, their units and their value."""

    sku: str
    name: str
    category: str
    reason: str
    returns: int
    units: int
    value_minor: int


@dataclass(frozen=True, slots=True)
class Concentration:
    """A reason that holds a large share of a product's (category's) returns, significantly
    more than among its peers."""

    level: str  # "sku" or "category"
    subject: str
    label: str
    reason: str
    count: int
    total: int
    baseline: float
    value_minor: int  # of the subject's returns
    p_value: float
    q_value: float = 1.0


def concentrations(mix: Sequence[ReasonCount]) -> list[Concentration]:
    """Reasons that hold a large share of a product's (category's) returns, significantly
    more than among the rest of its category (of the shop)."""
    by_sku: dict[str, Counter[str]] = defaultdict(Counter)
    by_category: dict[str, Counter[str]] = defaultdict(Counter)
    shop: Counter[str] = Counter()
    value: dict[tuple[str, str], int] = defaultdict(int)
    about: dict[str, ReasonCount] = {}
    for row in mix:
        by_sku[row.sku][row.reason] += row.returns
        by_category[row.category][row.reason] += row.returns
        shop[row.reason] += row.returns
        value["sku", row.sku] += row.value_minor
        value["category", row.category] += row.value_minor
        about[row.sku] = row
    candidates: list[Concentration] = []
    for sku, reasons in sorted(by_sku.items()):
        rest = by_category[about[sku].category] - reasons
        if rest.total() < MIN_REASON_RETURNS:
            rest = shop - reasons
        label = f"SKU {sku} ({about[sku].name})"
        candidates += _candidates("sku", sku, label, reasons, rest, value["sku", sku])
    # The most returns any one product has for a reason in its category.
    top: dict[tuple[str, str], int] = defaultdict(int)
    for sku, reasons in by_sku.items():
        for reason, count in reasons.items():
            key = (about[sku].category, reason)
            top[key] = max(top[key], count)
    for category, reasons in sorted(by_category.items()):
        # A reason one product mostly accounts for is that product's, not the category's.
        owned = {r for r, count in reasons.items() if top[category, r] >= ONE_PRODUCT * count}
        label = f"category {category}"
        worth = value["category", category]
        candidates += _candidates(
            "category", category, label, reasons, shop - reasons, worth, skip=owned
        )
    q_values = benjamini_hochberg([candidate.p_value for candidate in candidates])
    return [
        replace(candidate, q_value=q)
        for candidate, q in zip(candidates, q_values, strict=True)
        if q <= FDR
    ]


def _candidates(
    level: str,
    subject: str,
    label: str,
    reasons: Counter[str],
    rest: Counter[str],
    worth: int,
    skip: Set[str] = frozenset(),
) -> list[Concentration]:
    total, rest_total = reasons.total(), rest.total()
    if total < MIN_REASON_RETURNS or rest_total == 0:
        return []
    picked = [
        reason
        for reason, count in sorted(reasons.items())
        # Reasons are stored as text: one outside the table has no action to offer.
        if (said := REASON_ACTIONS.get(reason)) is not None
        and said.fixable
        and reason not in skip
        and count / total >= MIN_REASON_SHARE
    ]
    # Fisher's exact test: the peers' share is an estimate too, not a known constant, and the
    # fewer their returns the less a share of them proves; the test is exact at any size.
    p_values = fisher_greater([(reasons[r], total, rest[r], rest_total) for r in picked])
    return [
        Concentration(level, subject, label, r, reasons[r], total, rest[r] / rest_total, worth, p)
        for r, p in zip(picked, p_values, strict=True)
    ]
