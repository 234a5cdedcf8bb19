"""The return-risk model's parts: metrics on arrays worked out by hand, calibration that never
reorders, risk bands, order risk from lines, drivers in words, and a small model trained and
stored and read back to the same scores."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reclaim.errors import ValidationFailed
from reclaim.prediction import baselines, boosting, dataset, explain
from reclaim.prediction import features as F
from reclaim.prediction import risk_model as R

SETTINGS = settings(max_examples=100, derandomize=True, database=None, deadline=None)


def test_metrics_match_values_worked_out_by_hand() -> None:
    truth = np.array([0, 0, 1, 1])
    score = np.array([0.1, 0.4, 0.35, 0.8])
    m = boosting.evaluate(truth, score)
    # Pairs (positive above negative): 0.35 > 0.1, 0.8 > both; 0.35 < 0.4 → 3 of 4.
    assert m.roc_auc == pytest.approx(0.75)
    # Ranked 0.8 (hit), 0.4 (miss), 0.35 (hit): precision 1 at recall ½, ⅔ at recall 1.
    assert m.pr_auc == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert m.brier == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    assert (m.rows, m.positives, m.prevalence) == (4, 2, 0.5)


def test_ranking_metrics_are_none_when_only_one_outcome_happened() -> None:
    m = boosting.evaluate(np.array([0, 0, 0]), np.array([0.2, 0.1, 0.3]))
    assert m.roc_auc is None and m.pr_auc is None
    assert m.brier == pytest.approx((0.04 + 0.01 + 0.09) / 3)


@SETTINGS
@given(
    st.lists(st.floats(-6, 6), min_size=20, max_size=200),
    st.integers(0, 2**31 - 1),
)
def test_calibration_is_monotone_so_it_never_reorders(scores: list[float], seed: int) -> None:
    rng = np.random.default_rng(seed)
    raw = np.asarray(scores)
    truth = rng.random(len(raw)) < 1 / (1 + np.exp(-raw))
    if truth.all() or not truth.any():
        truth[0], truth[-1] = True, False
    platt = boosting.Platt.fit(raw, truth)
    grid = np.linspace(-8, 8, 101)
    calibrated = platt.apply(grid)
    assert np.all((calibrated > 0) & (calibrated < 1))
    steps = np.diff(calibrated)
    assert np.all(steps >= 0) or np.all(steps <= 0)


def test_calibration_needs_both_outcomes() -> None:
    with pytest.raises(ValidationFailed):
        boosting.Platt.fit(np.array([0.1, 0.2]), np.array([False, False]))


def test_calibration_learns_the_rate_of_a_known_logistic() -> None:
    rng = np.random.default_rng(7)
    raw = rng.normal(0, 2, 20_000)
    truth = rng.random(len(raw)) < 1 / (1 + np.exp(-(0.5 * raw - 1)))
    platt = boosting.Platt.fit(raw, truth)
    assert platt.slope == pytest.approx(0.5, abs=0.05)
    assert platt.intercept == pytest.approx(-1, abs=0.08)
    assert boosting.Platt.from_dict(platt.as_dict()) == platt


@pytest.mark.parametrize(
    ("probability", "band"),
    [(0.0, "low"), (0.049, "low"), (0.05, "medium"), (0.19, "medium"), (0.2, "high"), (1, "high")],
)
def test_bands_are_low_below_medium_and_high_from_its_threshold(
    probability: float, band: str
) -> None:
    assert boosting.Bands(medium=0.05, high=0.2).of(probability) == band


def test_bands_from_a_holdout_put_a_tenth_in_high_and_the_next_fifth_in_medium() -> None:
    p = np.linspace(0, 1, 1001)
    bands = boosting.Bands.from_holdout(p)
    counted = {b: sum(bands.of(x) == b for x in p) for b in ("low", "medium", "high")}
    assert counted["high"] == pytest.approx(100, abs=2)
    assert counted["medium"] == pytest.approx(200, abs=2)


def test_an_orders_chance_from_its_lines_is_one_minus_every_line_staying() -> None:
    lines = pl.DataFrame({"order": ["A", "A", "B"], "probability": [0.5, 0.2, 0.1]})
    joint = dict(boosting.from_lines(lines).iter_rows())
    assert joint == {"A": pytest.approx(1 - 0.5 * 0.8), "B": pytest.approx(0.1)}


def test_unknown_and_rare_countries_share_the_other_code() -> None:
    countries = pl.Series("country", ["UK"] * 150 + ["FR"] * 120 + ["IS"] * 3 + [None])
    codes = boosting.country_codes(countries)
    assert codes == {"FR": 0, "UK": 1}
    frame = pl.DataFrame({"country": ["UK", "IS", None, "JP"]})
    assert boosting.encode(frame, ["country"], codes)[:, 0].tolist() == [1, 2, 2, 2]


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("cust_return_rate", 0.0612, "the customer's past return rate (lines): 6.1%"),
        ("cust_returns", 14.0, "the customer's earlier returned lines: 14"),
        ("cust_days_since_return", 3.25, "days since the customer's last return: 3.2 days"),
        ("cust_days_since_return", None, "days since the customer's last return: none"),
        ("line_value", 1234.0, "the line's value: 12.34 GBP"),
        ("price_vs_usual", 1.5, "the price against the product's usual price: ×1.50"),
        ("hour", 14.0, "the hour of the day: 14:00"),
        ("weekday", 2.0, "the day of the week: Tuesday"),
        ("country", "EIRE", "the country: EIRE"),
    ],
)
def test_a_driver_reads_as_the_features_words_and_its_value(
    name: str, value: object, words: str
) -> None:
    assert explain.describe(F.ALL_BY_NAME[name], value, "GBP") == words


def test_drivers_are_the_largest_upward_pushes_across_models() -> None:
    line = {"cust_returns": 0.3, "line_value": -0.5, "hour": 0.1}
    order = {"cust_returns": 0.2, "order_value": 0.9, "weekday": 0.0}
    words = explain.drivers(
        [line, order],
        [{"cust_returns": 4, "hour": 9}, {"order_value": 50000, "cust_returns": 4}],
        "GBP",
    )
    assert words == [
        "the order's value: 500.00 GBP",
        "the customer's earlier returned lines: 4",
        "the hour of the day: 09:00",
    ]


# --- a small model, end to end ----------------------------------------------------------------


def synthetic_history(seed: int = 3, customers: int = 60, days: int = 150) -> dataset.History:
    """Customers with their own return habit, products with their own rate: returns follow
    both, so a model has something to find."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1, 9)
    habit = rng.beta(1, 8, customers)
    product_rate = rng.beta(1, 12, 25)
    lines, returns = [], []
    for n in range(customers * 8):
        c = int(rng.integers(customers))
        at = start + timedelta(hours=int(rng.integers(days * 24)))
        for _ in range(int(rng.integers(1, 6))):
            sku = int(rng.integers(25))
            ref = str(len(lines))
            lines.append((ref, f"O{n}", f"C{c}", f"S{sku}", int(rng.integers(1, 5)), 250, at, "UK"))
            if rng.random() < min(0.9, 2 * habit[c] * product_rate[sku] / 0.08 * 0.5):
                back = at + timedelta(days=float(rng.uniform(0.5, 25)))
                returns.append((f"R{ref}", f"C{c}", f"S{sku}", 1, back))
    return dataset.History(
        pl.DataFrame(lines, schema=dataset.LINE_SCHEMA, orient="row"),
        pl.DataFrame(returns, schema=dataset.RETURN_SCHEMA, orient="row"),
    )


