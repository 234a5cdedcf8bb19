"""Filters from what a person typed: defaults, blanks, and every bad value refused by name."""

from __future__ import annotations

from datetime import date

import pytest

from reclaim.analytics.filters import DEFAULT_DAYS, MAX_DAYS, Filters
from reclaim.errors import ValidationFailed

TODAY = date(2026, 6, 30)


def test_no_dates_mean_the_last_90_days_to_today() -> None:
    filters = Filters.parse(today=TODAY)

    assert (filters.since, filters.until) == (date(2026, 4, 2), TODAY)
    assert filters.days == DEFAULT_DAYS == 90


def test_only_a_start_runs_to_today_and_only_an_end_looks_back_90_days() -> None:
    assert Filters.parse(since="2026-06-01", today=TODAY).until == TODAY
    assert Filters.parse(until="2026-01-31", today=TODAY).since == date(2025, 11, 3)
    # A start after today is a period of its one day.
    assert Filters.parse(since="2026-08-01", today=TODAY).until == date(2026, 8, 1)


def test_blanks_mean_any_and_values_are_tidied() -> None:
    filters = Filters.parse(
        since=" 2026-03-01 ",
        until="2026-03-31",
        category="",
        sku="  TEE-M ",
        reason="Too_Small",
        facility="   ",
        currency="gbp",
    )

    assert filters == Filters(
        since=date(2026, 3, 1),
        until=date(2026, 3, 31),
        sku="TEE-M",
        reason="too_small",
        currency="GBP",
    )


def test_dates_may_be_given_as_dates() -> None:
    filters = Filters.parse(since=date(2026, 3, 1), until=date(2026, 3, 1))
    assert filters.days == 1


@pytest.mark.parametrize(
    ("given", "field", "says"),
    [
        ({"since": "2026-13-01"}, "since", "YYYY-MM-DD"),
        ({"until": "yesterday"}, "until", "YYYY-MM-DD"),
        ({"since": "2026-03-31", "until": "2026-03-01"}, "until", r"ends \(2026-03-01\) before"),
        ({"since": "2020-01-01", "until": "2026-01-01"}, "since", "at most 3 years"),
        ({"until": "1969-12-31"}, "until", "between 1970-01-01"),
        ({"since": "3000-01-01"}, "since", "between"),
        ({"reason": "too_big"}, "reason", "Unknown reason 'too_big'"),
        ({"currency": "POUNDS"}, "currency", "three-letter"),
        ({"currency": "G1P"}, "currency", "three-letter"),
        ({"sku": "X" * 65}, "sku", "at most 64"),
        ({"category": "a\x00b"}, "category", "control character"),
    ],
)
def test_bad_values_are_refused_naming_the_field(
    given: dict[str, str], field: str, says: str
) -> None:
    with pytest.raises(ValidationFailed, match=says) as refused:
        Filters.parse(today=TODAY, **given)

    assert refused.value.details["field"] == field


def test_the_longest_period_is_three_years() -> None:
    filters = Filters.parse(since="2023-01-01", until="2025-12-31")
    assert filters.days <= MAX_DAYS


def test_unknown_slices_are_not_an_error() -> None:
    filters = Filters.parse(category="garden gnomes", sku="NOPE", facility="NOWHERE", today=TODAY)
    assert (filters.category, filters.sku, filters.facility) == ("garden gnomes", "NOPE", "NOWHERE")


def test_the_previous_period_is_as_long_and_ends_the_day_before() -> None:
    filters = Filters.parse(since="2026-03-01", until="2026-03-31", category="home")

    before = filters.previous()

    assert (before.since, before.until, before.category) == (
        date(2026, 1, 29),
        date(2026, 2, 28),
        "home",
    )
    assert before.days == filters.days
