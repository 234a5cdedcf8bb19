"""Return rates with their uncertainty: beta-binomial empirical Bayes, and the excess test.

A product's return rate is drawn from its category's Beta prior, fitted from the category's
products by the method of moments; a product's estimate is the posterior, so a product with few
sales sits near its category until its own history says otherwise. The excess test asks whether
a product comes back more often than the rest of its category, one-sided and exact (Fisher's,
since the rest's rate is an estimate too), with the false discovery rate held across every
product tested (Benjamini–Hochberg).

Units are bought and returned in lots: a shopper who returns a line of 24 mugs returns 24 units
at once, which is one piece of evidence, not 24. The model counts ``Evidence`` in returns out of
purchases (order lines), not units; ``lot`` (units per purchase) turns units into purchases,
Kish's design effect for clusters returned whole. A single bulk return is never a pattern.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import beta as beta_distribution
from scipy.stats import hypergeom

CREDIBLE = 0.90  # the width of every interval shown
# A prior is worth at least this many units of evidence: with fewer, one return of one sale
# would swing the estimate to 100%.
MIN_CONCENTRATION = 10.0
# And at most this many: a category whose products look alike would otherwise make the prior
# so strong that no product's own history could ever move it.
MAX_CONCENTRATION = 1000.0
# Fewer products than this can't tell spread between products from noise.
MIN_GROUPS = 3


@dataclass(frozen=True, slots=True)
class Prior:
    """Beta(alpha, beta): what a product's rate looks like before its own sales are seen."""

    alpha: float
    beta: float

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def concentration(self) -> float:
        """How many units of evidence the prior is worth."""
        return self.alpha + self.beta

    @classmethod
    def around(cls, mean: float, concentration: float) -> Prior:
        return cls(mean * concentration, (1 - mean) * concentration)


@dataclass(frozen=True, slots=True)
class RateEstimate:
    """Units returned of units shipped, the raw rate, and the posterior mean with its 90%
    credible interval."""

    returned: int
    shipped: int
    raw: float | None
    mean: float
    low: float
    high: float


def weak_prior(returned: float, shipped: float) -> Prior:
    """The pooled rate, worth the fewest units a prior may be; smoothed by half a return so
    that a history with no returns yet still gives a proper prior."""
    return Prior.around((returned + 0.5) / (shipped + 1), MIN_CONCENTRATION)


def fit_prior(counts: Sequence[tuple[float, float]], fallback: Prior | None = None) -> Prior:
    """A Beta prior from groups' (returned, shipped) counts, by the method of moments weighted by
    volume (Kleinman's estimator of the overdispersion).

    With too few groups, no returns at all, or every unit returned, there is no spread to
    measure: the ``fallback`` (the shop's prior), else a weak prior at the pooled rate. Either
    way the concentration stays within [MIN_CONCENTRATION, MAX_CONCENTRATION]."""
    groups = [(float(r), float(n)) for r, n in counts if n > 0]
    returned = sum(r for r, _ in groups)
    shipped = sum(n for _, n in groups)
    backup = _bounded(fallback or weak_prior(returned, shipped))
    if len(groups) < MIN_GROUPS or returned <= 0 or returned >= shipped:
        return backup
    mean = returned / shipped
    spread = sum(n * (r / n - mean) ** 2 for r, n in groups)
    k = len(groups)
    # E[spread] = m(1-m) * ((k-1) + rho * (N - sum(n^2)/N - (k-1))), rho = 1 / (concentration+1)
    room = shipped - sum(n * n for _, n in groups) / shipped - (k - 1)
    if room <= 0:
        return backup
    rho = (spread / (mean * (1 - mean)) - (k - 1)) / room
    concentration = 1 / rho - 1 if rho > 0 else math.inf
    return Prior.around(mean, _clamp(concentration))


def _clamp(concentration: float) -> float:
    return min(max(concentration, MIN_CONCENTRATION), MAX_CONCENTRATION)


def _bounded(prior: Prior) -> Prior:
    return Prior.around(prior.mean, _clamp(prior.concentration))