@pytest.fixture(scope="module")
def trained() -> tuple[R.RiskModel, pl.DataFrame]:
    h = synthetic_history()
    priors = F.priors_of(h)
    frame = (
        F.line_features(h, priors)
        .join(h.lines.select("line_ref", "at"), on="line_ref")
        .join(dataset.labels(h), on="line_ref")
    )
    return R.fit(frame, priors), frame


def test_a_small_model_learns_customers_and_products_habits(
    trained: tuple[R.RiskModel, pl.DataFrame],
) -> None:
    model, frame = trained
    assert model.holdout["line"]["roc_auc"] > 0.6
    assert model.holdout["order"]["method"] in ("order_model", "from_lines")
    prediction = model.predict(frame)
    assert prediction.lines.shape == (frame.height,)
    assert np.all((prediction.lines > 0) & (prediction.lines < 1))
    assert prediction.orders.height == frame.get_column("order").n_unique()
    shares = model.importances()["line"]
    assert sum(shares.values()) == pytest.approx(1.0)


def test_a_stored_model_reads_back_to_the_same_scores(
    trained: tuple[R.RiskModel, pl.DataFrame],
) -> None:
    model, frame = trained
    again = R.load(R.dump(model))
    first, second = model.predict(frame), again.predict(frame)
    np.testing.assert_allclose(first.lines, second.lines)
    assert first.orders.equals(second.orders)
    assert again.line_bands == model.line_bands and again.priors == model.priors


def test_the_logistic_baseline_scores_every_line(
    trained: tuple[R.RiskModel, pl.DataFrame],
) -> None:
    model, frame = trained
    logistic = baselines.LogisticBaseline.fit(
        frame, frame.get_column("returned").to_numpy(), model.countries
    )
    p = logistic.line_probability(frame)
    assert p.shape == (frame.height,) and np.all((p > 0) & (p < 1))
    assert boosting.evaluate(frame.get_column("returned").to_numpy(), p).roc_auc > 0.5


def test_too_little_history_to_learn_a_part_is_said_plainly() -> None:
    h = synthetic_history(customers=4, days=20)
    priors = F.priors_of(h)
    frame = (
        F.line_features(h, priors)
        .join(h.lines.select("line_ref", "at"), on="line_ref")
        .join(dataset.labels(h), on="line_ref")
        .with_columns(pl.lit(False).alias("returned"))
    )
    with pytest.raises(ValidationFailed, match="Too little history"):
        R.fit(frame, priors)
