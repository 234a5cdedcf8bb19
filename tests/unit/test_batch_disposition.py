"""The day's batch under capacity limits: never worse than the best-channel-per-unit rule, never
over a limit, every unit on a channel it can take, and strictly better where arrival order
wastes a scarce slot."""

from __future__ import annotations

import itertools
from importlib.resources import files
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import OptimizeResult

from reclaim.errors import ValidationFailed
from reclaim.returns.states import Disposition, Grade
from reclaim.warehouse.batch import Plan, plan_batch
from reclaim.warehouse.disposition_rules import Unit, recommend, value_channels
from reclaim.warehouse.recovery import RecoveryTerms, load_recovery, parse_recovery

TERMS = load_recovery()
_TEXT = (files("reclaim.warehouse") / "recovery.toml").read_text(encoding="utf-8")
# Without the reuse tolerance the plan maximises plain net value, which brute force can check.
NO_TOLERANCE = parse_recovery(
    _TEXT.replace("tolerance_percent = 5", "tolerance_percent = 0").replace(
        'tolerance = "0.50"', 'tolerance = "0"'
    ),
    "no tolerance",
)
OPEN_BOX = Disposition.OPEN_BOX


def unit(key: str, **changes: Any) -> Unit:
    base: dict[str, Any] = {
        "key": key,
        "sku": f"SKU-{key}",
        "category": "home",
        "currency": "GBP",
        "price_minor": 4000,
        "cost_minor": 1600,
        "weight_grams": 800,
        "grade": Grade.GOOD,
    }
    return Unit(**{**base, **changes})


def net(item: Unit, channel: Disposition, terms: RecoveryTerms = TERMS) -> int:
    value = next(v for v in value_channels(item, terms) if v.channel is channel)
    assert value.feasible
    return value.net_minor * item.quantity


def used(plan: dict[str, Disposition], units: list[Unit], channel: Disposition) -> int:
    return sum(u.quantity for u in units if plan[u.key] is channel)


# --- a case worked by hand -----------------------------------------------------------------------


def test_the_plan_gives_a_scarce_slot_to_the_unit_that_gains_most_from_it() -> None:
    # One open-box slot. The cheap mug comes first and would take it under the per-unit rule;
    # the lamp gains far more from it than from liquidation.
    mug = unit("mug", price_minor=1200, cost_minor=500)
    lamp = unit("lamp", price_minor=15000, cost_minor=6000)
    units = [mug, lamp]

    plan = plan_batch(units, {OPEN_BOX: 1}, TERMS)

    assert plan.baseline == {"mug": OPEN_BOX, "lamp": Disposition.LIQUIDATE}
    assert plan.assignment == {"mug": Disposition.LIQUIDATE, "lamp": OPEN_BOX}
    assert plan.baseline_net_minor == net(mug, OPEN_BOX) + net(lamp, Disposition.LIQUIDATE)
    assert plan.total_net_minor == net(mug, Disposition.LIQUIDATE) + net(lamp, OPEN_BOX)
    assert plan.total_net_minor > plan.baseline_net_minor
    gain = plan.total_net_minor - plan.baseline_net_minor
    assert plan.explanation[0] == (
        f"2 units on 2 lines: best channel per unit, in order, recovers "
        f"{plan.baseline_net_minor / 100:,.2f} GBP; the plan recovers "
        f"{plan.total_net_minor / 100:,.2f} GBP, {gain / 100:,.2f} GBP more."
    )
    assert "Open box: 1 of 1 used." in plan.explanation
    assert any(
        line.startswith("mug (SKU-mug, good): Open box has no room") for line in plan.explanation
    )


def test_without_limits_every_unit_goes_its_recommended_way() -> None:
    units = [
        unit("a", grade=Grade.NEW),
        unit("b"),
        unit("c", grade=Grade.UNSELLABLE),
        unit("d", category="electronics", grade=Grade.UNSELLABLE, price_minor=30000),
    ]

    plan = plan_batch(units, {}, TERMS)

    expected = {u.key: recommend(u, TERMS).best for u in units}
    assert plan.assignment == plan.baseline == expected
    assert plan.total_net_minor == plan.baseline_net_minor
    assert plan.explanation[0].endswith(", the same.")


def test_a_limit_with_room_to_spare_changes_nothing() -> None:
    units = [unit("a"), unit("b")]

    plan = plan_batch(units, {OPEN_BOX: 5}, TERMS)

    assert plan.assignment == {"a": OPEN_BOX, "b": OPEN_BOX}
    assert "Open box: 2 of 5 used." in plan.explanation


def test_capacity_counts_units_not_lines() -> None:
    units = [unit("a", quantity=3), unit("b", quantity=2)]

    plan = plan_batch(units, {OPEN_BOX: 2}, TERMS)

    assert plan.assignment["a"] is not OPEN_BOX
    assert plan.assignment["b"] is OPEN_BOX
    assert used(plan.assignment, units, OPEN_BOX) == 2


def test_a_closed_channel_gets_no_units() -> None:
    units = [unit("a"), unit("b", grade=Grade.LIKE_NEW)]

    plan = plan_batch(units, {OPEN_BOX: 0, Disposition.RESTOCK: 0}, TERMS)

    assert set(plan.assignment.values()) == {Disposition.LIQUIDATE}


