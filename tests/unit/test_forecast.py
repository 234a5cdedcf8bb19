"""The inbound forecast's arithmetic: baselines, errors, the model, its intervals and backtest."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from reclaim.prediction.forecast import (
    COVERAGE,
    NO_BACKTEST,
    History,
    backtest,
    forecast,
    history_of,
    mape,
    seasonal_naive,
    wape,
)

MONDAY = date(2024, 1, 1)
# Busy early in the week, quiet on Friday, nothing on Saturday, a trickle on Sunday.
SHOP_WEEK = np.array([1.4, 1.3, 1.1, 1.0, 0.7, 0.0, 0.3])


def weekly_series(
    days: int,
    *,
    per_week: float = 140.0,
    growth: float = 0.0,
    dispersion: float = 0.15,
    seed: int = 1,
    shape: np.ndarray = SHOP_WEEK,
) -> np.ndarray:
    """Negative-binomial daily counts around a weekday shape and a weekly level."""
    rng = np.random.default_rng(seed)
    weekday = np.arange(days) % 7  # MONDAY first
    mean = (per_week + growth * np.arange(days) / 7) * shape[weekday] / shape.sum()
    size = 1 / dispersion
    return rng.negative_binomial(size, size / (size + np.maximum(mean, 1e-12)))


def history(counts: np.ndarray, size: int = 1) -> History:
    """Each day's count as returns of ``size`` units each."""
    return History(MONDAY, tuple({size: int(n)} if n else {} for n in counts))


def test_seasonal_naive_repeats_the_last_week() -> None:
    assert seasonal_naive([9, 9, 1, 2, 3, 4, 5, 6, 7], 9).tolist() == [1, 2, 3, 4, 5, 6, 7, 1, 2]


def test_seasonal_naive_needs_a_whole_week() -> None:
    with pytest.raises(ValueError, match="week"):
        seasonal_naive([1, 2, 3], 7)


def test_mape_counts_only_the_days_on_which_something_arrived() -> None:
    # The zero day's error is left out: |10-5|/10 and |20-30|/20.
    assert mape([0, 10, 20], [5, 5, 30]) == pytest.approx(0.5)
    assert mape([0, 0], [1, 2]) is None


def test_wape_weighs_every_days_error_by_the_total() -> None:
    assert wape([0, 10, 20], [5, 5, 30]) == pytest.approx(20 / 30)
    assert wape([0, 0], [1, 2]) is None


def test_the_model_beats_seasonal_naive_on_a_noisy_weekly_series() -> None:
    returns, _ = backtest(history(weekly_series(300, growth=0.3)))

    assert returns.windows == 3 and returns.days == 84
    assert returns.mape_model is not None and returns.mape_seasonal_naive is not None
    assert returns.wape_model is not None and returns.wape_seasonal_naive is not None
    assert returns.mape_model < returns.mape_seasonal_naive
    assert returns.wape_model < returns.wape_seasonal_naive


def test_the_model_follows_a_weekday_shape_and_a_level() -> None:
    days = forecast(history(weekly_series(280)), 14).returns

    assert [day.day for day in days] == [MONDAY + timedelta(days=280 + i) for i in range(14)]
    week = np.array([day.expected for day in days[:7]])
    assert week.sum() == pytest.approx(140, rel=0.15)
    assert np.argmax(week) == 0 and np.argmin(week) == 5


def test_intervals_hold_about_the_stated_share_of_days() -> None:
    counts = weekly_series(420, dispersion=0.3, seed=7)
    held = []
    for origin in range(140, 420 - 28 + 1, 28):
        days = forecast(history(counts[:origin]), 28).returns
        held += [day.low <= n <= day.high for day, n in zip(days, counts[origin:], strict=False)]

    assert len(held) > 250
    assert COVERAGE - 0.08 <= float(np.mean(held)) <= COVERAGE + 0.12


def test_a_weekday_that_never_receives_is_learnt_as_none() -> None:
    ahead = forecast(history(weekly_series(140), size=3), 7)

    saturday = ahead.returns[5]
    assert saturday.day.weekday() == 5
    assert saturday.expected < 0.2
    assert (saturday.low, saturday.likely, saturday.high) == (0, 0, 0)
    assert (ahead.units[5].low, ahead.units[5].high) == (0, 0)
    assert all(day.high > 0 for i, day in enumerate(ahead.returns) if i != 5)


def test_units_come_as_returns_times_their_sizes() -> None:
    ahead = forecast(history(weekly_series(140), size=4), 7)

    for returns, units in zip(ahead.returns, ahead.units, strict=True):
        assert units.expected == pytest.approx(4 * returns.expected, abs=0.05)
        assert units.likely % 4 == 0 and units.low % 4 == 0 and units.high % 4 == 0
        assert units.low <= units.likely <= units.high


def test_lumpy_units_get_a_wide_range_around_a_typical_day() -> None:
    # Ten returns a day of one unit each, but one return in fifty brings 500: a day brings one
    # such return about one time in six, so the likely day stays small and the range holds it.
    days = [{1: 9, 500: 1} if i % 5 == 0 else {1: 10} for i in range(140)]
    units = forecast(History(MONDAY, tuple(days)), 7).units

    assert all(day.likely < 100 for day in units)
    assert all(day.high >= 500 for day in units)


def test_one_bulk_return_does_not_set_the_expected_units() -> None:
    # Returns of one to three units, and once a cancellation of 50,000.
    days = [{1: 6, 2: 3, 3: 1} for _ in range(140)]
    days[100] = {1: 6, 2: 3, 50_000: 1}
    ahead = forecast(History(MONDAY, tuple(days)), 7)

    for returns, units in zip(ahead.returns, ahead.units, strict=True):
        assert units.expected < 3 * returns.expected


def test_a_few_days_get_a_flat_mean_a_wide_interval_and_a_note() -> None:
    ahead = forecast(history(np.array([4, 6, 5])), 10)

    assert ahead.note is not None and "Not enough history (3 days)" in ahead.note
    assert len(ahead.returns) == 10
    assert {day.expected for day in ahead.returns} == {5.0}
    first = ahead.returns[0]
    assert first.day == MONDAY + timedelta(days=3)
    # Wider than a Poisson's 80% range around 5 (2 to 8).
    assert first.low <= 1 and first.high >= 10
    assert backtest(history(np.array([4, 6, 5]))) == (NO_BACKTEST, NO_BACKTEST)


def test_a_backtest_needs_two_weeks_before_each_window() -> None:
    counts = weekly_series(200)

    assert backtest(history(counts[:41]))[0].windows == 0
    assert backtest(history(counts[:42]))[0].windows == 1
    assert backtest(history(counts[:70]))[0].windows == 2
    assert backtest(history(counts))[0].windows == 3


def test_the_forecast_is_the_same_every_time() -> None:
    past = history(weekly_series(100), size=2)

    assert forecast(past, 28) == forecast(past, 28)


def test_history_fills_quiet_days_and_starts_at_the_first_arrival() -> None:
    received = {date(2024, 3, 4): {1: 2}, date(2024, 3, 7): {2: 1, 5: 1}}

    past = history_of(received, date(2024, 3, 9))

    assert past.first_day == date(2024, 3, 4)
    assert past.returns.tolist() == [2, 0, 0, 2, 0]
    assert past.units.tolist() == [2, 0, 0, 7, 0]


def test_a_history_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError):
        history_of({}, date(2024, 3, 9))
    with pytest.raises(ValueError):
        forecast(History(MONDAY, ()), 7)
