"""Facilities: the drop-off points, lockers and stores a shopper can hand a return to."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.errors import ValidationFailed
from reclaim.logistics import rules
from reclaim.logistics.models import Facility
from reclaim.logistics.schemas import FacilityIn
from reclaim.orders.models import Order
from reclaim.returns.states import Method


@dataclass(frozen=True, slots=True)
class Nearby:
    facility: Facility
    distance_km: float | None


async def nearby(
    session: AsyncSession, order: Order, method: Method, *, limit: int = 5
) -> list[Nearby]:
    """Facilities offering the method, nearest the order's address first.

    By distance when the shop sent coordinates, else by how much of the postcode matches."""
    facilities = [
        facility
        for facility in await session.scalars(
            select(Facility).where(Facility.active.is_(True)).order_by(Facility.code)
        )
        if method.value in facility.methods
    ]
    if order.ship_lat is not None and order.ship_lon is not None:
        lat, lon = order.ship_lat, order.ship_lon
        found = [
            Nearby(f, rules.distance_km(lat, lon, f.lat, f.lon))
            for f in facilities
            if f.lat is not None and f.lon is not None
        ]
        found.sort(key=lambda near: (near.distance_km or 0.0, near.facility.code))
        return found[:limit]
    in_country = [
        f for f in facilities if not order.ship_country or f.country in (None, order.ship_country)
    ]
    in_country.sort(
        key=lambda f: (-rules.postcode_closeness(order.ship_postcode, f.postcode), f.code)
    )
    return [Nearby(f, None) for f in in_country[:limit]]


async def facility_for(session: AsyncSession, code: str, method: Method) -> Facility:
    facility = await session.scalar(
        select(Facility).where(Facility.code == code, Facility.active.is_(True))
    )
    if facility is None:
        raise ValidationFailed(f"There is no drop-off place {code!r}.", facility=code)
    if method.value not in facility.methods:
        raise ValidationFailed(
            f"{facility.name} doesn't take returns by {method.value.replace('_', ' ')}.",
            facility=code,
        )
    return facility


async def upsert_facility(session: AsyncSession, data: FacilityIn) -> tuple[Facility, bool]:
    facility = await session.scalar(select(Facility).where(Facility.code == data.code))
    created = facility is None
    if facility is None:
        facility = Facility(code=data.code)
        session.add(facility)
    facility.name = data.name
    facility.kind = data.kind
    facility.methods = sorted(method.value for method in data.methods)
    facility.address = data.address
    facility.postcode = data.postcode
    facility.country = data.country
    facility.lat = data.lat
    facility.lon = data.lon
    facility.opening_hours = data.opening_hours
    facility.active = data.active
    await session.flush()
    return facility, created
