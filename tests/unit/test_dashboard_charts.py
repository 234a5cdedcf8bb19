"""The dashboard's charts and rows from the analytics services' results: colours by fault,
drill-down links, intervals, finding cards, and the forecast's weekly totals."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

from reclaim.analytics.filters import Filters
from reclaim.analytics.findings import Finding, ProductRate
from reclaim.analytics.overview import Volume
from reclaim.analytics.rates import RateEstimate
from reclaim.analytics.service import BreakdownRow, ReasonShare, SeriesPoint
from reclaim.prediction.forecast import NO_BACKTEST, ForecastBacktest, ForecastDay
from reclaim.prediction.forecast_service import FacilityForecast
from reclaim.web.console import analytics_charts as drawn
from reclaim.web.console import charts

SUMMER = Filters.parse(since="2011-06-01", until="2011-08-29")


def query(url: str | None) -> dict[str, str]:
    assert url is not None
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def test_reasons_are_coloured_by_whose_fault_they_are_and_link_to_themselves() -> None:
    chart = drawn.reasons(
        [
            ReasonShare("too_small", "Too small", "customer", 30, 0.6),
            ReasonShare("defective", "Defective", "merchant", 20, 0.4),
        ],
        SUMMER,
    )
    assert [row[0].text for row in chart.rows] == ["Too small", "Defective"]
    assert query(chart.rows[1][0].href)["reason"] == "defective"
    assert [row[-1].text for row in chart.rows] == ["30 units", "20 units"]
    assert [(s.label, s.colour) for s in chart.legend] == [
        ("Shopper's choice", charts.TONES["customer"]),
        ("Merchant's fault", charts.TONES["merchant"]),
    ]
    assert f'fill="{charts.TONES["merchant"]}"' in str(chart.svg)


def test_a_reason_never_stated_is_grey_and_called_so() -> None:
    chart = drawn.reasons([ReasonShare("unspecified", "Unspecified", "customer", 9, 1.0)], SUMMER)
    assert [(s.label, s.colour) for s in chart.legend] == [
        ("Reason not stated", charts.TONES["secondary"])
    ]
    assert drawn.drills(chart, 8) == [("Unspecified", chart.rows[0][0].href)]


def _row(key: str, rate: float | None, shipped: int | None = 100) -> BreakdownRow:
    return BreakdownRow(key, key.title(), 10, shipped, {"return_rate": rate})


def test_categories_rank_by_return_rate_against_the_whole_selection() -> None:
    chart = drawn.categories(
        [_row("home", 0.05), _row("apparel", 0.2), _row("gift", None, shipped=0)], 0.1, SUMMER
    )
    # A category that shipped nothing has no rate to compare: it is left out.
    assert [row[0].text for row in chart.rows] == ["Apparel", "Home"]
    assert query(chart.rows[0][0].href)["category"] == "apparel"
    assert chart.rows[0][-1].text == "10 returned of 100 shipped"
    assert chart.legend[-1].label == "Whole selection 10%"


def test_the_trend_charts_have_a_point_and_a_column_per_week() -> None:
    weeks = [date(2011, 5, 30) + timedelta(days=7 * i) for i in range(3)]
    rate, returns = drawn.trends(
        [
            SeriesPoint(week, {"return_rate": r})
            for week, r in zip(weeks, [0.1, None, 0.2], strict=True)
        ],
        [Volume(week, n, int(n)) for week, n in zip(weeks, [4.0, 0.0, 7.5], strict=True)],
        "week",
    )
    assert [c.text for row in rate.rows for c in row] == [
        "30 May",
        "10%",
        "6 Jun",
        "—",
        "13 Jun",
        "20%",
    ]
    assert [row[1].text for row in returns.rows] == ["4", "0", "7.5"]  # a share of a return
    assert rate.title == "Return rate by week" and returns.title == "Returns per week"


def _rate(sku: str, mean: float, frequent: bool = False) -> ProductRate:
    return ProductRate(
        sku,
        f"Product {sku}",
        "home",
        RateEstimate(3, 20, 0.15, mean, mean / 2, mean * 2),
        0.05,
        frequent,
        "too_small",
    )


def test_product_rows_show_the_estimate_its_interval_and_a_link_to_the_sku() -> None:
    rows = drawn.products([_rate("A", 0.2, frequent=True), _rate("B", 0.1)], SUMMER)
    first = rows[0]
    assert (first.rate, first.interval, first.returned, first.shipped) == (
        "20%",
        "10%–40%",
        "3",
        "20",
    )
    assert first.frequent and not rows[1].frequent
    assert first.top_reason == "Too small"
    assert query(first.href)["sku"] == "A"
    assert 'role="img"' in str(first.strip) and "Product A: 20%" in str(first.strip)


def _finding(kind: str, subject: str, severity: int, **evidence: object) -> Finding:
    return Finding(kind, subject, subject, f"About {subject}", "do it", severity, dict(evidence))


def test_finding_cards_most_at_stake_first_each_linked_to_what_it_is_about() -> None:
    cards = drawn.findings(
        [
            _finding("theme", "runs small", 100),
            _finding("category_excess", "Mugs", 5000),
            _finding("reason_concentration", "85123A", 3000, level="sku", reason="too_small"),
            _finding("sku_excess", "22423", 0),
        ],
        SUMMER,
        "GBP",
    )
    assert [card.headline for card in cards] == [
        "About Mugs",
        "About 85123A",
        "About runs small",
        "About 22423",
    ]
    assert [card.level for card in cards] == ["high", "high", "medium", "low"]
    assert cards[0].stake == "50.00 GBP" and cards[3].stake is None
    assert query(cards[0].href)["category"] == "Mugs"
    assert query(cards[1].href) == {
        "since": "2011-06-01",
        "until": "2011-08-29",
        "sku": "85123A",
        "reason": "too_small",
    }
    assert cards[2].href is None
    assert query(cards[3].href)["sku"] == "22423"


def test_a_forecast_has_its_band_its_weekly_totals_and_its_backtest_in_words() -> None:
    start = date(2011, 8, 30)
    days = [ForecastDay(start + timedelta(days=i), 2.5, 1, 5, 2) for i in range(14)]
    tested = ForecastBacktest(3, 84, 80, 0.25, 0.4, 0.2, 0.3)
    (card,) = drawn.forecasts(
        [FacilityForecast("WH1", "North", days, tested, days, NO_BACKTEST, 200, None)]
    )
    assert card.chart.title == "North"
    assert card.weeks == [("Week of 30 Aug", "18"), ("Week of 6 Sep", "18")]
    assert "off by 25% a day on average, against 40%" in card.about
    assert [c.text for c in card.chart.rows[0]] == ["30 Aug", "2.5", "1 – 5"]
