"""How simulated shoppers and warehouse staff behave: pure choices drawn from a seeded RNG."""

from __future__ import annotations

import random
from datetime import date

from reclaim.returns.states import FAULT, Disposition, Fault, Grade, Method, Reason, Resolution
from reclaim.simulation.merchant import SIZES, CategoryProfile, SimProduct


def order_volume_factor(day: date) -> float:
    """Orders swell from mid-November (Black Friday, Cyber Monday) to Christmas, dip in January."""
    month, dom = day.month, day.day
    if month == 11 and dom >= 24:
        return 2.4
    if month == 11 and dom >= 15:
        return 1.5
    if month == 12 and dom <= 20:
        return 1.8
    if month == 12:
        return 1.1
    if month == 1:
        return 0.75
    if month in (6, 7, 8):
        return 0.9
    return 1.0


def return_rate_factor(placed: date) -> float:
    """Gifts bought in the holiday season come back more often, in the January peak."""
    if (placed.month == 11 and placed.day >= 15) or (placed.month == 12 and placed.day <= 24):
        return 1.35
    return 1.0


def choose_reason(rng: random.Random, profile: CategoryProfile, product: SimProduct) -> Reason:
    weights = dict(profile.reasons)
    if product.fit_bias and Reason.TOO_SMALL in weights:
        weights[Reason.TOO_SMALL] *= 1 + product.fit_bias
        weights[Reason.TOO_LARGE] *= 1 - product.fit_bias
    reasons = list(weights)
    return rng.choices(reasons, [max(weights[r], 0.1) for r in reasons])[0]


def comment_for(rng: random.Random, reason: Reason, product: SimProduct) -> str | None:
    if reason in (Reason.TOO_SMALL, Reason.TOO_LARGE) and product.size in SIZES:
        small = reason is Reason.TOO_SMALL
        index = SIZES.index(product.size) + (1 if small else -1)
        if 0 <= index < len(SIZES):
            return f"Runs {'small' if small else 'large'}; {SIZES[index]} would fit."
    texts = {
        Reason.DEFECTIVE: (
            "Stopped working after two days.",
            "Does not turn on.",
            "Seam came apart.",
        ),
        Reason.DAMAGED_IN_TRANSIT: ("Box was crushed.", "Arrived cracked."),
        Reason.NOT_AS_DESCRIBED: ("Colour differs from the photos.", "Smaller than described."),
        Reason.QUALITY_NOT_AS_EXPECTED: ("Feels cheap.", "Fabric is thinner than expected."),
        Reason.WRONG_ITEM: ("Received a different model.",),
    }.get(reason)
    return rng.choice(texts) if texts and rng.random() < 0.6 else None


def choose_resolution(rng: random.Random, profile: CategoryProfile, reason: Reason) -> Resolution:
    if profile.sized and reason in (Reason.TOO_SMALL, Reason.TOO_LARGE):
        weights = (40, 15, 45)
    elif FAULT[reason] is Fault.MERCHANT:
        weights = (60, 10, 30)
    else:
        weights = (70, 20, 10)
    return rng.choices((Resolution.REFUND, Resolution.STORE_CREDIT, Resolution.EXCHANGE), weights)[
        0
    ]


def choose_method(rng: random.Random) -> Method:
    return rng.choices(
        (
            Method.PREPAID_LABEL,
            Method.BOX_FREE_DROPOFF,
            Method.LOCKER,
            Method.IN_STORE,
            Method.SCHEDULED_PICKUP,
        ),
        (50, 25, 10, 10, 5),
    )[0]


def choose_grade(rng: random.Random, reason: Reason) -> Grade:
    fault = FAULT[reason]
    if reason in (Reason.DEFECTIVE, Reason.MISSING_PARTS):
        weights = (0, 2, 5, 10, 33, 50)
    elif fault is Fault.CARRIER:
        weights = (5, 10, 15, 20, 25, 25)
    elif fault is Fault.MERCHANT:
        weights = (25, 25, 20, 15, 10, 5)
    else:
        weights = (45, 25, 12, 8, 6, 4)
    return rng.choices(list(Grade), weights)[0]


def choose_disposition(rng: random.Random, grade: Grade, category: str) -> Disposition:
    if grade in (Grade.NEW, Grade.LIKE_NEW):
        return Disposition.RESTOCK
    if grade is Grade.VERY_GOOD:
        return Disposition.OPEN_BOX
    if grade is Grade.GOOD:
        return rng.choice((Disposition.OPEN_BOX, Disposition.LIQUIDATE))
    if grade is Grade.ACCEPTABLE:
        if category == "electronics":
            return rng.choice((Disposition.REFURBISH, Disposition.RETURN_TO_VENDOR))
        return rng.choice((Disposition.LIQUIDATE, Disposition.DONATE))
    return Disposition.RECYCLE if category in ("electronics", "toys") else Disposition.DISPOSE
