"""The dashboard's charts, product rows, finding cards and forecasts, from what the analytics
services report. Pure: their results in, ``charts`` and plain rows out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup

from reclaim.analytics.definitions import by_key, reason_label
from reclaim.analytics.filters import Filters
from reclaim.analytics.findings_service import Finding, ProductRate
from reclaim.analytics.overview import Volume
from reclaim.analytics.service import BreakdownRow, KpiReport, ReasonShare, SeriesPoint
from reclaim.kit.money import Money
from reclaim.prediction.forecast_service import FacilityForecast
from reclaim.returns.states import Reason
from reclaim.web.console import charts
from reclaim.web.console.analytics_view import link
from reclaim.web.console.charts import Bar, Chart, Series, Swatch

RATE = by_key("return_rate")
# What each colour of the reason mix means.
TONE_WORDS = {
    "customer": "Shopper's choice",
    "merchant": "Merchant's fault",
    "carrier": "Carrier's fault",
    "review": "Needs review",
    "secondary": "Reason not stated",
}
CYCLE_KEYS = (
    "refund_cycle_hours",
    "refund_after_first_scan_hours",
    "refund_after_receipt_hours",
    "dock_to_stock_hours",
)
RECOVERY_KEYS = ("sellable_rate", "recovery_rate", "diversion_rate")
FINDING_KINDS = {
    "sku_excess": "Product returned too often",
    "category_excess": "Category returned too often",
    "reason_concentration": "One reason dominates",
    "theme": "What shoppers write",
}
# Rows of the product table, and finding cards, shown at most.
PRODUCTS_SHOWN = 15
FINDINGS_SHOWN = 6


def share(value: float) -> str:
    return f"{value * 100:.0f}%" if value * 100 == round(value * 100) else f"{value * 100:.1f}%"


def whole(value: float) -> str:
    return f"{value:,.0f}"


def period_label(start: date, bucket: str) -> str:
    return f"{start:%b %Y}" if bucket == "month" else f"{start.day} {start:%b}"


# --- over time ----------------------------------------------------------------------------------


def trends(
    points: Sequence[SeriesPoint], volumes: Sequence[Volume], bucket: str
) -> tuple[Chart, Chart]:
    labels = [period_label(point.start, bucket) for point in points]
    rates = [point.values.get("return_rate") for point in points]
    rate = charts.lines(
        "rate",
        f"Return rate by {bucket}",
        f"Return rate of the orders placed each {bucket} of the period.",
        labels,
        [Series("Return rate", rates)],
        share,
    )
    returns = charts.columns(
        "returns",
        f"Returns per {bucket}",
        f"How many returns were asked for each {bucket} of the period.",
        [period_label(volume.start, bucket) for volume in volumes],
        # A return split over slices counts its share in each: tenths show.
        [round(volume.returns, 1) for volume in volumes],
        _count,
        heading="Returns",
    )
    return rate, returns


# --- why and what -------------------------------------------------------------------------------


def reasons(mix: Sequence[ReasonShare], filters: Filters) -> Chart:
    tones = {share.reason: _reason_tone(share) for share in mix}
    return charts.bars(
        "reasons",
        "Why things come back",
        "Share of the returned units by reason, coloured by whose fault the reason is.",
        [
            Bar(
                item.label,
                item.share,
                tones[item.reason],
                href=link(filters, reason=item.reason),
                detail=f"{item.units:,} units",
            )
            for item in mix
        ],
        share,
        legend=[
            Swatch(TONE_WORDS.get(tone, tone), charts.tone(tone))
            for tone in dict.fromkeys(tones.values())
        ],
    )


def _reason_tone(share: ReasonShare) -> str:
    # Imported history that never said why is nobody's fault we know of: grey, not blue.
    return "secondary" if share.reason == Reason.UNSPECIFIED else share.fault


def categories(rows: Sequence[BreakdownRow], overall: float | None, filters: Filters) -> Chart:
    shown = [row for row in rows if row.shipped_units]
    return charts.bars(
        "categories",
        "Return rate by category",
        "Return rate of each category in the period; the dashed line is the rate of the whole "
        "selection.",
        [
            Bar(
                row.label,
                row.kpis.get("return_rate"),
                href=link(filters, category=row.key),
                detail=f"{row.returned_units:,} returned of {row.shipped_units or 0:,} shipped",
            )
            for row in sorted(shown, key=lambda row: -(row.kpis.get("return_rate") or 0))
        ],
        share,
        reference=overall,
        reference_label="Whole selection",
    )


# --- refunds and the warehouse ------------------------------------------------------------------


def cycle(report: KpiReport) -> Chart:
    return charts.bars(
        "cycle",
        "How long refunds and restocking take",
        "Mean hours to the refund, credit or exchange from the request, the first carrier scan "
        "and the receipt, and from receipt back to stock.",
        [
            Bar(by_key(key).title, report.kpi(key).value, "secondary" if i == 3 else "primary")
            for i, key in enumerate(CYCLE_KEYS)
        ],
        _hours,
    )


def _hours(hours: float) -> str:
    return f"{hours:,.1f} h".replace(".0 h", " h") if abs(hours) < 10 else f"{hours:,.0f} h"


def recovery(report: KpiReport, facilities: Sequence[BreakdownRow]) -> Chart:
    """The whole selection's grading and recovery; with several facilities, each one's too."""
    items = [Bar(by_key(key).title, report.kpi(key).value) for key in RECOVERY_KEYS]
    known = [row for row in facilities if row.kpis.get("recovery_rate") is not None]
    if len(known) > 1:
        items += [
            Bar(
                f"{row.label}: recovery",
                row.kpis.get("recovery_rate"),
                "secondary",
                detail=f"sellable {_maybe(row.kpis.get('sellable_rate'))}, "
                f"diverted {_maybe(row.kpis.get('diversion_rate'))}",
            )
            for row in known
        ]
    return charts.bars(
        "recovery",
        "What returned units are worth",
        "Inspected units graded sellable, value recovered over the original price, and "
        "dispositioned units kept out of landfill.",
        items,
        share,
    )


def _maybe(value: float | None) -> str:
    return "—" if value is None else share(value)


# --- products and findings ----------------------------------------------------------------------


@dataclass(frozen=True)
class ProductRow:
    sku: str
    name: str
    category: str
    href: str
    rate: str
    interval: str
    strip: Markup
    returned: str
    shipped: str
    frequent: bool
    top_reason: str | None


def products(rates: Sequence[ProductRate], filters: Filters) -> list[ProductRow]:
    shown = list(rates[:PRODUCTS_SHOWN])
    top = max((rate.estimate.high for rate in shown), default=0.0)
    top = max([top] + [rate.category_rate for rate in shown])
    return [
        ProductRow(
            rate.sku,
            rate.name,
            rate.category,
            link(filters, sku=rate.sku),
            share(rate.estimate.mean),
            f"{share(rate.estimate.low)}–{share(rate.estimate.high)}",
            charts.strip(
                f"strip-{i}",
                rate.name,
                rate.estimate.mean,
                rate.estimate.low,
                rate.estimate.high,
                rate.category_rate,
                top,
                share,
            ),
            f"{rate.estimate.returned:,}",
            f"{rate.estimate.shipped:,}",
            rate.frequently_returned,
            _stated(rate.top_reason),
        )
        for i, rate in enumerate(shown)
    ]


def _stated(reason: str | None) -> str | None:
    """A reason worth showing: "not stated" says nothing about the product."""
    return reason_label(reason) if reason and reason != Reason.UNSPECIFIED else None


@dataclass(frozen=True)
class FindingCard:
    kind: str
    headline: str
    action: str
    label: str
    href: str | None
    stake: str | None
    level: str  # "high", "medium" or "low": how it is marked


def findings(found: Sequence[Finding], filters: Filters, currency: str | None) -> list[FindingCard]:
    shown = sorted(found, key=lambda finding: -finding.severity)[:FINDINGS_SHOWN]
    most = max((finding.severity for finding in shown), default=0)
    return [
        FindingCard(
            FINDING_KINDS.get(finding.kind, finding.kind.replace("_", " ").capitalize()),
            finding.headline,
            finding.action,
            _subject_words(finding),
            _drill(finding, filters),
            Money(finding.severity, currency).format() if currency and finding.severity else None,
            _level(finding.severity, most),
        )
        for finding in shown
    ]


def _level(severity: int, most: int) -> str:
    """High for the findings worth at least half the most valuable one."""
    if not severity:
        return "low"
    return "high" if severity * 2 >= most else "medium"


def _subject_words(finding: Finding) -> str:
    if finding.kind == "reason_concentration":
        return f"{finding.subject} returns for this reason"
    return finding.label if finding.kind == "sku_excess" else finding.subject


def _drill(finding: Finding, filters: Filters) -> str | None:
    """Where the dashboard shows what the finding is about."""
    if finding.kind == "sku_excess":
        return link(filters, sku=finding.subject)
    if finding.kind == "category_excess":
        return link(filters, category=finding.subject)
    if finding.kind == "reason_concentration":
        level = "sku" if finding.evidence.get("level") == "sku" else "category"
        return link(filters, **{level: finding.subject, "reason": finding.evidence.get("reason")})
    return None


# --- the inbound forecast -----------------------------------------------------------------------


@dataclass(frozen=True)
class ForecastCard:
    chart: Chart
    about: str
    weeks: list[tuple[str, str]]  # (the week, returns expected)
    wide: bool  # alone, it spans the page


def forecasts(found: Sequence[FacilityForecast]) -> list[ForecastCard]:
    cards = []
    wide = len(found) == 1
    for i, facility in enumerate(found):
        days = facility.days
        labels = [f"{day.day.day} {day.day:%b}" for day in days]
        chart = charts.lines(
            f"forecast-{i}",
            facility.name,
            f"Returns expected at {facility.name} each day, with the range they will fall in "
            "four days out of five.",
            labels,
            [
                Series(
                    "Expected returns",
                    [day.expected for day in days],
                    low=[float(day.low) for day in days],
                    high=[float(day.high) for day in days],
                )
            ],
            _count,
        )
        weeks = [
            (
                f"Week of {days[start].day.day} {days[start].day:%b}",
                whole(sum(day.expected for day in days[start : start + 7])),
            )
            for start in range(0, len(days), 7)
        ]
        cards.append(ForecastCard(chart, _backtest_words(facility), weeks, wide))
    return cards


def _count(value: float) -> str:
    """A count per day: a tenth shown below ten, where it matters ("7.4", "5", "12")."""
    return f"{value:,.1f}".removesuffix(".0") if abs(value) < 10 else whole(value)


def _backtest_words(facility: FacilityForecast) -> str:
    test = facility.backtest
    words = ""
    if test.mape_model is not None and test.mape_seasonal_naive is not None:
        words = (
            f"Backtest over {test.days} days: off by {share(test.mape_model)} a day on average, "
            f"against {share(test.mape_seasonal_naive)} for “same weekday last week”."
        )
    if facility.note:
        words = f"{words} {facility.note}".strip()
    return words


def drills(chart: Chart, limit: int) -> list[tuple[str, str]]:
    """The first links of a chart's table, in its order: what the page offers under it."""
    return [(row[0].text, row[0].href) for row in chart.rows[:limit] if row[0].href]
