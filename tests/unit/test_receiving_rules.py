"""Weighing parcels at receipt: what the items should weigh, and when a parcel looks empty."""

from __future__ import annotations

from importlib.resources import files

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reclaim.errors import ValidationFailed
from reclaim.warehouse.receiving_rules import expected_weight_grams, looks_empty
from reclaim.warehouse.recovery import load_recovery, parse_recovery

TERMS = load_recovery()  # empty below 20% of at least 50 g


def test_the_expected_weight_adds_every_item_times_its_quantity() -> None:
    assert expected_weight_grams([(200, 2), (400, 1), (0, 5)]) == 800


def test_no_items_weigh_nothing() -> None:
    assert expected_weight_grams([]) == 0


@pytest.mark.parametrize("item", [(-1, 1), (100, -1)])
def test_negative_weights_or_quantities_are_refused(item: tuple[int, int]) -> None:
    with pytest.raises(ValidationFailed):
        expected_weight_grams([item])


@pytest.mark.parametrize(
    ("weight", "expected", "empty"),
    [
        (0, 1200, True),
        (40, 1200, True),
        (239, 1200, True),
        (240, 1200, False),  # exactly 20%: not "under"
        (1300, 1200, False),
        (0, 50, True),
        (0, 49, False),  # too light to tell from the packaging
        (0, 0, False),
    ],
)
def test_a_parcel_looks_empty_only_far_below_a_meaningful_expected_weight(
    weight: int, expected: int, empty: bool
) -> None:
    assert looks_empty(weight, expected, TERMS) is empty


def test_the_thresholds_are_the_merchants() -> None:
    text = (files("reclaim.warehouse") / "recovery.toml").read_text(encoding="utf-8")
    strict = parse_recovery(
        text.replace("empty_below_percent = 20", "empty_below_percent = 50").replace(
            "min_expected_grams = 50", "min_expected_grams = 10"
        ),
        "strict",
    )

    assert looks_empty(500, 1200, strict)
    assert not looks_empty(500, 1200, TERMS)
    assert looks_empty(0, 20, strict)


def test_a_negative_weight_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        looks_empty(-5, 1200, TERMS)


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_a_heavier_parcel_never_looks_emptier(light: int, extra: int, expected: int) -> None:
    assert looks_empty(light + extra, expected, TERMS) <= looks_empty(light, expected, TERMS)
