"""The KPIs' arithmetic: ratios and means from sums, nothing when there is nothing to divide."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from reclaim.analytics.definitions import KEYS, KPIS, by_key, format_value, reason_label
from reclaim.analytics.kpis import (
    FORMULAS,
    Totals,
    bucket_start,
    bucket_starts,
    by_bucket,
    measure,
    ratio,
    values,
)
from reclaim.errors import ValidationFailed


def test_every_defined_kpi_has_a_formula_and_every_formula_a_definition() -> None:
    assert set(FORMULAS) == set(KEYS)
    assert len(KEYS) == len(KPIS) == 14


def test_a_zero_denominator_gives_no_value_not_zero() -> None:
    assert ratio(0, 0).value is None
    assert ratio(5, 0).value is None
    assert set(values(Totals(), KEYS).values()) == {None}


def test_a_zero_numerator_over_something_is_zero() -> None:
    assert ratio(0, 4).value == 0.0


def test_ratios_keep_their_numerator_and_denominator() -> None:
    totals = Totals(shipped_units=40, cohort_units=6, returned_units=8, faulty_units=2)

    rate = measure("return_rate", totals)
    assert (rate.value, rate.numerator, rate.denominator) == (0.15, 6.0, 40.0)
    assert measure("fault_share", totals).value == 0.25


def test_means_are_sums_over_counts_so_they_add_up_across_slices() -> None:
    monday = Totals(cycle_hours=30.0, cycle_lines=1)
    tuesday = Totals(cycle_hours=90.0, cycle_lines=3)

    assert measure("refund_cycle_hours", monday + tuesday).value == pytest.approx(120 / 4)
    # Not the mean of the two days' means (30 and 30).
    assert measure("refund_cycle_hours", monday).value == 30.0


def test_transit_is_in_days_over_returns() -> None:
    totals = Totals(transit_hours=72.0, transit_returns=1.5)

    transit = measure("transit_days", totals)
    assert transit.value == pytest.approx(2.0)
    assert transit.numerator == 3.0


def test_return_level_rates_take_fractional_returns() -> None:
    # Half of a two-line return, and one whole returnless one.
    totals = Totals(approved=1.5, returnless=1.0, needs_sending=0.5, expired=0.5)

    assert measure("returnless_rate", totals).value == pytest.approx(2 / 3)
    assert measure("no_show_rate", totals).value == 1.0


def test_money_kpis() -> None:
    totals = Totals(
        settled_minor=8000,
        retained_minor=3000,
        price_minor=9000,
        recovered_minor=4900,
        cost_minor=750,
        costed_returns=3.0,
    )

    assert measure("revenue_retained", totals).value == 0.375
    assert measure("recovery_rate", totals).value == pytest.approx(4900 / 9000)
    assert measure("cost_per_return", totals).value == 250.0


def test_unit_rates() -> None:
    totals = Totals(
        graded_units=8,
        sellable_units=3,
        dispositioned_units=8,
        diverted_units=7,
        dock_hours=30.0,
        dock_lines=2,
    )

    assert measure("sellable_rate", totals).value == 0.375
    assert measure("diversion_rate", totals).value == 0.875
    assert measure("dock_to_stock_hours", totals).value == 15.0


def test_totals_from_database_sums_treat_missing_as_zero() -> None:
    totals = Totals.of(
        {"returned_units": Decimal("12"), "approved": Decimal("1.5"), "x": 1, "graded_units": None}
    )

    assert totals == Totals(returned_units=12, approved=1.5)
    assert isinstance(totals.returned_units, int) and isinstance(totals.approved, float)


@pytest.mark.parametrize(
    ("bucket", "day", "start"),
    [
        ("day", date(2026, 3, 4), date(2026, 3, 4)),
        ("week", date(2026, 3, 4), date(2026, 3, 2)),
        ("week", date(2026, 3, 1), date(2026, 2, 23)),
        ("month", date(2026, 3, 31), date(2026, 3, 1)),
    ],
)
def test_bucket_starts_on_the_day_the_monday_or_the_first(
    bucket: str, day: date, start: date
) -> None:
    assert bucket_start(day, bucket) == start  # type: ignore[arg-type]


def test_every_bucket_the_period_touches() -> None:
    assert bucket_starts(date(2026, 1, 31), date(2026, 3, 1), "month") == [
        date(2026, 1, 1),
        date(2026, 2, 1),
        date(2026, 3, 1),
    ]
    assert len(bucket_starts(date(2026, 3, 1), date(2026, 3, 31), "week")) == 6
    assert len(bucket_starts(date(2024, 2, 1), date(2024, 2, 29), "day")) == 29


def test_days_sum_into_their_buckets() -> None:
    daily = {
        date(2026, 3, 2): Totals(shipped_units=2),
        date(2026, 3, 8): Totals(shipped_units=3),
        date(2026, 3, 9): Totals(shipped_units=5),
    }

    assert by_bucket(daily, "week") == {
        date(2026, 3, 2): Totals(shipped_units=5),
        date(2026, 3, 9): Totals(shipped_units=5),
    }


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("return_rate", 0.12345, "12.3%"),
        ("refund_cycle_hours", 69.125, "69.1 h"),
        ("transit_days", 2.0, "2.0 days"),
        ("cost_per_return", 250.0, "2.50 GBP"),
        ("cost_per_return", 433.333, "4.33 GBP"),
        ("diversion_rate", None, "—"),
    ],
)
def test_values_are_shown_in_their_unit(key: str, value: float | None, shown: str) -> None:
    assert format_value(by_key(key), value, "GBP") == shown


def test_money_without_a_currency_is_shown_in_minor_units() -> None:
    assert format_value(by_key("cost_per_return"), 250.0, None) == "250"


def test_an_unknown_kpi_is_refused_by_name() -> None:
    with pytest.raises(ValidationFailed, match="Unknown KPI 'speed'"):
        by_key("speed")


def test_a_reason_reads_as_words_and_imported_history_reads_as_not_stated() -> None:
    assert reason_label("too_small") == "Too small"
    assert reason_label("unspecified") == "Not stated"
