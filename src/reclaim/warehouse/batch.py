"""Routing a day's units together under capacity limits (refurbishment partner slots, open-box
listing slots…) so the batch recovers the most, reported against the per-unit rule.

The per-unit rule (the baseline) takes the units in the given order and sends each to its
recommended channel, or, when that is full, to its next best channel with room. The plan is an
integer programme solved by HiGHS (``scipy.optimize.milp``): one channel per unit, capacities
counted in units (quantity-weighted), total value maximised. A unit's recommended channel is
valued at the best net it was judged equivalent to, so the batch never trades the waste
hierarchy's preference for pennies; then, among the best plans, the one keeping the most units
on their recommended channel wins, so a unit only moves when its channel is full. The plan is
returned only when it recovers at least as much as the baseline; otherwise (or when the solver
fails) the baseline stands and the explanation says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from reclaim.errors import ValidationFailed
from reclaim.kit.money import Money
from reclaim.returns.states import Disposition
from reclaim.warehouse.disposition_rules import (
    ChannelValue,
    Recommendation,
    Unit,
    label_of,
    recommend,
)
from reclaim.warehouse.grading import grade_words
from reclaim.warehouse.recovery import RecoveryTerms

SOLVER_SECONDS = 10.0
MAX_MOVE_LINES = 20

Assignment = dict[str, Disposition]


@dataclass(frozen=True, slots=True)
class Plan:
    assignment: Assignment  # unit key -> channel, optimised under capacity
    total_net_minor: int
    baseline: Assignment  # the per-unit rule under the same capacity
    baseline_net_minor: int
    explanation: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Choices:
    """One unit's feasible channels, in the engine's order of preference, and their values."""

    unit: Unit
    recommendation: Recommendation
    feasible: tuple[ChannelValue, ...]
    score: Mapping[Disposition, int]

    @classmethod
    def of(cls, unit: Unit, terms: RecoveryTerms) -> _Choices:
        recommendation = recommend(unit, terms)
        feasible = tuple(o for o in recommendation.options if o.feasible)
        score = {o.channel: o.net_minor for o in feasible}
        # The engine judged its pick worth the best net (within the reuse tolerance).
        score[recommendation.best] = max(score.values())
        return cls(unit, recommendation, feasible, score)

    @property
    def best(self) -> Disposition:
        return self.recommendation.best

    def net(self, channel: Disposition) -> int:
        return self.recommendation.option(channel).net_minor * self.unit.quantity


def _check(units: Sequence[Unit], capacity: Mapping[Disposition, int]) -> str | None:
    """The batch's currency (None when empty); refuses what can't be planned."""
    keys = [unit.key for unit in units]
    if len(set(keys)) != len(keys):
        doubled = sorted({key for key in keys if keys.count(key) > 1})
        raise ValidationFailed(f"Units appear twice in the batch: {', '.join(doubled)}.")
    for channel, slots in capacity.items():
        if slots < 0:
            raise ValidationFailed(f"The capacity of {Disposition(channel).value} is negative.")
    currencies = sorted({unit.currency for unit in units})
    if len(currencies) > 1:
        raise ValidationFailed(
            f"A batch is planned in one currency; this one mixes {', '.join(currencies)}."
        )
    return currencies[0] if currencies else None


def _baseline(choices: Sequence[_Choices], capacity: Mapping[Disposition, int]) -> Assignment:
    room = dict(capacity)
    assignment: Assignment = {}
    for choice in choices:
        quantity = choice.unit.quantity
        for option in choice.feasible:
            if option.channel not in room or room[option.channel] >= quantity:
                assignment[choice.unit.key] = option.channel
                if option.channel in room:
                    room[option.channel] -= quantity
                break
        else:
            raise ValidationFailed(
                f"No channel has room for {choice.unit.key} ({quantity} units of "
                f"{choice.unit.sku}): raise a capacity or plan fewer units.",
                unit=choice.unit.key,
            )
    return assignment


def _used(choices: Sequence[_Choices], assignment: Assignment, channel: Disposition) -> int:
    return sum(c.unit.quantity for c in choices if assignment[c.unit.key] == channel)


def _fits(
    choices: Sequence[_Choices], assignment: Assignment, capacity: Mapping[Disposition, int]
) -> bool:
    return all(_used(choices, assignment, ch) <= slots for ch, slots in capacity.items())


def _totals(choices: Sequence[_Choices], assignment: Assignment) -> tuple[int, int]:
    """(net, score) of an assignment, quantity-weighted, in minor units."""
    net = score = 0
    for choice in choices:
        channel = assignment[choice.unit.key]
        net += choice.net(channel)
        score += choice.score[channel] * choice.unit.quantity
    return net, score


def _solve(contested: Sequence[_Choices], capacity: Mapping[Disposition, int]) -> Assignment | str:
    """The best assignment of the units whose recommended channel is limited, or why not."""
    pairs = [(i, o.channel) for i, choice in enumerate(contested) for o in choice.feasible]
    quantity = np.array([contested[i].unit.quantity for i, _ in pairs], dtype=float)
    score = np.array([contested[i].score[ch] for i, ch in pairs], dtype=float) * quantity
    limited = [ch for ch in Disposition if ch in capacity]
    rows, cols, values = [], [], []
    for column, (i, channel) in enumerate(pairs):
        rows.append(i)  # each unit goes exactly one way
        cols.append(column)
        values.append(1.0)
        if channel in capacity:
            rows.append(len(contested) + limited.index(channel))
            cols.append(column)
            values.append(quantity[column])
    shape = (len(contested) + len(limited), len(pairs))
    matrix = coo_array((values, (rows, cols)), shape=shape).tocsr()
    lower = np.concatenate([np.ones(len(contested)), np.zeros(len(limited))])
    upper = np.concatenate([np.ones(len(contested)), [capacity[ch] for ch in limited]])
    constraints = [LinearConstraint(matrix, lower, upper)]
    options = {"time_limit": SOLVER_SECONDS, "mip_rel_gap": 0.0}

    def run(objective: np.ndarray, extra: list[LinearConstraint]) -> Assignment | str:
        result = milp(
            objective,
            integrality=np.ones(len(pairs)),
            bounds=Bounds(0, 1),
            constraints=constraints + extra,
            options=options,
        )
        if result.x is None:
            return str(result.message)
        picked = {
            contested[i].unit.key: channel
            for (i, channel), x in zip(pairs, result.x, strict=True)
            if x > 0.5
        }
        return picked if len(picked) == len(contested) else "the solver's answer split a unit"

    first = run(-score, [])
    if isinstance(first, str):
        return first
    best_score = _totals(contested, first)[1]
    # Among the plans worth as much, keep the most units on their recommended channel.
    kept = np.array(
        [q if ch == contested[i].best else 0.0 for (i, ch), q in zip(pairs, quantity, strict=True)]
    )
    second = run(-kept, [LinearConstraint(score.reshape(1, -1), best_score - 0.5, np.inf)])
    return first if isinstance(second, str) else second


def plan_batch(
    units: Sequence[Unit], capacity: Mapping[Disposition, int], terms: RecoveryTerms
) -> Plan:
    """Assign every unit a channel, maximising the batch's total net under ``capacity``
    (units per channel; channels not in it are unlimited). Never worse than the baseline."""
    capacity = {Disposition(channel): slots for channel, slots in capacity.items()}
    currency = _check(units, capacity)
    if currency is None:
        return Plan({}, 0, {}, 0, ("Nothing to plan: no units.",))
    choices = [_Choices.of(unit, terms) for unit in units]
    baseline = _baseline(choices, capacity)
    baseline_net, baseline_score = _totals(choices, baseline)
    contested = [c for c in choices if c.best in capacity]
    ideal = {c.unit.key: c.best for c in choices}
    notes: list[str] = []
    assignment = baseline
    if _fits(choices, ideal, capacity):
        assignment = ideal
    elif isinstance(solved := _solve(contested, capacity), str):
        notes.append(f"The optimiser found no plan ({solved}); the per-unit rule stands.")
    else:
        candidate = {**ideal, **solved}
        net, score = _totals(choices, candidate)
        if not _fits(choices, candidate, capacity):
            notes.append("The optimiser's plan broke a limit; the per-unit rule stands.")
        elif net > baseline_net or (net == baseline_net and score > baseline_score):
            assignment = candidate
        elif net < baseline_net:
            notes.append(
                "Keeping the reuse the engine prefers would recover less than the per-unit "
                "rule here; the per-unit rule stands."
            )
    total, _ = _totals(choices, assignment)
    explanation = _explain(choices, capacity, terms, currency, assignment, baseline, total)
    return Plan(
        assignment,
        total,
        baseline,
        baseline_net,
        (*explanation[:1], *notes, *explanation[1:]),
    )


def _explain(
    choices: Sequence[_Choices],
    capacity: Mapping[Disposition, int],
    terms: RecoveryTerms,
    currency: str,
    assignment: Assignment,
    baseline: Assignment,
    total: int,
) -> list[str]:
    def money(minor: int) -> str:
        return Money(minor, currency).format()

    def label(channel: Disposition) -> str:
        return label_of(channel, terms)

    baseline_net, _ = _totals(choices, baseline)
    units = sum(c.unit.quantity for c in choices)
    lines = [
        f"{units} units on {len(choices)} lines: best channel per unit, in order, recovers "
        f"{money(baseline_net)}; the plan recovers {money(total)}"
        + (f", {money(total - baseline_net)} more." if total > baseline_net else ", the same.")
    ]
    for channel, slots in capacity.items():
        lines.append(f"{label(channel)}: {_used(choices, assignment, channel)} of {slots} used.")
    restored = [c for c in choices if assignment[c.unit.key] == c.best != baseline[c.unit.key]]
    if restored:
        lines.append(
            f"{len(restored)} lines get their best channel that the per-unit rule, filling "
            "slots in arrival order, sent elsewhere: the slots go where they recover most."
        )
    moved = [c for c in choices if assignment[c.unit.key] != c.best]
    for choice in moved[:MAX_MOVE_LINES]:
        unit, channel = choice.unit, assignment[choice.unit.key]
        values = choice.recommendation
        loss = values.option(choice.best).net_minor - values.option(channel).net_minor
        used = _used(choices, assignment, choice.best)
        lines.append(
            f"{unit.key} ({unit.sku}, {grade_words(unit.grade)}): {label(choice.best)} has no "
            f"room for it ({used} of {capacity[choice.best]} used), so {label(channel)}, "
            + (f"{money(loss)} less per unit." if loss >= 0 else f"{money(-loss)} more per unit.")
        )
    if len(moved) > MAX_MOVE_LINES:
        lines.append(f"…and {len(moved) - MAX_MOVE_LINES} more lines off their best channel.")
    return lines
