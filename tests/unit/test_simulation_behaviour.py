"""Simulated shoppers and staff: seeded, so a run can be replayed, and believable."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta

import pytest

from reclaim.returns.states import (
    FAULT,
    SHOPPER_METHODS,
    Disposition,
    Fault,
    Grade,
    Reason,
    Resolution,
)
from reclaim.simulation.behaviour import (
    choose_disposition,
    choose_grade,
    choose_method,
    choose_reason,
    choose_resolution,
    comment_for,
    order_volume_factor,
    return_rate_factor,
)
from reclaim.simulation.merchant import CATEGORIES, PROFILE, SIZES, SimProduct

DRAWS = 2000


def _product(
    category: str = "apparel", size: str | None = "M", fit_bias: float = 0.0
) -> SimProduct:
    return SimProduct(
        sku="APP-001-M",
        name="Linen Shirt (M)",
        category=category,
        group="APP-001",
        price_minor=4999,
        cost_minor=1749,
        weight_grams=300,
        size=size,
        fit_bias=fit_bias,
    )


def _draw(choice: Callable[[random.Random], object], seed: int, n: int = 200) -> list[object]:
    rng = random.Random(seed)
    return [choice(rng) for _ in range(n)]


CHOICES: dict[str, Callable[[random.Random], object]] = {
    "reason": lambda rng: choose_reason(rng, PROFILE["apparel"], _product()),
    "comment": lambda rng: comment_for(rng, Reason.DEFECTIVE, _product("electronics", None)),
    "resolution": lambda rng: choose_resolution(rng, PROFILE["shoes"], Reason.TOO_SMALL),
    "method": choose_method,
    "grade": lambda rng: choose_grade(rng, Reason.NO_LONGER_NEEDED),
    "disposition": lambda rng: choose_disposition(rng, Grade.ACCEPTABLE, "electronics"),
}

# --- determinism -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CHOICES))
def test_the_same_seed_replays_the_same_choices(name: str) -> None:
    assert _draw(CHOICES[name], seed=7) == _draw(CHOICES[name], seed=7)


@pytest.mark.parametrize("name", list(CHOICES))
def test_different_seeds_give_different_choices(name: str) -> None:
    # Guards against a choice that ignores the RNG it is handed (e.g. a module-level one).
    assert _draw(CHOICES[name], seed=7) != _draw(CHOICES[name], seed=8)


# --- staying inside the enums ----------------------------------------------------------------


@pytest.mark.parametrize("profile", CATEGORIES, ids=lambda p: p.name)
def test_a_reason_is_always_one_the_category_uses(profile: object) -> None:
    rng = random.Random(1)
    product = _product(profile.name, "M" if profile.sized else None)  # type: ignore[attr-defined]
    drawn = {choose_reason(rng, profile, product) for _ in range(DRAWS)}  # type: ignore[arg-type]
    assert drawn <= set(profile.reasons)  # type: ignore[attr-defined]
    assert all(isinstance(reason, Reason) for reason in drawn)


def test_a_product_that_runs_small_comes_back_too_small_more_often() -> None:
    apparel = PROFILE["apparel"]

    def counts(bias: float) -> Counter[Reason]:
        rng = random.Random(3)
        return Counter(choose_reason(rng, apparel, _product(fit_bias=bias)) for _ in range(DRAWS))

    runs_small, runs_large = counts(0.7), counts(-0.7)
    assert runs_small[Reason.TOO_SMALL] > 2 * runs_small[Reason.TOO_LARGE]
    assert runs_large[Reason.TOO_LARGE] > runs_large[Reason.TOO_SMALL]


@pytest.mark.parametrize("profile", CATEGORIES, ids=lambda p: p.name)
@pytest.mark.parametrize("reason", list(Reason), ids=str)
def test_a_shopper_never_asks_to_keep_the_item(profile: object, reason: Reason) -> None:
    rng = random.Random(2)
    drawn = {choose_resolution(rng, profile, reason) for _ in range(200)}  # type: ignore[arg-type]
    assert drawn <= {Resolution.REFUND, Resolution.STORE_CREDIT, Resolution.EXCHANGE}


def test_methods_drawn_are_exactly_those_a_shopper_may_choose() -> None:
    rng = random.Random(4)
    drawn = {choose_method(rng) for _ in range(DRAWS)}
    assert drawn == SHOPPER_METHODS


@pytest.mark.parametrize("reason", list(Reason), ids=str)
def test_a_grade_is_always_a_grade(reason: Reason) -> None:
    rng = random.Random(5)
    assert all(isinstance(choose_grade(rng, reason), Grade) for _ in range(500))


@pytest.mark.parametrize("reason", [Reason.DEFECTIVE, Reason.MISSING_PARTS], ids=str)
def test_a_defective_item_is_never_graded_new(reason: Reason) -> None:
    rng = random.Random(6)
    assert Grade.NEW not in {choose_grade(rng, reason) for _ in range(DRAWS)}


def test_changed_minds_come_back_in_better_shape_than_carrier_damage() -> None:
    def share_new(reason: Reason) -> float:
        rng = random.Random(9)
        return sum(choose_grade(rng, reason) is Grade.NEW for _ in range(DRAWS)) / DRAWS

    assert FAULT[Reason.NO_LONGER_NEEDED] is Fault.CUSTOMER
    assert share_new(Reason.NO_LONGER_NEEDED) > 2 * share_new(Reason.DAMAGED_IN_TRANSIT)


@pytest.mark.parametrize("grade", list(Grade), ids=str)
@pytest.mark.parametrize("category", ["apparel", "electronics", "toys", "home"])
def test_a_disposition_is_always_a_disposition(grade: Grade, category: str) -> None:
    rng = random.Random(10)
    assert all(
        isinstance(choose_disposition(rng, grade, category), Disposition) for _ in range(100)
    )


@pytest.mark.parametrize("grade", [Grade.NEW, Grade.LIKE_NEW])
def test_an_item_as_good_as_new_goes_back_on_the_shelf(grade: Grade) -> None:
    rng = random.Random(11)
    assert {choose_disposition(rng, grade, "apparel") for _ in range(100)} == {Disposition.RESTOCK}


@pytest.mark.parametrize(
    ("category", "disposition"),
    [
        ("electronics", Disposition.RECYCLE),
        ("toys", Disposition.RECYCLE),
        ("home", Disposition.DISPOSE),
    ],
)
def test_an_unsellable_item_is_recycled_where_it_can_be(
    category: str, disposition: Disposition
) -> None:
    assert choose_disposition(random.Random(0), Grade.UNSELLABLE, category) is disposition


# --- seasons ---------------------------------------------------------------------------------

YEAR = [date(2025, 1, 1) + timedelta(days=i) for i in range(365)]


def test_order_volume_peaks_in_late_november() -> None:
    peak = max(order_volume_factor(day) for day in YEAR)
    peak_days = {day for day in YEAR if order_volume_factor(day) == peak}
    # Black Friday 2025 is 28 November; the peak must cover it and stay in late November.
    assert date(2025, 11, 28) in peak_days
    assert all(day.month == 11 and day.day >= 20 for day in peak_days)


def test_order_volume_is_above_normal_through_early_december() -> None:
    assert all(order_volume_factor(date(2025, 12, d)) > 1.0 for d in range(1, 21))


def test_order_volume_dips_to_its_lowest_in_january() -> None:
    low = min(order_volume_factor(day) for day in YEAR)
    assert low < 1.0
    assert {day.month for day in YEAR if order_volume_factor(day) == low} == {1}


def test_an_ordinary_spring_day_has_normal_volume() -> None:
    assert order_volume_factor(date(2025, 4, 9)) == 1.0


def test_holiday_gifts_come_back_more_often() -> None:
    assert return_rate_factor(date(2025, 12, 10)) > return_rate_factor(date(2025, 10, 10))
    assert return_rate_factor(date(2025, 12, 30)) == return_rate_factor(date(2025, 10, 10))


# --- fit comments ----------------------------------------------------------------------------

FIT_CASES = [
    (size, reason, index + (1 if reason is Reason.TOO_SMALL else -1))
    for index, size in enumerate(SIZES)
    for reason in (Reason.TOO_SMALL, Reason.TOO_LARGE)
]


@pytest.mark.parametrize(
    ("size", "reason", "neighbour"),
    [case for case in FIT_CASES if 0 <= case[2] < len(SIZES)],
    ids=lambda v: str(v),
)
def test_a_fit_comment_names_the_neighbouring_size(
    size: str, reason: Reason, neighbour: int
) -> None:
    comment = comment_for(random.Random(0), reason, _product(size=size))
    assert comment is not None
    named = re.findall(r"\b(XS|S|M|L|XL)\b", comment)
    assert named == [SIZES[neighbour]]
    assert ("small" if reason is Reason.TOO_SMALL else "large") in comment


@pytest.mark.parametrize(
    ("size", "reason"), [("XL", Reason.TOO_SMALL), ("XS", Reason.TOO_LARGE)], ids=str
)
def test_no_size_is_suggested_beyond_the_range(size: str, reason: Reason) -> None:
    rng = random.Random(0)
    assert all(comment_for(rng, reason, _product(size=size)) is None for _ in range(50))


def test_an_unsized_product_gets_no_size_advice() -> None:
    rng = random.Random(0)
    comments = {comment_for(rng, Reason.TOO_SMALL, _product("home", None)) for _ in range(50)}
    assert comments == {None}
