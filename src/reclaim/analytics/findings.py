"""Root-cause findings, stated as actions: products and categories that come back abnormally
often for their peers, reasons that concentrate on one of them, and themes in shoppers'
comments; and every product's return rate with its uncertainty.

Pure: counts in, findings out. ``findings_service`` reads the counts; ``docs/findings.md``
explains the method and the thresholds.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from reclaim.analytics.concentration import (
    FDR,
    REASON_ACTIONS,
    Concentration,
    ReasonCount,
    concentrations,
)
from reclaim.analytics.rates import (
    NO_EVIDENCE,
    Evidence,
    Prior,
    RateEstimate,
    benjamini_hochberg,
    estimates,
    excess_p_values,
    fit_prior,
)
from reclaim.analytics.themes import Share, Theme

# "Materially above" its peers: half as often again, and at least a point more.
MATERIAL_RATIO = 1.5
MIN_EXCESS = 0.01
# Volume before anything is called out, in returns and purchases, not units: one return of one
# sale, or two of three, or one bulk return, is never an alarm.
MIN_RETURNS = 3
MIN_SHIPPED = 20
# A theme, or a reason behind it, names what most of its returns are about.
FOCUS = 0.5
KIND_ORDER = ("sku_excess", "reason_concentration", "category_excess", "theme")
EXCESS_ACTION = "check its listing and quality"
CATEGORY_ACTION = "look for what its products share: supplier, sizing, listings"
COMMENTS_ACTION = "read these comments"


@dataclass(frozen=True, slots=True)
class SkuCounts:
    """A product's units shipped in the period's cohort, the order lines they were sold on,
    and the units of them returned."""

    sku: str
    name: str
    category: str
    shipped: int
    returned: int
    price_minor: int
    shipped_lines: int


@dataclass(frozen=True, slots=True)
class ProductRate:
    """A product's return rate with its uncertainty, against the rest of its category."""

    sku: str
    name: str
    category: str
    estimate: RateEstimate
    # The rate of the other products in its category (of the rest of the shop when they have
    # too few purchases to tell), in returns per purchase: what it is compared with.
    category_rate: float
    frequently_returned: bool
    top_reason: str | None
    # Mean units per purchase (order line): how units were counted as purchases.
    lot: float = 1.0
    p_value: float | None = None
    q_value: float | None = None
    # Frequently returned, and still significant with the false discovery rate held.
    excessive: bool = False


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # one of KIND_ORDER
    subject: str  # a SKU, a category or a phrase
    label: str
    headline: str
    action: str
    # The value at stake, in minor units: the price of the units returned beyond what the
    # peers' rate would bring back (for a theme, of the returns that use it).
    severity: int
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Group:
    """A product or a category, and the parent (category, or shop) it is compared with."""

    key: str
    parent: str
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class _Rated:
    estimate: RateEstimate
    # The rest of its parent's returns per purchase: what it is compared with.
    baseline: float
    # Its parent's rest too small to tell: compared with the rest of everything instead.
    alone: bool
    evidence: Evidence
    p_value: float | None
    q_value: float | None

    @property
    def frequent(self) -> bool:
        """Credibly and materially above its peers, with the volume to say so."""
        found, trials = self.evidence.counted()
        return (
            found >= MIN_RETURNS
            and trials >= MIN_SHIPPED
            and self.estimate.low > self.baseline
            and self.estimate.mean >= MATERIAL_RATIO * self.baseline
            and self.estimate.mean - self.baseline >= MIN_EXCESS
        )

    @property
    def excessive(self) -> bool:
        return self.frequent and self.q_value is not None and self.q_value <= FDR

    def details(self) -> dict[str, Any]:
        found = self.estimate
        return {
            "returned_units": found.returned,
            "shipped_units": found.shipped,
            "returns": self.evidence.counted()[0],
            "units_per_purchase": self.evidence.lot,
            "raw_rate": found.raw,
            "rate": found.mean,
            "interval": [found.low, found.high],
            "peer_rate": self.baseline,
            "ratio": found.mean / self.baseline if self.baseline else None,
            "p_value": self.p_value,
            "q_value": self.q_value,
        }


def _evidence(skus: Sequence[SkuCounts], mix: Sequence[ReasonCount]) -> dict[str, Evidence]:
    """Each product's returns out of its purchases (order lines) shipped. Returned units become
    returns at the product's mean units per return in the period; a product with none takes
    the median product's, which one giant return elsewhere can't move."""
    returns: dict[str, int] = defaultdict(int)
    units: dict[str, int] = defaultdict(int)
    for row in mix:
        returns[row.sku] += row.returns
        units[row.sku] += row.units
    lots = {sku: max(units[sku] / count, 1.0) for sku, count in returns.items() if count}
    typical = median(lots.values()) if lots else 1.0
    return {
        c.sku: Evidence(
            c.returned,
            c.shipped,
            min(c.returned / lots.get(c.sku, typical), c.shipped_lines),
            float(c.shipped_lines),
        )
        for c in skus
    }


