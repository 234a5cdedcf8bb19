"""The policy's decisions: values in, values out, every one explained in the shopper's words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from reclaim.policy.facts import (
    Ask,
    Explanation,
    Item,
    OrderFacts,
    day,
    money,
    percent_of,
    to_minor,
)
from reclaim.policy.pricing import Quote, quote
from reclaim.policy.schema import Policy, RefundTiming, When
from reclaim.returns.states import SHOPPER_METHODS, Method, Resolution


@dataclass(frozen=True, slots=True)
class ItemVerdict:
    """Whether one order line can be returned now, how many units, until when, and why."""

    line_ref: str
    returnable: bool
    quantity: int
    deadline: datetime | None
    explanation: Explanation


def deadline(policy: Policy, delivered_at: datetime, item: Item, tier: str) -> tuple[datetime, str]:
    """The last moment the item may be returned, and the words that say so."""
    window = policy.window
    days = window.skus.get(item.sku, window.categories.get(item.category, window.days))
    extra = window.tier_extra_days.get(tier, 0)
    try:
        last = delivered_at + timedelta(days=days + extra)
    except OverflowError:
        last = datetime.max.replace(tzinfo=delivered_at.tzinfo)
    text = f"Return by {day(last)}"
    if extra:
        text += f" ({extra} extra days as a {tier} member)"
    for holiday in policy.holidays:
        if holiday.delivered_from <= delivered_at.date() <= holiday.delivered_until:
            until = datetime.combine(holiday.return_by, time.max, tzinfo=UTC)
            if until > last:
                last, text = until, f"Return by {day(until)} ({holiday.name})"
    return last, text + "."


def _final_sale(policy: Policy, item: Item) -> bool:
    rules = policy.eligibility
    if item.sku in rules.final_sale_skus or item.category in rules.final_sale_categories:
        return True
    threshold = rules.final_sale_discount_percent
    discount = item.list_minor - item.paid_minor
    return (
        threshold is not None
        and item.list_minor > 0
        and discount * 100 >= threshold * (item.list_minor)
    )


def item_verdict(policy: Policy, order: OrderFacts, item: Item, now: datetime) -> ItemVerdict:
    def no(code: str, text: str) -> ItemVerdict:
        return ItemVerdict(item.line_ref, False, 0, None, Explanation(code, text))

    rules = policy.eligibility
    if (
        not item.returnable
        or item.sku in rules.non_returnable_skus
        or item.category in rules.non_returnable_categories
    ):
        return no("non_returnable", "This item can't be returned.")
    if _final_sale(policy, item):
        return no("final_sale", "Final sale items can't be returned.")
    if order.delivered_at is None or now < order.delivered_at:
        return no("not_delivered", "This item hasn't been delivered yet, so it can't be returned.")
    if item.open_quantity == 0:
        return no("already_returned", "This item is already being returned.")
    last, text = deadline(policy, order.delivered_at, item, order.tier)
    if now > last:
        return ItemVerdict(
            item.line_ref,
            False,
            0,
            last,
            Explanation("window_closed", f"The return window closed on {day(last)}."),
        )
    return ItemVerdict(item.line_ref, True, item.open_quantity, last, Explanation("window", text))


def _matches(when: When, order: OrderFacts, item: Item, ask: Ask | None) -> bool:
    """Does a rule apply to this line? Facts a rule asks about but we don't know yet don't match."""
    if when.categories and item.category not in when.categories:
        return False
    if when.skus and item.sku not in when.skus:
        return False
    if when.tiers and order.tier not in when.tiers:
        return False
    if when.reasons and (ask is None or ask.reason not in when.reasons):
        return False
    if when.faults and (ask is None or ask.fault not in when.faults):
        return False
    value = item.paid_for(ask.quantity if ask else max(item.open_quantity, 1))
    if when.min_value is not None and value < to_minor(when.min_value, order.currency):
        return False
    return not (when.max_value is not None and value > to_minor(when.max_value, order.currency))


@dataclass(frozen=True, slots=True)
class Options:
    """What the shopper may choose for a request, with the rules that narrowed it."""

    methods: frozenset[Method]
    resolutions: dict[str, frozenset[Resolution]]
    explanations: tuple[Explanation, ...]


def options(policy: Policy, order: OrderFacts, asks: Sequence[Ask | Item]) -> Options:
    """Methods allowed for the whole parcel and resolutions allowed per line.

    ``asks`` may be bare items (before the shopper said why), then reason rules don't apply."""
    methods = set(policy.options.methods)
    resolutions: dict[str, frozenset[Resolution]] = {}
    notes: list[Explanation] = []
    for entry in asks:
        ask = entry if isinstance(entry, Ask) else None
        item = order.item(entry.line_ref)
        if item is None:
            continue
        allowed = set(policy.options.resolutions)
        for rule in policy.options.rules:
            if not _matches(rule.when, order, item, ask):
                continue
            if rule.methods is not None:
                methods &= rule.methods
            if rule.resolutions is not None:
                allowed &= rule.resolutions
            if rule.explain and Explanation("option_rule", rule.explain) not in notes:
                notes.append(Explanation("option_rule", rule.explain))
        resolutions[entry.line_ref] = frozenset(allowed)
    return Options(frozenset(methods & SHOPPER_METHODS), resolutions, tuple(notes))


