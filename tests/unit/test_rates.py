"""Return rates with uncertainty: the Beta prior, the posterior and its interval, the excess
test (Fisher's) and the false discovery rate, on numbers that can be checked by hand."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import fisher_exact

from reclaim.analytics.rates import (
    MAX_CONCENTRATION,
    MIN_CONCENTRATION,
    NO_EVIDENCE,
    Evidence,
    Prior,
    benjamini_hochberg,
    estimate,
    excess_p_value,
    fisher_greater,
    fit_prior,
    weak_prior,
)

SETTINGS = settings(max_examples=200, derandomize=True, database=None, deadline=None)


def test_a_prior_has_a_mean_and_is_worth_its_concentration_in_units() -> None:
    prior = Prior.around(0.2, 50)
    assert (prior.alpha, prior.beta) == pytest.approx((10, 40))
    assert prior.mean == pytest.approx(0.2)
    assert prior.concentration == pytest.approx(50)


def test_the_prior_is_fitted_by_the_method_of_moments_weighted_by_volume() -> None:
    # 21 of 150 units: mean 0.14. Rates 0.08, 0.12, 0.22 spread sum(n (p - m)^2) = 50 *
    # (0.0036 + 0.0004 + 0.0064) = 0.52. Kleinman: rho = (0.52 / (0.14 * 0.86) - 2) / (150 -
    # 50 - 2), and the concentration is 1 / rho - 1.
    rho = (0.52 / (0.14 * 0.86) - 2) / 98
    prior = fit_prior([(4, 50), (6, 50), (11, 50)])
    assert prior.mean == pytest.approx(0.14)
    assert prior.concentration == pytest.approx(1 / rho - 1)
    assert prior.concentration == pytest.approx(41.26, abs=0.01)


def test_groups_that_vary_no_more_than_chance_get_the_strongest_prior() -> None:
    prior = fit_prior([(5, 100), (5, 100), (5, 100), (5, 100)])
    assert prior.mean == pytest.approx(0.05)
    assert prior.concentration == MAX_CONCENTRATION


def test_wildly_different_groups_still_get_a_prior_worth_the_minimum() -> None:
    prior = fit_prior([(0, 100), (100, 100), (0, 100), (50, 100)])
    assert prior.concentration == MIN_CONCENTRATION
    assert prior.mean == pytest.approx(0.375)


@pytest.mark.parametrize(
    "counts",
    [
        pytest.param([(3, 40)], id="one product"),
        pytest.param([(3, 40), (9, 40)], id="two products"),
        pytest.param([(0, 40), (0, 10), (0, 25)], id="no returns"),
        pytest.param([(4, 4), (2, 2), (9, 9)], id="everything returned"),
        pytest.param([(0, 0), (0, 0), (3, 30)], id="products with no sales don't count"),
    ],
)
def test_a_category_that_cannot_show_a_spread_falls_back_to_the_shops_prior(
    counts: list[tuple[int, int]],
) -> None:
    shop = Prior.around(0.06, 200)
    assert fit_prior(counts, fallback=shop) == pytest.approx(shop)


def test_a_fallback_weaker_than_the_floor_is_strengthened_to_it() -> None:
    prior = fit_prior([(1, 10)], fallback=Prior(0.1, 0.9))
    assert prior.mean == pytest.approx(0.1)
    assert prior.concentration == MIN_CONCENTRATION


def test_without_a_fallback_the_prior_is_weak_at_the_pooled_rate_smoothed_by_half_a_return() -> (
    None
):
    # (0 + 0.5) / (50 + 1): a history with no returns still gives a proper prior.
    prior = fit_prior([(0, 20), (0, 30)])
    assert prior == weak_prior(0, 50)
    assert prior.mean == pytest.approx(0.5 / 51)
    assert prior.concentration == MIN_CONCENTRATION


def test_the_posterior_mean_shrinks_toward_the_prior_by_volume() -> None:
    # Beta(1, 9) + 2 of 10: Beta(3, 17), mean 3 / 20.
    found = estimate(2, 10, Prior(1, 9))
    assert (found.returned, found.shipped, found.raw) == (2, 10, 0.2)
    assert found.mean == pytest.approx(0.15)


def test_the_interval_is_the_posteriors_central_90_percent() -> None:
    # Beta(1, 1) + 0 of 1 = Beta(1, 2), whose cdf is 1 - (1 - x)^2: quantile q is 1 - sqrt(1-q).
    none_back = estimate(0, 1, Prior(1, 1))
    assert none_back.low == pytest.approx(1 - math.sqrt(0.95))
    assert none_back.high == pytest.approx(1 - math.sqrt(0.05))
    # Beta(1, 1) + 1 of 1 = Beta(2, 1), whose cdf is x^2: quantile q is sqrt(q).
    all_back = estimate(1, 1, Prior(1, 1))
    assert all_back.low == pytest.approx(math.sqrt(0.05))
    assert all_back.high == pytest.approx(math.sqrt(0.95))
    assert all_back.mean == pytest.approx(2 / 3)


def test_a_product_with_no_sales_is_its_prior() -> None:
    prior = Prior(2, 18)
    found = estimate(0, 0, prior)
    assert found.raw is None
    assert found.mean == pytest.approx(0.1)
    assert found.low < 0.1 < found.high


def test_units_returned_in_lots_weigh_as_returns() -> None:
    # One line of 24 units returned of 48 shipped in lots of 24 is one return of two.
    prior = Prior(1, 9)
    lots = estimate(24, 48, prior, lot=24)
    single = estimate(1, 2, prior)
    assert (lots.returned, lots.shipped, lots.raw) == (24, 48, 0.5)
    assert (lots.mean, lots.low, lots.high) == pytest.approx((single.mean, single.low, single.high))


def test_more_returned_than_shipped_is_refused() -> None:
    with pytest.raises(ValueError):
        estimate(3, 2, Prior(1, 9))


def test_the_excess_test_is_fishers_exact_one_sided_test() -> None:
    # 3 of 10 back against the rest's 1 of 10: of the 4 returns among 20 purchases, 3 or more
    # fall in the product's 10: (C(4,3) C(16,7) + C(4,4) C(16,6)) / C(20,10).
    expected = (4 * 11440 + 8008) / 184756
    assert excess_p_value(Evidence.of(3, 10), Evidence.of(1, 10)) == pytest.approx(expected)
    assert expected == pytest.approx(0.2910, abs=1e-4)
    table = [[3, 7], [1, 9]]
    assert fisher_exact(table, alternative="greater").pvalue == pytest.approx(expected)
    # In lots of 4: 12 of 40 units is 3 returns of 10.
    lots = excess_p_value(Evidence.of(12, 40, 4), Evidence.of(1, 10))
    assert lots == pytest.approx(expected)
    assert excess_p_value(Evidence.of(0, 10), Evidence.of(1, 10)) == pytest.approx(1.0)


def test_peers_of_one_sale_never_returned_are_no_proof_the_rest_never_comes_back() -> None:
    # 3 of 20 against 0 of 1: all 3 returns land in the product's 20 of 21 purchases with
    # probability C(20,3) / C(21,3) = 18/21, where a rate of 0 taken as known gives p = 0.
    p = excess_p_value(Evidence.of(3, 20), Evidence.of(0, 1))
    assert p == pytest.approx(18 / 21)


def test_nothing_shipped_is_no_evidence_of_excess() -> None:
    assert excess_p_value(NO_EVIDENCE, Evidence.of(1, 10)) == 1.0
    assert excess_p_value(Evidence.of(1, 10), NO_EVIDENCE) == 1.0
    assert fisher_greater([(0, 0, 0, 0)]) == [1.0]


@SETTINGS
@given(
    st.integers(0, 300).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.integers(0, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
)
def test_the_vectorised_excess_test_is_scipys_fisher_exact_greater(
    found: tuple[int, int], rest: tuple[int, int]
) -> None:
    (k, n), (j, m) = found, rest
    (p,) = fisher_greater([(k, n, j, m)])
    expected = fisher_exact([[k, n - k], [j, m - j]], alternative="greater").pvalue
    assert p == pytest.approx(expected, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(
    ("returned", "shipped", "lot", "expected"),
    [
        (3, 10, 1.0, (3, 10)),
        (24, 48, 24.0, (1, 2)),
        (2, 100, 12.0, (1, 8)),  # something came back: never rounded away to nothing
        (0, 100, 12.0, (0, 8)),
        (5, 5, 12.0, (1, 1)),  # never fewer trials than returns
    ],
)
def test_evidence_counts_returns_not_units(
    returned: int, shipped: int, lot: float, expected: tuple[int, int]
) -> None:
    assert Evidence.of(returned, shipped, lot).counted() == expected


def test_evidence_adds_up_and_each_part_keeps_its_own_lot() -> None:
    # One bulk return of 240 units out of 480 shipped in lots of 240, beside a product
    # returned 2 of 20 one by one: 3 returns of 22 lots, not 242 of 500.
    both = Evidence.of(240, 480, 240) + Evidence.of(2, 20)
    assert (both.returned, both.shipped) == (242, 500)
    assert (both.returns, both.purchases) == pytest.approx((3, 22))
    assert both.rate == pytest.approx(3 / 22)
    assert both.lot == pytest.approx(500 / 22)
    rest = both - Evidence.of(2, 20)
    assert (rest.returns, rest.purchases, rest.shipped) == pytest.approx((1, 2, 480))


def test_more_returned_than_shipped_is_no_evidence() -> None:
    with pytest.raises(ValueError):
        Evidence.of(3, 2)


def test_benjamini_hochberg_q_values_by_hand() -> None:
    # Sorted: 0.005 (rank 1) * 4 = 0.02; 0.01 (2) * 2 = 0.02; 0.03 (3) * 4/3 = 0.04;
    # 0.04 (4) * 1 = 0.04; each the running minimum from the largest down.
    q = benjamini_hochberg([0.01, 0.04, 0.03, 0.005])
    assert q == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert benjamini_hochberg([]) == []


@SETTINGS
@given(st.lists(st.floats(0, 1), min_size=1, max_size=40))
def test_q_values_are_at_least_the_p_values_at_most_one_and_keep_their_order(
    p_values: list[float],
) -> None:
    q = benjamini_hochberg(p_values)
    assert all(p <= qv + 1e-12 and qv <= 1 for p, qv in zip(p_values, q, strict=True))
    ranked = sorted(range(len(p_values)), key=lambda i: p_values[i])
    assert all(q[a] <= q[b] + 1e-12 for a, b in zip(ranked, ranked[1:], strict=False))


@SETTINGS
@given(
    st.integers(0, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.floats(0.001, 0.5),
    st.floats(MIN_CONCENTRATION, MAX_CONCENTRATION),
)
def test_the_posterior_mean_lies_between_the_prior_and_the_data(
    counts: tuple[int, int], prior_mean: float, concentration: float
) -> None:
    returned, shipped = counts
    found = estimate(returned, shipped, Prior.around(prior_mean, concentration))
    raw = found.raw if found.raw is not None else prior_mean
    assert min(raw, prior_mean) - 1e-9 <= found.mean <= max(raw, prior_mean) + 1e-9
    assert 0 <= found.low <= found.high <= 1