def _rate(groups: Sequence[_Group], priors: Mapping[str, Prior]) -> list[_Rated]:
    """Each group against the rest of its parent, or against the rest of everything when its
    parent's rest is too small to say what its peers' rate is; tested one-sided and exact,
    with q-values across every group tested. With too little to compare with even then (a
    shop of a few sales), a group is held against its prior's mean and not tested."""
    parents: dict[str, Evidence] = defaultdict(lambda: NO_EVIDENCE)
    for group in groups:
        parents[group.parent] += group.evidence
    everything = sum((group.evidence for group in groups), NO_EVIDENCE)
    rests: list[Evidence | None] = []
    alone: list[bool] = []
    for group in groups:
        rest = parents[group.parent] - group.evidence
        alone.append(rest.purchases < MIN_SHIPPED)
        if alone[-1]:
            rest = everything - group.evidence
        tested = rest.purchases >= MIN_SHIPPED and group.evidence.shipped > 0
        rests.append(rest if tested else None)
    tests = [(i, g, r) for i, (g, r) in enumerate(zip(groups, rests, strict=True)) if r is not None]
    p_values = excess_p_values([(g.evidence, r) for _, g, r in tests])
    q_values = benjamini_hochberg(p_values)
    tested_at = {i: (p, q) for (i, _, _), p, q in zip(tests, p_values, q_values, strict=True)}
    found = estimates([(g.evidence, priors[g.parent]) for g in groups])
    return [
        _Rated(
            found[i],
            priors[group.parent].mean if rest is None else rest.rate,
            alone[i],
            group.evidence,
            *tested_at.get(i, (None, None)),
        )
        for i, (group, rest) in enumerate(zip(groups, rests, strict=True))
    ]


def _weighed(groups: Sequence[_Group]) -> list[tuple[float, float]]:
    return [(group.evidence.returns, group.evidence.purchases) for group in groups]


def rate_products(skus: Sequence[SkuCounts], mix: Sequence[ReasonCount]) -> list[ProductRate]:
    """Every product's rate, shrunk toward its category's prior, most returned first."""
    rates = [rate for rate, _ in _rate_products(skus, mix, _evidence(skus, mix))]
    return sorted(rates, key=lambda rate: (-rate.estimate.mean, rate.sku))


def _rate_products(
    skus: Sequence[SkuCounts], mix: Sequence[ReasonCount], weighed: Mapping[str, Evidence]
) -> list[tuple[ProductRate, _Rated]]:
    groups = [_Group(c.sku, c.category, weighed[c.sku]) for c in skus]
    shop = fit_prior(_weighed(groups))
    priors = {
        category: fit_prior(_weighed([g for g in groups if g.parent == category]), fallback=shop)
        for category in {group.parent for group in groups}
    }
    top = _top_reasons(mix)
    return [
        (
            ProductRate(
                sku=counts.sku,
                name=counts.name,
                category=counts.category,
                estimate=rated.estimate,
                category_rate=rated.baseline,
                frequently_returned=rated.frequent,
                top_reason=top.get(counts.sku),
                lot=rated.evidence.lot,
                p_value=rated.p_value,
                q_value=rated.q_value,
                excessive=rated.excessive,
            ),
            rated,
        )
        for counts, rated in zip(skus, _rate(groups, priors), strict=True)
    ]


def _top_reasons(mix: Sequence[ReasonCount]) -> dict[str, str]:
    by_sku: dict[str, Counter[str]] = defaultdict(Counter)
    for row in mix:
        by_sku[row.sku][row.reason] += row.returns
    return {
        sku: min(reasons.items(), key=lambda item: (-item[1], item[0]))[0]
        for sku, reasons in by_sku.items()
        if reasons
    }


def findings(
    skus: Sequence[SkuCounts], mix: Sequence[ReasonCount], comment_themes: Sequence[Theme] = ()
) -> list[Finding]:
    """Every finding, the most valuable first."""
    weighed = _evidence(skus, mix)
    price = {counts.sku: counts.price_minor for counts in skus}
    excessive = [pair for pair in _rate_products(skus, mix, weighed) if pair[0].excessive]
    out = [_product_finding(rate, rated, price[rate.sku]) for rate, rated in excessive]
    # A category is judged without the products already called out: one bad product is
    # that product's finding, not its category's.
    called_out = {rate.sku for rate, _ in excessive}
    out += _category_findings([c for c in skus if c.sku not in called_out], weighed)
    out += [_concentration_finding(found) for found in concentrations(mix)]
    out += [_theme_finding(theme) for theme in comment_themes]
    kinds = {kind: index for index, kind in enumerate(KIND_ORDER)}
    return sorted(out, key=lambda f: (-f.severity, kinds[f.kind], f.subject, f.label))


def percent(value: float) -> str:
    """Two significant figures at most: 18%, 5.8%, 0.4%."""
    shown = value * 100
    return f"{shown:.0f}%" if shown >= 9.95 else f"{shown:.1f}%".replace(".0%", "%")


