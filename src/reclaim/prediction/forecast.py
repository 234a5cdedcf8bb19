"""Daily inbound returns, for staffing: pure forecasting, daily counts in and forecasts out.

The model, per facility:

- a weekday profile: each weekday's share of a week's returns, weighted toward recent weeks and
  smoothed toward an even week by a prior of one return per weekday. A weekday the facility never
  receives on (a shop that ships nothing on Saturdays) is learnt as about nothing; a new facility
  starts with an even week.
- a weekly level with a damped trend: Holt's method on the totals of the 7-day blocks that end the
  history, its smoothing chosen per facility by the smallest one-week-ahead error on its own past.
- negative-binomial days, with the dispersion measured on the model's own out-of-sample errors
  (rolling origins through the history): intervals are as wide as the model has been wrong.

Units are a compound of returns per day and units per return, the sizes drawn from the facility's
own recent returns, so a wholesale shop whose returns are now and then hundreds of units gets
honest intervals rather than a spike-driven level.

Each day carries the mean ("expected", which adds up over days into totals), the median
("likely", the point forecast for absolute errors, which the backtest scores) and an 80% interval.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

WEEK = 7
COVERAGE = 0.8
# Fewer days than two weeks can't tell a weekday pattern from noise: a flat daily mean instead.
MIN_MODEL_DAYS = 14
# The weekday profile forgets with this half-life: seasons shift which days are busy, slowly.
PROFILE_HALF_LIFE_WEEKS = 13
# Fewer weeks than this can't tell a trend from noise: the level alone, with default smoothing.
MIN_TREND_WEEKS = 8
DEFAULT_SMOOTHING = (0.3, 0.0, 0.9)
LEVEL_SMOOTHING = (0.1, 0.2, 0.3, 0.5)
TREND_SMOOTHING = (0.0, 0.05, 0.15)
DAMPING = (0.8, 0.9, 0.98)
# A week further out than this many robust deviations above the typical week (a recall, a bulk
# cancellation) counts as this much: one flood must not set the level for the weeks after it.
FLOOD_DEVIATIONS = 5.0
# Until the model has been checked on this many out-of-sample days, its dispersion is at least
# WIDE_DISPERSION (a standard deviation about the size of the mean): a wide, honest interval.
MIN_ERROR_DAYS = 28
WIDE_DISPERSION = 1.0
# Units per return come from the facility's recent returns: sizes change with the product mix.
SIZE_WINDOW_DAYS = 182
# Tukey's far-out fence (Q3 + 3 IQR), once there are enough returns for quartiles to mean much.
FAR_OUT = 3.0
RARE_PERCENTILE = 99
MIN_SIZES_FOR_FENCE = 20
SIMULATIONS = 1000
# Above this many returns in one simulated day their units are summed by the normal approximation.
EXACT_SUM_LIMIT = 200
# Any fixed seed: the same history always gives the same forecast.
SEED = 7
BACKTEST_DAYS = 28
BACKTEST_WINDOWS = 3
NOT_ENOUGH_HISTORY = (
    "Not enough history ({days}): a flat daily mean with a wide interval until "
    f"{MIN_MODEL_DAYS} days are known."
)


@dataclass(frozen=True)
class ForecastDay:
    day: date
    expected: float
    low: int
    high: int
    likely: int


@dataclass(frozen=True)
class ForecastBacktest:
    """The model against seasonal naive (the same weekday a week before) on the last windows of
    history, each forecast from only what was known at its start. MAPE counts only days on which
    something arrived (a percentage error of a zero is undefined); WAPE counts every day."""

    windows: int
    days: int
    scored_days: int
    mape_model: float | None
    mape_seasonal_naive: float | None
    wape_model: float | None
    wape_seasonal_naive: float | None


NO_BACKTEST = ForecastBacktest(0, 0, 0, None, None, None, None)


@dataclass(frozen=True)
class History:
    """What one facility received per day, from its first day through the day before the
    forecast: for each day, how many returns brought how many units ({units: returns})."""

    first_day: date
    sizes: tuple[Mapping[int, int], ...]

    @property
    def returns(self) -> np.ndarray:
        return np.array([sum(day.values()) for day in self.sizes], dtype=float)

    @property
    def units(self) -> np.ndarray:
        return np.array([sum(k * n for k, n in day.items()) for day in self.sizes], dtype=float)

    def before(self, days: int) -> History:
        return History(self.first_day, self.sizes[:days])


def history_of(received: Mapping[date, Mapping[int, int]], until: date) -> History:
    """The history from the first day anything arrived through the day before ``until``, days
    on which nothing arrived as zeros."""
    if not received:
        raise ValueError("a history needs at least one day on which something arrived")
    first = min(received)
    days = (until - first).days
    return History(first, tuple(received.get(first + timedelta(days=i), {}) for i in range(days)))


@dataclass(frozen=True)
class Forecast:
    returns: list[ForecastDay]
    units: list[ForecastDay]
    note: str | None


@dataclass(frozen=True)
class _Fit:
    expected: np.ndarray
    dispersion: float
    note: str | None


def seasonal_naive(history: ArrayLike, horizon: int) -> np.ndarray:
    """The same weekday a week before, repeated."""
    known = np.asarray(history, dtype=float)
    if len(known) < WEEK:
        raise ValueError("seasonal naive needs a week of history")
    last_week = known[-WEEK:]
    return np.array([last_week[i % WEEK] for i in range(horizon)])


def mape(actual: ArrayLike, forecast: ArrayLike) -> float | None:
    """Mean absolute percentage error over the days with a non-zero actual, as a fraction."""
    a, f = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    arrived = a > 0
    if not arrived.any():
        return None
    return float(np.mean(np.abs(a[arrived] - f[arrived]) / a[arrived]))


def wape(actual: ArrayLike, forecast: ArrayLike) -> float | None:
    """Weighted absolute percentage error: total absolute error over total actual."""
    a, f = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    total = a.sum()
    return None if total <= 0 else float(np.abs(a - f).sum() / total)


def _weekdays(first_day: date, days: int) -> np.ndarray:
    return (first_day.weekday() + np.arange(days)) % WEEK


def _weekday_profile(counts: np.ndarray, first_day: date) -> np.ndarray:
    """Each weekday's share of a week (Monday first), recent weeks weighing more."""
    age_weeks = (len(counts) - 1 - np.arange(len(counts))) / WEEK
    weight = 0.5 ** (age_weeks / PROFILE_HALF_LIFE_WEEKS)
    weekdays = _weekdays(first_day, len(counts))
    seen = np.bincount(weekdays, weights=weight, minlength=WEEK)
    received = np.bincount(weekdays, weights=weight * counts, minlength=WEEK)
    # Per-day means put weekdays seen more often on the same footing; then one return per
    # weekday of prior, spread as an even week.
    per_day = np.divide(received, seen, out=np.zeros(WEEK), where=seen > 0)
    weeks_seen = seen.sum() / WEEK
    shares = (per_day * weeks_seen + 1.0) / (per_day.sum() * weeks_seen + WEEK)
    return np.asarray(shares / shares.sum())