@dataclass(frozen=True, slots=True)
class Evidence:
    """Units returned of units shipped, and what they amount to: returns, out of purchases
    (order lines). Fractions are fine: the posterior takes them as they are."""

    returned: int
    shipped: int
    returns: float
    purchases: float

    @classmethod
    def of(cls, returned: int, shipped: int, lot: float = 1.0) -> Evidence:
        """Units bought and returned ``lot`` at a time."""
        if not 0 <= returned <= shipped:
            raise ValueError(f"returned {returned} must be between 0 and shipped {shipped}")
        return cls(returned, shipped, returned / lot, shipped / lot)

    def __add__(self, other: Evidence) -> Evidence:
        return Evidence(
            self.returned + other.returned,
            self.shipped + other.shipped,
            self.returns + other.returns,
            self.purchases + other.purchases,
        )

    def __sub__(self, other: Evidence) -> Evidence:
        return Evidence(
            self.returned - other.returned,
            self.shipped - other.shipped,
            max(self.returns - other.returns, 0.0),
            max(self.purchases - other.purchases, 0.0),
        )

    @property
    def lot(self) -> float:
        """Mean units per purchase."""
        return self.shipped / self.purchases if self.purchases else 1.0

    @property
    def rate(self) -> float:
        """Returns per purchase: the rate the model works on (0 with nothing shipped)."""
        return self.returns / self.purchases if self.purchases else 0.0

    def counted(self) -> tuple[int, int]:
        """(returns, trials) in whole numbers for an exact test: never fewer than one return
        when anything came back, nor fewer trials than returns."""
        found = max(round(self.returns), 1 if self.returned else 0)
        return found, max(round(self.purchases), found)


NO_EVIDENCE = Evidence(0, 0, 0.0, 0.0)


def estimate(returned: int, shipped: int, prior: Prior, lot: float = 1.0) -> RateEstimate:
    """The posterior Beta(alpha + x, beta + n - x), x returns of n purchases of ``lot`` units."""
    return estimates([(Evidence.of(returned, shipped, lot), prior)])[0]


def estimates(rows: Sequence[tuple[Evidence, Prior]]) -> list[RateEstimate]:
    """``estimate`` for many at once: one vectorised quantile call, since a shop has thousands
    of products."""
    if not rows:
        return []
    alpha = np.array([prior.alpha + found.returns for found, prior in rows])
    beta = np.array([prior.beta + found.purchases - found.returns for found, prior in rows])
    tail = (1 - CREDIBLE) / 2
    lows = beta_distribution.ppf(tail, alpha, beta).tolist()
    highs = beta_distribution.ppf(1 - tail, alpha, beta).tolist()
    means = (alpha / (alpha + beta)).tolist()
    return [
        RateEstimate(
            returned=found.returned,
            shipped=found.shipped,
            raw=found.returned / found.shipped if found.shipped else None,
            mean=mean,
            low=low,
            high=high,
        )
        for (found, _), mean, low, high in zip(rows, means, lows, highs, strict=True)
    ]


def excess_p_value(found: Evidence, rest: Evidence) -> float:
    """One-sided Fisher exact test: how likely this many of the product's purchases came back,
    or more, if it came back no more often than the ``rest`` it is compared with.

    The peers' rate is an estimate too: one sale of them with nothing back is no evidence that
    they never come back, and the test says so, where a binomial test against their rate taken
    as known would call any return an excess."""
    return excess_p_values([(found, rest)])[0]


def excess_p_values(rows: Sequence[tuple[Evidence, Evidence]]) -> list[float]:
    """``excess_p_value`` for many at once."""
    return fisher_greater([(*found.counted(), *rest.counted()) for found, rest in rows])


def fisher_greater(tables: Sequence[tuple[int, int, int, int]]) -> list[float]:
    """For each (found, trials, rest_found, rest_trials), the p-value of
    ``scipy.stats.fisher_exact([[found, trials - found], [rest_found, rest_trials - rest_found]],
    alternative="greater")``: the hypergeometric upper tail P(X >= found) of drawing ``trials``
    from both together. One vectorised call, since a shop has thousands of products."""
    if not tables:
        return []
    found, trials, rest_found, rest_trials = np.array(tables, dtype=np.int64).T
    tail = hypergeom.sf(found - 1, trials + rest_trials, found + rest_found, trials)
    # Nothing on either side (no trials at all) is no evidence: p = 1, as fisher_exact says.
    return np.clip(np.nan_to_num(tail, nan=1.0), 0.0, 1.0).tolist()


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Each p-value's q-value: the smallest false discovery rate at which it is significant."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    q = [1.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        index = order[rank - 1]
        running = min(running, p_values[index] * m / rank)
        q[index] = running
    return q