def test_the_reuse_preference_is_not_traded_away_for_pennies() -> None:
    # Donating is preferred within the tolerance although recycling nets a little more; the
    # solver runs (open box is short of a slot) and leaves the donation alone.
    scrap = unit("s", grade=Grade.ACCEPTABLE, price_minor=500, cost_minor=400, weight_grams=40_000)
    terms = parse_recovery(_TEXT.replace('value_per_kg = "0.05"', 'value_per_kg = "0.13"'), "x")
    advice = recommend(scrap, terms)
    assert advice.best is Disposition.DONATE
    assert advice.options[1].net_minor > advice.options[0].net_minor
    units = [scrap, unit("a"), unit("b", price_minor=9000)]

    plan = plan_batch(units, {Disposition.DONATE: 5, OPEN_BOX: 1}, terms)

    assert plan.assignment == {"s": Disposition.DONATE, "a": Disposition.LIQUIDATE, "b": OPEN_BOX}


def test_when_the_solver_fails_the_per_unit_rule_stands_and_the_plan_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_answer(*args: Any, **kwargs: Any) -> OptimizeResult:
        return OptimizeResult(x=None, status=1, message="Time limit reached.")

    monkeypatch.setattr("reclaim.warehouse.batch.milp", no_answer)
    units = [unit("mug", price_minor=1200, cost_minor=500), unit("lamp", price_minor=15000)]

    plan = plan_batch(units, {OPEN_BOX: 1}, TERMS)

    assert plan.assignment == plan.baseline == {"mug": OPEN_BOX, "lamp": Disposition.LIQUIDATE}
    assert plan.total_net_minor == plan.baseline_net_minor
    assert plan.explanation[1] == (
        "The optimiser found no plan (Time limit reached.); the per-unit rule stands."
    )


def test_an_empty_batch_is_an_empty_plan() -> None:
    assert plan_batch([], {OPEN_BOX: 3}, TERMS) == Plan(
        {}, 0, {}, 0, ("Nothing to plan: no units.",)
    )


def test_a_batch_in_two_currencies_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="mixes EUR, GBP"):
        plan_batch([unit("a"), unit("b", currency="EUR")], {}, TERMS)


def test_a_unit_listed_twice_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="twice in the batch: a"):
        plan_batch([unit("a"), unit("a")], {}, TERMS)


def test_a_negative_capacity_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="capacity of open_box is negative"):
        plan_batch([unit("a")], {OPEN_BOX: -1}, TERMS)


def test_a_unit_no_channel_has_room_for_is_refused_by_name() -> None:
    closed = {channel: 0 for channel in Disposition}

    with pytest.raises(ValidationFailed, match="No channel has room for a"):
        plan_batch([unit("a")], closed, TERMS)


def test_capacity_may_be_keyed_by_channel_name() -> None:
    plan = plan_batch([unit("a"), unit("b")], {"open_box": 1}, TERMS)  # type: ignore[dict-item]

    assert used(plan.assignment, [unit("a"), unit("b")], OPEN_BOX) == 1


# --- properties ----------------------------------------------------------------------------------

LIMITABLE = [c for c in Disposition if c is not Disposition.DISPOSE]


@st.composite
def batches(draw: st.DrawFn, most: int = 12) -> tuple[list[Unit], dict[Disposition, int]]:
    count = draw(st.integers(1, most))
    units = [
        Unit(
            key=str(index),
            sku=f"S{index}",
            category=draw(st.sampled_from(["apparel", "electronics", "home"])),
            currency="GBP",
            price_minor=draw(st.integers(100, 60_000)),
            cost_minor=draw(st.integers(50, 30_000)),
            weight_grams=draw(st.integers(50, 8000)),
            grade=draw(st.sampled_from(list(Grade))),
            quantity=draw(st.integers(1, 3)),
        )
        for index in range(count)
    ]
    # Dispose stays unlimited, so every unit has somewhere to go.
    limited = draw(st.lists(st.sampled_from(LIMITABLE), unique=True, max_size=4))
    capacity = {channel: draw(st.integers(0, 8)) for channel in limited}
    return units, capacity


def _check(
    plan: Plan, units: list[Unit], capacity: dict[Disposition, int], terms: RecoveryTerms
) -> None:
    for assignment in (plan.assignment, plan.baseline):
        assert set(assignment) == {u.key for u in units}
        for item in units:
            channel = assignment[item.key]
            assert next(v for v in value_channels(item, terms) if v.channel is channel).feasible
        for channel, slots in capacity.items():
            assert used(assignment, units, channel) <= slots
    assert plan.total_net_minor == sum(net(u, plan.assignment[u.key], terms) for u in units)
    assert plan.baseline_net_minor == sum(net(u, plan.baseline[u.key], terms) for u in units)
    assert plan.total_net_minor >= plan.baseline_net_minor


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_the_plan_never_loses_to_the_baseline_nor_breaks_a_limit(
    batch: tuple[list[Unit], dict[Disposition, int]],
) -> None:
    units, capacity = batch

    plan = plan_batch(units, capacity, TERMS)

    _check(plan, units, capacity, TERMS)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches(most=5))
def test_the_plan_is_the_best_assignment_there_is(
    batch: tuple[list[Unit], dict[Disposition, int]],
) -> None:
    units, capacity = batch

    plan = plan_batch(units, capacity, NO_TOLERANCE)

    _check(plan, units, capacity, NO_TOLERANCE)
    ways = [[v for v in value_channels(u, NO_TOLERANCE) if v.feasible] for u in units]
    best = max(
        sum(v.net_minor * u.quantity for u, v in zip(units, pick, strict=True))
        for pick in itertools.product(*ways)
        if all(
            sum(u.quantity for u, v in zip(units, pick, strict=True) if v.channel is channel)
            <= slots
            for channel, slots in capacity.items()
        )
    )
    assert plan.total_net_minor == best