def _weekly_totals(counts: np.ndarray) -> np.ndarray:
    """Totals of the 7-day blocks that end the history (an incomplete first block is left out)."""
    weeks = len(counts) // WEEK
    totals = counts[len(counts) - weeks * WEEK :].reshape(weeks, WEEK).sum(axis=1)
    median = np.median(totals)
    spread = 1.4826 * np.median(np.abs(totals - median))
    if spread > 0:
        totals = np.minimum(totals, median + FLOOD_DEVIATIONS * spread)
    return np.asarray(totals)


def _weekly_level(totals: np.ndarray, ahead: int) -> np.ndarray:
    """The total of each of the next ``ahead`` weeks by Holt's damped trend, the smoothing the one
    with the smallest one-week-ahead error over the later two thirds of the history."""
    if len(totals) < MIN_TREND_WEEKS:
        grid = np.array([DEFAULT_SMOOTHING])
    else:
        grid = np.array(
            [(a, b, phi) for a in LEVEL_SMOOTHING for b in TREND_SMOOTHING for phi in DAMPING]
        )
    alpha, beta, phi = grid[:, 0], grid[:, 1], grid[:, 2]
    level = np.full(len(grid), totals[0])
    trend = np.zeros(len(grid))
    error = np.zeros(len(grid))
    burn_in = max(1, len(totals) // 3)
    for week, total in enumerate(totals[1:], start=1):
        predicted = level + phi * trend
        if week >= burn_in:
            error += np.abs(total - predicted)
        new_level = alpha * total + (1 - alpha) * predicted
        trend = beta * (new_level - level) + (1 - beta) * phi * trend
        level = new_level
    best = int(np.argmin(error))
    damped = np.cumsum(phi[best] ** np.arange(1, ahead + 1))
    return np.asarray(np.maximum(level[best] + damped * trend[best], 0.0))


def _expected_counts(counts: np.ndarray, first_day: date, horizon: int) -> np.ndarray:
    """The model's mean for each of the next ``horizon`` days (the first is the day after the
    history ends)."""
    profile = _weekday_profile(counts, first_day)
    weeks = _weekly_level(_weekly_totals(counts), -(-horizon // WEEK))
    start = first_day + timedelta(days=len(counts))
    return np.asarray(weeks[np.arange(horizon) // WEEK] * profile[_weekdays(start, horizon)])


def _dispersion(actual: np.ndarray, expected: np.ndarray) -> float:
    """The negative-binomial dispersion (variance = mean + dispersion * mean^2), by moments."""
    busy = expected > 0
    squares = float(np.sum(expected[busy] ** 2))
    if squares == 0:
        return WIDE_DISPERSION
    return max(float(np.sum((actual[busy] - expected[busy]) ** 2 - expected[busy])) / squares, 0.0)


def _out_of_sample_dispersion(counts: np.ndarray, first_day: date) -> float:
    """Dispersion of the model's errors when it forecast the history's own later weeks from
    rolling origins a week apart, four weeks ahead each time."""
    actual, expected = [], []
    for origin in range(MIN_MODEL_DAYS, len(counts), WEEK):
        ahead = min(BACKTEST_DAYS, len(counts) - origin)
        expected.append(_expected_counts(counts[:origin], first_day, ahead))
        actual.append(counts[origin : origin + ahead])
    if not actual:
        return WIDE_DISPERSION
    a, e = np.concatenate(actual), np.concatenate(expected)
    dispersion = _dispersion(a, e)
    return dispersion if len(a) >= MIN_ERROR_DAYS else max(dispersion, WIDE_DISPERSION)


def _fit(counts: np.ndarray, first_day: date, horizon: int) -> _Fit:
    if len(counts) < MIN_MODEL_DAYS:
        mean = float(counts.mean()) if len(counts) else 0.0
        spread = _dispersion(counts, np.full(len(counts), mean))
        days = f"{len(counts)} day" if len(counts) == 1 else f"{len(counts)} days"
        note = NOT_ENOUGH_HISTORY.format(days=days)
        return _Fit(np.full(horizon, mean), max(spread, WIDE_DISPERSION), note)
    expected = _expected_counts(counts, first_day, horizon)
    return _Fit(expected, _out_of_sample_dispersion(counts, first_day), None)


def _negative_binomial(expected: np.ndarray | float, dispersion: float) -> tuple[float, np.ndarray]:
    """scipy's and numpy's (size, success probability) for these means. Poisson is the limit as
    the dispersion goes to 0; a tiny one keeps the same code."""
    size = 1.0 / max(dispersion, 1e-9)
    return size, np.asarray(size / (size + np.asarray(expected)))


def _count_days(expected: np.ndarray, dispersion: float, start: date) -> list[ForecastDay]:
    """Days of a negative-binomial count with these means: median and central interval."""
    tail = (1 - COVERAGE) / 2
    dist = stats.nbinom(*_negative_binomial(expected, dispersion))
    low, likely, high = (dist.ppf(q).astype(int) for q in (tail, 0.5, 1 - tail))
    return [
        ForecastDay(start + timedelta(days=i), round(float(mean), 2), int(lo), int(hi), int(mid))
        for i, (mean, lo, mid, hi) in enumerate(zip(expected, low, likely, high, strict=True))
    ]


def _size_distribution(history: History) -> tuple[np.ndarray, np.ndarray]:
    """Units per return over the recent window (all the history if nothing came in it), and
    how often each size came. A return far larger than the usual ones (beyond Tukey's far-out
    fence on a log scale, and rarer than one in a hundred) counts as that: one bulk cancellation
    of thousands of units must not set the expectation of every day after it."""
    pooled: Counter[int] = Counter()
    for day in history.sizes[-SIZE_WINDOW_DAYS:]:
        pooled.update(day)
    if not pooled:
        for day in history.sizes:
            pooled.update(day)
    sizes = np.array(sorted(pooled), dtype=float)
    counts = np.array([pooled[int(size)] for size in sizes], dtype=float)
    if counts.sum() >= MIN_SIZES_FOR_FENCE:
        each = np.repeat(sizes, counts.astype(int))
        q1, q3 = np.percentile(np.log(each), [25, 75])
        # Both must call it extreme: when most returns are one unit the quartiles coincide,
        # and then a return of two units is not a flood.
        fence = max(np.exp(q3 + FAR_OUT * (q3 - q1)), np.percentile(each, RARE_PERCENTILE))
        sizes = np.minimum(sizes, np.ceil(fence))
    return sizes, counts / counts.sum()


def _simulated_units(
    rng: np.random.Generator, returns: np.ndarray, sizes: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Units in each simulated day, given how many returns it brought."""
    totals = np.zeros(len(returns))
    exact = returns <= EXACT_SUM_LIMIT
    counts = returns[exact].astype(int)
    # Sizes by inverse CDF: one uniform per return (what Generator.choice does, without its
    # per-call checks, which dominate at this many draws).
    cdf = np.cumsum(weights)
    picked = np.searchsorted(cdf, rng.random(int(counts.sum())), side="right")
    draws = sizes[np.minimum(picked, len(sizes) - 1)]
    owner = np.repeat(np.arange(len(counts)), counts)
    totals[exact] = np.bincount(owner, weights=draws, minlength=len(counts))
    many = returns[~exact]
    mean = float(sizes @ weights)
    variance = float(((sizes - mean) ** 2) @ weights)
    noise = rng.standard_normal(len(many))
    totals[~exact] = np.maximum(many * mean + np.sqrt(many * variance) * noise, 0)
    return totals


def _unit_days(fit: _Fit, history: History, start: date) -> list[ForecastDay]:
    """Units per day: simulated returns, each with a size drawn from the recent returns."""
    sizes, weights = _size_distribution(history)
    mean_size = float(sizes @ weights)
    rng = np.random.default_rng(SEED)
    size, success = _negative_binomial(fit.expected, fit.dispersion)
    horizon = len(fit.expected)
    returns = rng.negative_binomial(size, success[:, None], (horizon, SIMULATIONS))
    units = _simulated_units(rng, returns.ravel(), sizes, weights).reshape(horizon, SIMULATIONS)
    tail = (1 - COVERAGE) / 2
    low, likely, high = np.quantile(units, (tail, 0.5, 1 - tail), axis=1, method="inverted_cdf")
    return [
        ForecastDay(
            start + timedelta(days=i),
            round(float(expected * mean_size), 2),
            round(lo),
            round(hi),
            round(mid),
        )
        for i, (expected, lo, mid, hi) in enumerate(
            zip(fit.expected, low, likely, high, strict=True)
        )
    ]


def forecast(history: History, horizon: int) -> Forecast:
    """The next ``horizon`` days after the history, in returns and in units."""
    if not history.sizes:
        raise ValueError("a forecast needs at least one day of history")
    start = history.first_day + timedelta(days=len(history.sizes))
    fit = _fit(history.returns, history.first_day, horizon)
    return Forecast(
        _count_days(fit.expected, fit.dispersion, start), _unit_days(fit, history, start), fit.note
    )


def _likely(days: list[ForecastDay]) -> np.ndarray:
    return np.array([day.likely for day in days], dtype=float)


def _score(
    actual: np.ndarray, model: np.ndarray, naive: np.ndarray, windows: int
) -> ForecastBacktest:
    return ForecastBacktest(
        windows=windows,
        days=len(actual),
        scored_days=int((actual > 0).sum()),
        mape_model=mape(actual, model),
        mape_seasonal_naive=mape(actual, naive),
        wape_model=wape(actual, model),
        wape_seasonal_naive=wape(actual, naive),
    )


def backtest(
    history: History, windows: int = BACKTEST_WINDOWS
) -> tuple[ForecastBacktest, ForecastBacktest]:
    """Rolling origin over the last ``windows`` 28-day windows: returns and units, the model's
    likely value against seasonal naive. Windows need two weeks of history before them."""
    windows = min(windows, max(0, (len(history.sizes) - MIN_MODEL_DAYS) // BACKTEST_DAYS))
    if windows == 0:
        return NO_BACKTEST, NO_BACKTEST
    returns, units = history.returns, history.units
    parts = []
    for k in range(windows, 0, -1):
        origin = len(returns) - k * BACKTEST_DAYS
        window = slice(origin, origin + BACKTEST_DAYS)
        known = forecast(history.before(origin), BACKTEST_DAYS)
        parts.append(
            (
                returns[window],
                _likely(known.returns),
                seasonal_naive(returns[:origin], BACKTEST_DAYS),
                units[window],
                _likely(known.units),
                seasonal_naive(units[:origin], BACKTEST_DAYS),
            )
        )
    r, r_model, r_naive, u, u_model, u_naive = (
        np.concatenate(column) for column in zip(*parts, strict=True)
    )
    return _score(r, r_model, r_naive, windows), _score(u, u_model, u_naive, windows)
