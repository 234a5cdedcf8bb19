"""The disposition engine: what one inspected unit nets in every channel, and which to pick.

Every number comes from the recovery terms or the product. Each channel's value is a readable
sum whose parts are rounded to minor units first, so the sentence adds up to the cent. The best
net wins, unless a channel higher in the waste hierarchy (reuse > recycling > disposal) nets
within the file's tolerance of it: then the higher one is preferred, and the explanation says
so. Ties go to the higher tier, then to the channel listed first in ``Disposition``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from reclaim.errors import ValidationFailed
from reclaim.kit.money import Money
from reclaim.returns.states import Disposition, Grade
from reclaim.warehouse.grading import grade_words
from reclaim.warehouse.recovery import (
    Channels,
    DonateChannel,
    RecoveryTerms,
    RecycleChannel,
    RefurbChannel,
    SaleChannel,
    percent_of,
    percent_text,
    to_minor,
)

REUSE, RECYCLING, DISPOSAL = 0, 1, 2
TIER: dict[Disposition, int] = {
    Disposition.RESTOCK: REUSE,
    Disposition.OPEN_BOX: REUSE,
    Disposition.REFURBISH: REUSE,
    Disposition.RETURN_TO_VENDOR: REUSE,
    Disposition.LIQUIDATE: REUSE,
    Disposition.DONATE: REUSE,
    Disposition.RECYCLE: RECYCLING,
    Disposition.DISPOSE: DISPOSAL,
}
TIER_NAME = {REUSE: "reuse", RECYCLING: "recycling", DISPOSAL: "disposal"}
_ORDER = {channel: index for index, channel in enumerate(Disposition)}
_TRUE = frozenset({"yes", "true", "1"})


@dataclass(frozen=True, slots=True)
class Unit:
    key: str  # the caller's id, e.g. str(return_line_id)
    sku: str
    category: str
    currency: str
    price_minor: int
    cost_minor: int
    weight_grams: int
    grade: Grade
    quantity: int = 1
    # Product.attributes: "refurbishable", "vendor", "resale_minor" ({grade: minor units})…
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "grade", Grade(self.grade))
        if self.quantity < 1:
            raise ValidationFailed(f"{self.key}: a unit's quantity is at least 1.")
        if min(self.price_minor, self.cost_minor, self.weight_grams) < 0:
            raise ValidationFailed(f"{self.key}: price, cost and weight can't be negative.")

    def money(self, minor: int) -> str:
        return Money(minor, self.currency).format()


@dataclass(frozen=True, slots=True)
class ChannelValue:
    channel: Disposition
    feasible: bool
    # Per unit, in minor units of the unit's currency.
    gross_minor: int
    cost_minor: int
    net_minor: int
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Recommendation:
    best: Disposition
    options: tuple[ChannelValue, ...]  # every channel: the best, the other feasible, the rest
    explanation: tuple[str, ...]

    def option(self, channel: Disposition) -> ChannelValue:
        return next(option for option in self.options if option.channel == channel)


def location_for(channel: Disposition, terms: RecoveryTerms) -> str:
    """The bin or destination a unit sent this way goes to, as the bin tag prints it."""
    return terms.channels.get(channel).location


def label_of(channel: Disposition, terms: RecoveryTerms) -> str:
    return terms.channels.get(channel).label


# --- one channel's sum -------------------------------------------------------------------------


@dataclass
class _Sum:
    """A channel's value, built as the sentence staff read: gross, minus each cost, → net."""

    unit: Unit
    channel: Disposition
    label: str
    gross: int
    gross_text: str
    costs: list[tuple[str, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def minus(self, text: str, minor: int) -> _Sum:
        if minor:
            self.costs.append((text, minor))
        return self

    def waiting(self, days: int, per_day: Decimal) -> _Sum:
        waiting = to_minor(per_day * days, self.unit.currency)
        return self.minus(f"{days} day{'s' if days != 1 else ''} waiting", waiting)

    def value(self) -> ChannelValue:
        cost = sum(minor for _, minor in self.costs)
        net = self.gross - cost
        line = f"{self.label}: {self.gross_text}"
        if self.costs:
            line += ", minus " + ", ".join(f"{t} {self.unit.money(m)}" for t, m in self.costs)
        line += f" → {self.unit.money(net)}"
        return ChannelValue(self.channel, True, self.gross, cost, net, (*self.notes, line))


def _impossible(channel: Disposition, why: str) -> ChannelValue:
    return ChannelValue(channel, False, 0, 0, 0, (why,))


def _grades_text(grades: frozenset[Grade]) -> str:
    words = [grade_words(g) for g in Grade if g in grades]
    if not words:
        return "no"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _takes(channel: Disposition, label: str, grades: frozenset[Grade], unit: Unit) -> str | None:
    """Why the channel can't take this grade, or None when it can."""
    if unit.grade in grades:
        return None
    return f"{label} takes {_grades_text(grades)} units; this one is {grade_words(unit.grade)}."


def _fee(unit: Unit, sale: int, percent: Decimal, fixed: Decimal) -> tuple[str, int]:
    fixed_minor = to_minor(fixed, unit.currency)
    minor = percent_of(sale, percent) + fixed_minor
    if percent and fixed_minor:
        return f"{percent_text(percent)} + {unit.money(fixed_minor)} fee", minor
    return (f"{percent_text(percent)} fee" if percent else "fee"), minor


def _resale(unit: Unit) -> int | None:
    """The product's own resale price for the unit's grade, when it gives one."""
    prices = unit.attributes.get("resale_minor")
    if not isinstance(prices, Mapping) or unit.grade.value not in prices:
        return None
    price = prices[unit.grade.value]
    if isinstance(price, bool) or not isinstance(price, int) or price < 0:
        raise ValidationFailed(
            f"{unit.sku}: attributes.resale_minor.{unit.grade.value} must be a whole, "
            f"non-negative number of minor units, not {price!r}."
        )
    return price


def _sale(unit: Unit, channel: Disposition, terms: SaleChannel) -> ChannelValue:
    why = _takes(channel, terms.label, terms.grades, unit)
    if why:
        return _impossible(channel, why)
    resale = _resale(unit) if terms.product_resale else None
    if resale is not None:
        gross, text = resale, f"resale price for {grade_words(unit.grade)} {unit.money(resale)}"
    else:
        factor = terms.price_factor[unit.grade]
        gross = percent_of(unit.price_minor, factor)
        text = f"{percent_text(factor)} of {unit.money(unit.price_minor)} = {unit.money(gross)}"
    total = _Sum(unit, channel, terms.label, gross, text)
    return (
        total.minus(*_fee(unit, gross, terms.fee_percent, terms.fixed_fee))
        .minus("handling", to_minor(terms.handling, unit.currency))
        .waiting(terms.days, terms.holding_per_day)
        .value()
    )


def _refurbishable(unit: Unit, terms: RecoveryTerms) -> bool:
    given = unit.attributes.get("refurbishable")
    if isinstance(given, bool):
        return given
    if isinstance(given, str):
        return given.strip().lower() in _TRUE
    return terms.refurbishable(unit.category)


def _refurbish(
    unit: Unit, terms: RefurbChannel, failed: ChannelValue, recovery: RecoveryTerms
) -> ChannelValue:
    channel = Disposition.REFURBISH
    why = _takes(channel, terms.label, terms.grades, unit)
    if why:
        return _impossible(channel, why)
    if not _refurbishable(unit, recovery):
        return _impossible(channel, f"{unit.sku} ({unit.category}) isn't refurbishable.")
    works, fails = terms.success_percent, 100 - terms.success_percent
    factor = terms.price_factor[unit.grade]
    sale = percent_of(unit.price_minor, factor)
    fee_text, fee = _fee(unit, sale, terms.fee_percent, terms.fixed_fee)
    fallback = "recycled" if failed.channel == Disposition.RECYCLE else "disposed of"
    story = (
        f"{terms.label}: {percent_text(works)} come back working and sell at "
        f"{percent_text(factor)} of {unit.money(unit.price_minor)} = {unit.money(sale)}, "
        f"less a {fee_text} of {unit.money(fee)}; the other {percent_text(fails)} are "
        f"{fallback} at {unit.money(failed.net_minor)}."
    )
    gross = percent_of(sale, works) + percent_of(failed.gross_minor, fails)
    total = _Sum(unit, channel, terms.label, gross, f"expected {unit.money(gross)}", notes=[story])
    repair = percent_of(unit.price_minor, terms.cost_percent) + to_minor(terms.cost, unit.currency)
    return (
        total.minus("expected fees", percent_of(fee, works))
        .minus("refurbishing", repair)
        .minus("handling", to_minor(terms.handling, unit.currency))
        .waiting(terms.days, terms.holding_per_day)
        .minus(
            f"costs of the {percent_text(fails)} {fallback}", percent_of(failed.cost_minor, fails)
        )
        .value()
    )


def _return_to_vendor(unit: Unit, channels: Channels, recovery: RecoveryTerms) -> ChannelValue:
    channel = Disposition.RETURN_TO_VENDOR
    terms = channels.return_to_vendor
    name = unit.attributes.get("vendor")
    if not isinstance(name, str) or not name.strip():
        return _impossible(channel, f"{terms.label}: the product names no vendor.")
    vendor = recovery.vendors.get(name.strip())
    if vendor is None:
        return _impossible(channel, f"{terms.label}: no return agreement with {name}.")
    if not vendor.covers(unit.sku, unit.category):
        return _impossible(
            channel, f"{vendor.label}'s agreement doesn't cover {unit.sku} ({unit.category})."
        )
    if unit.grade not in vendor.grades:
        return _impossible(
            channel,
            f"{vendor.label} takes back {_grades_text(vendor.grades)} units; this one is "
            f"{grade_words(unit.grade)}.",
        )
    credit = percent_of(unit.cost_minor, vendor.credit_percent)
    text = (
        f"{vendor.label} credits {percent_text(vendor.credit_percent)} of the cost "
        f"{unit.money(unit.cost_minor)} = {unit.money(credit)}"
    )
    return (
        _Sum(unit, channel, terms.label, credit, text)
        .minus("shipping", to_minor(vendor.shipping, unit.currency))
        .minus("handling", to_minor(terms.handling, unit.currency))
        .waiting(terms.days, terms.holding_per_day)
        .value()
    )


def _donate(unit: Unit, terms: DonateChannel) -> ChannelValue:
    channel = Disposition.DONATE
    why = _takes(channel, terms.label, terms.grades, unit)
    if why:
        return _impossible(channel, why)
    deduction = percent_of(unit.cost_minor, terms.deduction_percent)
    text = (
        f"tax deduction {percent_text(terms.deduction_percent)} of the cost "
        f"{unit.money(unit.cost_minor)} = {unit.money(deduction)}"
    )
    return (
        _Sum(unit, channel, terms.label, deduction, text)
        .minus("handling", to_minor(terms.handling, unit.currency))
        .waiting(terms.days, terms.holding_per_day)
        .value()
    )


def _per_kg(unit: Unit, rate: Decimal) -> tuple[str, int]:
    minor = to_minor(rate * unit.weight_grams / 1000, unit.currency)
    return f"{unit.weight_grams:,} g at {rate:f} {unit.currency}/kg", minor


def _recycle(unit: Unit, terms: RecycleChannel) -> ChannelValue:
    channel = Disposition.RECYCLE
    why = _takes(channel, terms.label, terms.grades, unit)
    if why:
        return _impossible(channel, why)
    text, value = _per_kg(unit, terms.value_per_kg)
    cost_text, cost = _per_kg(unit, terms.cost_per_kg)
    return (
        _Sum(unit, channel, terms.label, value, f"{text} = {unit.money(value)}")
        .minus(f"recycling {cost_text}", cost)
        .minus("handling", to_minor(terms.handling, unit.currency))
        .waiting(terms.days, terms.holding_per_day)
        .value()
    )


def _dispose(unit: Unit, channels: Channels) -> ChannelValue:
    terms = channels.dispose
    cost_text, cost = _per_kg(unit, terms.cost_per_kg)
    return (
        _Sum(unit, Disposition.DISPOSE, terms.label, 0, "nothing recovered")
        .minus(f"disposal {cost_text}", cost)
        .minus("handling", to_minor(terms.handling, unit.currency))
        .waiting(terms.days, terms.holding_per_day)
        .value()
    )


def value_channels(unit: Unit, terms: RecoveryTerms) -> tuple[ChannelValue, ...]:
    """Every channel's value per unit, in ``Disposition`` order; infeasible ones say why."""
    channels = terms.channels_for(unit.category)
    recycle = _recycle(unit, channels.recycle)
    dispose = _dispose(unit, channels)
    # A unit the partner can't repair goes the cheapest end-of-life way it can.
    failed = recycle if recycle.feasible else dispose
    return (
        _sale(unit, Disposition.RESTOCK, channels.restock),
        _sale(unit, Disposition.OPEN_BOX, channels.open_box),
        _refurbish(unit, channels.refurbish, failed, terms),
        _return_to_vendor(unit, channels, terms),
        _sale(unit, Disposition.LIQUIDATE, channels.liquidate),
        _donate(unit, channels.donate),
        recycle,
        dispose,
    )


# --- the pick ----------------------------------------------------------------------------------


def tolerance(unit: Unit, terms: RecoveryTerms) -> int:
    """How much less a higher tier may net per unit and still be preferred."""
    preference = terms.preference
    return max(
        percent_of(unit.price_minor, preference.tolerance_percent),
        to_minor(preference.tolerance, unit.currency),
    )


def ranked(values: tuple[ChannelValue, ...]) -> list[ChannelValue]:
    """Feasible values, highest net first; ties to the higher tier, then the listed order."""
    return sorted(
        (v for v in values if v.feasible),
        key=lambda v: (-v.net_minor, TIER[v.channel], _ORDER[v.channel]),
    )


def _preferred(ranking: list[ChannelValue], allowance: int) -> ChannelValue:
    top = ranking[0]
    for tier in range(TIER[top.channel]):
        for value in ranking:
            if TIER[value.channel] == tier and top.net_minor - value.net_minor <= allowance:
                return value
    return top


def recommend(unit: Unit, terms: RecoveryTerms) -> Recommendation:
    values = value_channels(unit, terms)
    ranking = ranked(values)
    allowance = tolerance(unit, terms)
    chosen = _preferred(ranking, allowance)
    others = [v for v in ranking if v is not chosen]
    options = (chosen, *others, *(v for v in values if not v.feasible))

    def label(value: ChannelValue) -> str:
        return label_of(value.channel, terms)

    top = ranking[0]
    explanation = []
    if chosen is not top:
        preference = terms.preference
        explanation.append(
            f"{TIER_NAME[TIER[chosen.channel]].capitalize()} preferred over "
            f"{TIER_NAME[TIER[top.channel]]}: {label(chosen)} nets "
            f"{unit.money(chosen.net_minor)}, within {unit.money(allowance)} of "
            f"{label(top)}'s {unit.money(top.net_minor)} (the larger of "
            f"{percent_text(preference.tolerance_percent)} of the price and "
            f"{unit.money(to_minor(preference.tolerance, unit.currency))})."
        )
    elif chosen.net_minor >= 0:
        explanation.append(
            f"{label(chosen)} recovers the most: {unit.money(chosen.net_minor)} per unit."
        )
    else:
        explanation.append(
            f"Every way out costs money; {label(chosen)} costs the least: "
            f"{unit.money(-chosen.net_minor)} per unit."
        )
    if others:
        runner_up = others[0]
        gap = chosen.net_minor - runner_up.net_minor
        explanation.append(
            f"Next: {label(runner_up)} at {unit.money(runner_up.net_minor)} ("
            + (f"{unit.money(gap)} less)." if gap >= 0 else f"{unit.money(-gap)} more).")
        )
    if unit.quantity > 1:
        explanation.append(
            f"For all {unit.quantity} units: {unit.money(chosen.net_minor * unit.quantity)}."
        )
    impossible = [label(v) for v in values if not v.feasible]
    if impossible:
        explanation.append(f"Not possible for this unit: {', '.join(impossible)}.")
    return Recommendation(chosen.channel, options, tuple(explanation))
