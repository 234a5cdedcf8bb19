"""A score's drivers in words: the features that pushed a line's risk up the most.

LightGBM splits each prediction into per-feature contributions (log-odds). A line's drivers
are its largest positive ones, from the line model and from its order's model, each told as
the feature's words and the line's value ("the product's past return rate: 6.1%").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reclaim.kit.money import Money
from reclaim.prediction.features import ALL_BY_NAME, Feature

DRIVERS = 3
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def describe(feature: Feature, value: Any, currency: str) -> str:
    """``value`` as a person reads it, after the feature's words."""
    if value is None or (isinstance(value, float) and value != value):
        shown = "none"
    elif feature.format == "count":
        shown = f"{value:,.0f}"
    elif feature.format in ("rate", "share"):
        shown = f"{100 * value:.1f}%"
    elif feature.format == "days":
        shown = f"{value:,.1f} days"
    elif feature.format == "money":
        shown = Money(round(value), currency).format()
    elif feature.format == "ratio":
        shown = f"×{value:,.2f}"
    elif feature.format == "hour":
        shown = f"{int(value):02d}:00"
    elif feature.format == "weekday":
        shown = WEEKDAYS[int(value) - 1]
    else:
        shown = str(value)
    return f"{feature.words}: {shown}"


def drivers(
    pushes: Sequence[Mapping[str, float]],
    values: Sequence[Mapping[str, Any]],
    currency: str,
    limit: int = DRIVERS,
) -> list[str]:
    """The ``limit`` features that raised the score most, over several models' contributions
    (``pushes``, with the values each model saw); a feature named twice counts once."""
    best: dict[str, tuple[float, Any]] = {}
    for push, seen in zip(pushes, values, strict=True):
        for name, amount in push.items():
            if amount > 0 and amount > best.get(name, (0.0, None))[0]:
                best[name] = (amount, seen.get(name))
    ranked = sorted(best.items(), key=lambda kv: -kv[1][0])[:limit]
    return [describe(ALL_BY_NAME[name], value, currency) for name, (_, value) in ranked]
