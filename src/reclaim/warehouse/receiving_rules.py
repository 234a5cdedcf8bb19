"""What a parcel should weigh, and when it weighs so little that it looks empty.

The thresholds are the merchant's, in ``[receiving]`` of the recovery terms: a parcel looks
empty when it weighs under ``empty_below_percent`` of what its items should weigh, provided
they should weigh at least ``min_expected_grams`` (below that, packaging and the scale's
precision drown the difference and a light item would be flagged by mistake).
"""

from __future__ import annotations

from collections.abc import Iterable

from reclaim.errors import ValidationFailed
from reclaim.warehouse.recovery import RecoveryTerms


def expected_weight_grams(items: Iterable[tuple[int, int]]) -> int:
    """What the items weigh together, from (unit weight in grams, quantity) pairs."""
    total = 0
    for weight, quantity in items:
        if weight < 0 or quantity < 0:
            raise ValidationFailed("Weights and quantities can't be negative.")
        total += weight * quantity
    return total


def looks_empty(weight_grams: int, expected_grams: int, terms: RecoveryTerms) -> bool:
    """True when the parcel weighs far below what its items should weigh."""
    if weight_grams < 0:
        raise ValidationFailed("A parcel can't weigh less than nothing.")
    receiving = terms.receiving
    if expected_grams < receiving.min_expected_grams:
        return False
    return weight_grams * 100 < expected_grams * receiving.empty_below_percent