def returnless(policy: Policy, order: OrderFacts, asks: Sequence[Ask]) -> Explanation | None:
    """Why the shopper can keep the items, or ``None`` when they should come back."""
    rules = policy.returnless
    items = [(ask, order.item(ask.line_ref)) for ask in asks]
    pairs = [(ask, item) for ask, item in items if item is not None]
    if not pairs:
        return None
    value = sum(item.paid_for(ask.quantity) for ask, item in pairs)
    if rules.max_value is not None and value > to_minor(rules.max_value, order.currency):
        return None
    if rules.categories and all(item.category in rules.categories for _, item in pairs):
        return Explanation("returnless_category", "Keep the item: there's no need to send it back.")
    if not rules.when_uneconomic:
        return None
    grams = sum(item.weight_grams * ask.quantity for ask, item in pairs)
    units = sum(ask.quantity for ask, _ in pairs)
    cost = (
        to_minor(rules.shipping_cost, order.currency)
        + percent_of(to_minor(rules.shipping_cost_per_kg, order.currency), Decimal(grams) / 10)
        + to_minor(rules.handling_cost_per_unit, order.currency) * units
    )
    recovery = sum(
        percent_of(
            item.paid_for(ask.quantity),
            rules.recovery_percent_by_category.get(item.category, rules.recovery_percent),
        )
        for ask, item in pairs
    )
    if cost >= recovery:
        return Explanation(
            "returnless_uneconomic",
            "Keep the item: sending it back would cost more than it's worth.",
        )
    return None


def review_reasons(policy: Policy, order: OrderFacts, asks: Sequence[Ask]) -> list[str]:
    """Why staff should look before approving, in staff words; empty when nothing trips."""
    rules = policy.review
    why: list[str] = []
    value = sum(
        item.paid_for(ask.quantity)
        for ask in asks
        if (item := order.item(ask.line_ref)) is not None
    )
    if rules.min_return_value is not None:
        threshold = to_minor(rules.min_return_value, order.currency)
        if value >= threshold:
            why.append(
                f"High value: {money(value, order.currency)} "
                f"(review from {money(threshold, order.currency)})"
            )
    if rules.max_recent_returns is not None and order.recent_returns >= rules.max_recent_returns:
        why.append(
            f"{order.recent_returns} other returns in the last {rules.recent_days} days "
            f"(review from {rules.max_recent_returns})"
        )
    for reason in sorted({ask.reason for ask in asks} & rules.reasons):
        why.append(f"Reason needs review: {reason.value.replace('_', ' ')}")
    return why


TIMING_TEXT = {
    RefundTiming.IMMEDIATELY: "You're refunded right away.",
    RefundTiming.AT_FIRST_SCAN: "Your money comes back as soon as the carrier scans your parcel.",
    RefundTiming.AT_RECEIPT: "Your money comes back when your return reaches us.",
    RefundTiming.AFTER_INSPECTION: "Your money comes back once we've checked your return.",
}


def refund_timing(policy: Policy, order: OrderFacts, *, kept: bool, reviewed: bool) -> RefundTiming:
    if kept and not reviewed:
        return RefundTiming.IMMEDIATELY
    if reviewed:  # a return someone had to look at is never paid before it is checked
        return RefundTiming.AFTER_INSPECTION
    return policy.refund_timing.tiers.get(order.tier, policy.refund_timing.default)


