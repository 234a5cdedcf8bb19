"""Where a shopper can hand a return over, and when it can be picked up: pure rules."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from reclaim.policy.schema import Pickup
from reclaim.returns.states import Method

# The methods that need a place to hand the parcel over.
FACILITY_METHODS = frozenset({Method.BOX_FREE_DROPOFF, Method.LOCKER, Method.IN_STORE})
EARTH_RADIUS_KM = 6371.0


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine): plenty for 'which drop-off point is nearest'."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def postcode_closeness(a: str | None, b: str | None) -> int:
    """How many leading characters two postcodes share: without coordinates, a fair proxy."""
    if not a or not b:
        return 0
    x, y = a.replace(" ", "").upper(), b.replace(" ", "").upper()
    shared = 0
    for left, right in zip(x, y, strict=False):
        if left != right:
            break
        shared += 1
    return shared


@dataclass(frozen=True, slots=True)
class Slot:
    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        start, end = self.start, self.end
        return f"{start:%a} {start.day} {start:%b}, {start:%H:%M}–{end:%H:%M}"


def pickup_slots(rules: Pickup, now: datetime) -> list[Slot]:
    """The next working days' windows, from tomorrow, in UTC (the shop's clock)."""
    slots: list[Slot] = []
    day: date = now.astimezone(UTC).date()
    while len({slot.start.date() for slot in slots}) < rules.days_ahead:
        day += timedelta(days=1)
        if day.isoweekday() not in rules.weekdays:
            continue
        for start, end in rules.windows:
            slots.append(
                Slot(
                    datetime.combine(day, start, tzinfo=UTC),
                    datetime.combine(day, end, tzinfo=UTC),
                )
            )
    return slots