def _excess_value(found: Evidence, baseline: float, unit_price: float) -> int:
    """The returns beyond the peers' rate, each a purchase's worth of units at the price."""
    beyond = found.returns - found.purchases * baseline
    return max(round(beyond * found.lot * unit_price), 0)


def _compared(found: RateEstimate, base: float, others: str, nothing_else: str) -> str:
    """ "3.1× as often as <others> (18% vs 5.8%, 410 units shipped)"."""
    shipped = f"{found.shipped:,} units shipped"
    if not base:
        return f"{percent(found.mean)} of the time while {nothing_else} comes back ({shipped})"
    return (
        f"{found.mean / base:.1f}× as often as {others} "
        f"({percent(found.mean)} vs {percent(base)}, {shipped})"
    )


def _product_finding(rate: ProductRate, rated: _Rated, price_minor: int) -> Finding:
    found, base = rate.estimate, rate.category_rate
    where = "the shop" if rated.alone else rate.category
    compared = _compared(found, base, f"other products in {where}", f"nothing else in {where}")
    headline = f"SKU {rate.sku} ({rate.name}) comes back {compared}: {EXCESS_ACTION}."
    return Finding(
        kind="sku_excess",
        subject=rate.sku,
        label=rate.name,
        headline=headline,
        action=EXCESS_ACTION,
        severity=_excess_value(rated.evidence, base, price_minor),
        evidence={**rated.details(), "category": rate.category, "price_minor": price_minor},
    )


def _category_findings(skus: Sequence[SkuCounts], weighed: Mapping[str, Evidence]) -> list[Finding]:
    """Categories against the rest of the shop, the same way products face their category;
    a category's evidence is the sum of its products'."""
    totals: dict[str, Evidence] = defaultdict(lambda: NO_EVIDENCE)
    value: dict[str, int] = defaultdict(int)
    for counts in skus:
        totals[counts.category] += weighed[counts.sku]
        value[counts.category] += counts.shipped * counts.price_minor
    names = sorted(totals)
    groups = [_Group(name, "", totals[name]) for name in names]
    priors = {"": fit_prior(_weighed(groups))}
    out = []
    for name, rated in zip(names, _rate(groups, priors), strict=True):
        if not rated.excessive:
            continue
        found, base = rated.estimate, rated.baseline
        price = value[name] / found.shipped
        compared = _compared(found, base, "the rest of the shop", "nothing else in the shop")
        out.append(
            Finding(
                kind="category_excess",
                subject=name,
                label=name,
                headline=f"Category {name} comes back {compared}: {CATEGORY_ACTION}.",
                action=CATEGORY_ACTION,
                severity=_excess_value(rated.evidence, base, price),
                evidence={**rated.details(), "mean_price_minor": round(price)},
            )
        )
    return out


def _concentration_finding(found: Concentration) -> Finding:
    said = REASON_ACTIONS[found.reason]
    share = found.count / found.total
    # The returns beyond the peers' share, valued at this subject's mean return.
    excess = (found.count - found.total * found.baseline) * found.value_minor / found.total
    return Finding(
        kind="reason_concentration",
        subject=found.subject,
        label=found.reason,
        headline=f"{percent(share)} of returns of {found.label} {said.says}: {said.cause} — "
        f"{said.action}.",
        action=said.action,
        severity=max(round(excess), 0),
        evidence={
            "level": found.level,
            "reason": found.reason,
            "returns": found.count,
            "of_returns": found.total,
            "share": share,
            "peer_share": found.baseline,
            "p_value": found.p_value,
            "q_value": found.q_value,
        },
    )


def _focus(shares: Sequence[Share], total: int) -> Share | None:
    return shares[0] if shares and shares[0].returns >= FOCUS * total else None


def _theme_finding(theme: Theme) -> Finding:
    about = ""
    if (sku := _focus(theme.skus, theme.returns)) is not None:
        about = f" ({sku.returns} of them about SKU {sku.key} ({sku.label}))"
    elif (category := _focus(theme.categories, theme.returns)) is not None:
        about = f" ({category.returns} of them about {category.key})"
    reason = _focus(theme.reasons, theme.returns)
    said = REASON_ACTIONS.get(reason.key) if reason is not None else None
    action = said.action if said is not None and said.fixable else COMMENTS_ACTION
    return Finding(
        kind="theme",
        subject=theme.phrase,
        label=theme.phrase,
        headline=f"{theme.returns} shoppers wrote “{theme.phrase}”{about}: {action}.",
        action=action,
        severity=theme.value_minor,
        evidence={
            "returns": theme.returns,
            "share": theme.share,
            **{
                name: [{"key": s.key, "label": s.label, "returns": s.returns} for s in shares[:5]]
                for name, shares in (
                    ("skus", theme.skus),
                    ("categories", theme.categories),
                    ("reasons", theme.reasons),
                )
            },
        },
    )
