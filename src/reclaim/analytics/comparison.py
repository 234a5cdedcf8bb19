"""How a KPI moved against the period before: in percentage points for shares, in hours or
days for times, and as a relative change for money and ratios; and whether that is better or
worse, by which way the KPI is better. Pure; the dashboard and ``reclaim report`` both say it.
"""

from __future__ import annotations

from dataclasses import dataclass

from reclaim.analytics.definitions import KpiDefinition


@dataclass(frozen=True, slots=True)
class Change:
    arrow: str  # ▲, ▼ or → (decoration: ``words`` says the same)
    words: str  # "+2.1 pts", "−3.0 h", "+12%"
    tone: str  # "good", "bad" or "flat", by which way is better for the KPI
    spoken: str  # "up 2.1 points on the previous 90 days, worse"


def _signed(amount: float, unit: str, digits: int = 1) -> str:
    text = f"{abs(amount):.{digits}f}{unit}"
    return ("+" if amount > 0 else "−" if amount < 0 else "±") + text


def change(
    defn: KpiDefinition, now: float | None, before: float | None, days: int
) -> Change | None:
    """How far the KPI moved since the previous period: percentage points for shares, hours
    or days for times, and relative change for money and ratios."""
    if now is None or before is None:
        return None
    delta = now - before
    if defn.unit == "percent":
        amount, words, spoken_unit = delta * 100, _signed(delta * 100, " pts"), "points"
    elif defn.unit == "hours":
        amount, words, spoken_unit = delta, _signed(delta, " h"), "hours"
    elif defn.unit == "days":
        amount, words, spoken_unit = delta, _signed(delta, " d"), "days"
    elif before:
        amount = delta / abs(before) * 100
        words, spoken_unit = _signed(amount, "%", 0), "percent"
    else:
        return None
    shown = round(abs(amount), 0 if spoken_unit == "percent" else 1)
    if shown == 0:
        return Change("→", "no change", "flat", f"no change on the previous {days} days")
    better = (delta > 0) == (defn.better == "higher")
    direction = "up" if delta > 0 else "down"
    return Change(
        "▲" if delta > 0 else "▼",
        words,
        "good" if better else "bad",
        f"{direction} {shown:g} {spoken_unit} on the previous {days} days, "
        f"{'better' if better else 'worse'}",
    )