class Outcome(StrEnum):
    APPROVE = "approve"
    REVIEW = "review"
    # The policy approves nothing by itself: a person decides.
    MANUAL = "manual"
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    returnless: bool
    refund_timing: RefundTiming
    method: Method | None
    options: Options
    quote: Quote | None
    explanations: tuple[Explanation, ...]
    # Staff words: why a person should look at it.
    review_reasons: tuple[str, ...] = ()
    # Shopper words: why the request can't be accepted as it stands.
    problems: tuple[Explanation, ...] = field(default=())

    @property
    def eligible(self) -> bool:
        return self.outcome is not Outcome.REFUSE

    def record(self, version: str) -> dict[str, Any]:
        """The decision as stored with the return and shown by the API and the console."""
        return {
            "policy_version": version,
            "outcome": self.outcome.value,
            "returnless": self.returnless,
            "refund_timing": self.refund_timing.value,
            "explanations": [{"code": note.code, "text": note.text} for note in self.explanations],
            "review_reasons": list(self.review_reasons),
            "quote": self.quote.record() if self.quote else None,
        }


def decide(
    policy: Policy,
    order: OrderFacts,
    asks: Sequence[Ask],
    method: Method | None,
    now: datetime,
) -> Decision:
    """Everything the policy says about one request: pure, so what-if can replay it."""
    problems: list[Explanation] = []
    notes: list[Explanation] = []
    # Options and the quote keep one answer per line: a line asked twice could add up to more
    # units than are left, or take a resolution another ask's reason ruled out.
    seen: set[str] = set()
    for ask in asks:
        item = order.item(ask.line_ref)
        if item is None:
            problems.append(Explanation("unknown_line", f"The order has no line {ask.line_ref}."))
            continue
        if ask.line_ref in seen:
            problems.append(
                Explanation(
                    "repeated_line",
                    f"{item.name} is asked for twice; put the whole quantity on one line.",
                )
            )
            continue
        seen.add(ask.line_ref)
        verdict = item_verdict(policy, order, item, now)
        if not verdict.returnable:
            problems.append(verdict.explanation)
        elif ask.quantity < 1:
            problems.append(Explanation("quantity", f"Choose at least one {item.name} to return."))
        elif ask.quantity > verdict.quantity:
            problems.append(
                Explanation(
                    "quantity",
                    f"Only {verdict.quantity} of {item.name} can still be returned.",
                )
            )
        elif verdict.explanation not in notes:
            notes.append(verdict.explanation)
    allowed = options(policy, order, asks)
    for ask in asks:
        if (
            ask.line_ref in allowed.resolutions
            and ask.resolution not in allowed.resolutions[ask.line_ref]
        ):
            problems.append(
                Explanation(
                    "resolution_not_offered",
                    f"{ask.resolution.value.replace('_', ' ').capitalize()} isn't offered "
                    "for this item.",
                )
            )
    if method is not None and method not in allowed.methods and method is not Method.KEEP_ITEM:
        problems.append(
            Explanation(
                "method_not_offered",
                f"{method.value.replace('_', ' ').capitalize()} isn't available for this return.",
            )
        )
    if not allowed.methods:
        problems.append(Explanation("no_method", "No way of sending this return back is offered."))
    if problems:
        return Decision(
            Outcome.REFUSE,
            False,
            policy.refund_timing.default,
            method,
            allowed,
            None,
            tuple(notes),
            problems=tuple(problems),
        )
    reviews = review_reasons(policy, order, asks)
    keep = returnless(policy, order, asks)
    timing = refund_timing(policy, order, kept=keep is not None, reviewed=bool(reviews))
    chosen = Method.KEEP_ITEM if keep and not reviews else method
    priced = quote(policy, order, asks, chosen, allowed.methods)
    notes.extend(allowed.explanations)
    if keep and not reviews:
        notes.append(keep)
    notes.extend(priced.explanations)
    if reviews:
        notes.append(
            Explanation(
                "review", "We'll check this return first and tell you within one working day."
            )
        )
        outcome = Outcome.REVIEW
    else:
        outcome = Outcome.APPROVE if policy.auto_approve else Outcome.MANUAL
    notes.append(Explanation(f"timing_{timing.value}", TIMING_TEXT[timing]))
    return Decision(
        outcome,
        keep is not None and not reviews,
        timing,
        chosen,
        allowed,
        priced,
        tuple(notes),
        tuple(reviews),
    )
