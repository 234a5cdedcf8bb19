"""What the dashboard and the report say around the numbers: how each KPI moved and whether
that is better, why a KPI has no value, the period's presets, removable filters and links."""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest

from reclaim.analytics.comparison import change
from reclaim.analytics.definitions import KEYS, KPIS, by_key, format_value
from reclaim.analytics.filters import Filters
from reclaim.analytics.service import KpiValue
from reclaim.web.console import analytics_view as view

SUMMER = Filters.parse(since="2011-06-01", until="2011-08-29", category="Mugs", reason="too_small")


def query(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    return {name: values[0] for name, values in parse_qs(parts.query).items()}


def test_a_share_moves_in_percentage_points_and_up_is_worse_for_the_return_rate() -> None:
    moved = change(by_key("return_rate"), 0.125, 0.10, 90)
    assert moved is not None
    assert (moved.arrow, moved.words, moved.tone) == ("▲", "+2.5 pts", "bad")
    assert moved.spoken == "up 2.5 points on the previous 90 days, worse"


def test_a_share_where_higher_is_better_going_up_is_good() -> None:
    moved = change(by_key("sellable_rate"), 0.9, 0.8, 30)
    assert moved is not None and (moved.words, moved.tone) == ("+10.0 pts", "good")


def test_a_time_moves_in_hours_or_days() -> None:
    faster = change(by_key("refund_cycle_hours"), 40.0, 52.5, 30)
    assert faster is not None
    assert (faster.arrow, faster.words, faster.tone) == ("▼", "−12.5 h", "good")
    slower = change(by_key("transit_days"), 4.0, 3.5, 30)
    assert slower is not None and (slower.words, slower.tone) == ("+0.5 d", "bad")


def test_money_moves_relative_to_what_it_was() -> None:
    moved = change(by_key("cost_per_return"), 1100.0, 1000.0, 30)
    assert moved is not None and (moved.words, moved.tone) == ("+10%", "bad")
    # From nothing, a relative change means nothing: none is shown.
    assert change(by_key("cost_per_return"), 500.0, 0.0, 30) is None


def test_a_change_too_small_to_show_is_no_change() -> None:
    moved = change(by_key("return_rate"), 0.1, 0.1004, 30)
    assert moved is not None
    assert (moved.arrow, moved.words, moved.tone) == ("→", "no change", "flat")


def test_no_value_either_side_is_no_change_at_all() -> None:
    assert change(by_key("return_rate"), None, 0.1, 30) is None
    assert change(by_key("return_rate"), 0.1, None, 30) is None


def _kpis(value: float | None) -> list[KpiValue]:
    return [
        KpiValue(
            defn.key,
            value,
            1.0,
            1.0 if value is not None else 0.0,
            format_value(defn, value, "GBP"),
        )
        for defn in KPIS
    ]


def test_every_kpi_gets_a_tile_and_an_empty_one_says_why() -> None:
    tiles = view.tiles(KPIS, _kpis(None), _kpis(0.5), SUMMER)
    assert [tile.defn.key for tile in tiles] == list(KEYS)
    assert all(tile.value.display == "—" and tile.change is None for tile in tiles)
    assert tiles[0].why_none == "No units were shipped in this period."
    assert set(view.NOTHING_TO_DIVIDE_BY) == set(KEYS)


def test_the_return_rate_sliced_by_facility_says_it_cant_be() -> None:
    by_facility = Filters.parse(since="2011-06-01", until="2011-08-29", facility="WH1")
    (rate, *_) = view.tiles(KPIS, _kpis(None), _kpis(None), by_facility)
    assert rate.why_none is not None and "facility" in rate.why_none


def test_tiles_compare_with_the_period_before() -> None:
    tiles = view.tiles(KPIS, _kpis(0.2), _kpis(0.1), SUMMER)
    assert tiles[0].why_none is None
    assert tiles[0].change is not None and tiles[0].change.words == "+10.0 pts"


def test_presets_end_where_the_period_ends_and_mark_the_one_in_use() -> None:
    presets = view.presets(SUMMER)
    assert [preset.days for preset in presets] == [30, 90, 365]
    assert [query(p.href)["since"] for p in presets] == ["2011-07-31", "2011-06-01", "2010-08-30"]
    assert all(query(p.href)["until"] == "2011-08-29" for p in presets)
    assert [p.current for p in presets] == [False, True, False]
    assert query(presets[0].href)["category"] == "Mugs"  # the slice stays


def test_each_active_filter_is_a_chip_whose_link_drops_only_it() -> None:
    chips = view.chips(SUMMER, {"reason": {"too_small": "Too small"}})
    assert [chip.words for chip in chips] == ["Category: Mugs", "Reason: Too small"]
    dropped = query(chips[0].remove)
    assert "category" not in dropped
    assert dropped == {"since": "2011-06-01", "until": "2011-08-29", "reason": "too_small"}


def test_a_drill_down_link_adds_a_slice_and_keeps_the_rest() -> None:
    href = view.link(SUMMER, sku="85123A & co")
    assert href.startswith(view.DASHBOARD + "?")
    assert query(href) == {
        "since": "2011-06-01",
        "until": "2011-08-29",
        "category": "Mugs",
        "sku": "85123A & co",
        "reason": "too_small",
    }


@pytest.mark.parametrize(
    ("since", "until", "bucket"),
    [
        ("2011-08-01", "2011-08-30", "day"),
        ("2011-06-01", "2011-08-29", "week"),
        ("2010-09-01", "2011-08-31", "week"),
        ("2009-01-01", "2011-08-31", "month"),
    ],
)
def test_the_bucket_keeps_a_chart_readable(since: str, until: str, bucket: str) -> None:
    assert view.bucket(Filters.parse(since=since, until=until)) == bucket


def test_a_span_says_the_year_once_when_it_can() -> None:
    assert view.day_span(date(2011, 3, 3), date(2011, 5, 31)) == "3 Mar – 31 May 2011"
    assert view.day_span(date(2010, 12, 1), date(2011, 2, 28)) == "1 Dec 2010 – 28 Feb 2011"
