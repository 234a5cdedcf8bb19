"""The demo merchant's places around London, shared by ``reclaim demo`` and the tests.

Box-free drop-off points and lockers spread over the districts its shoppers live in, two of its
own stores that take returns over the counter, and the warehouse returns travel to.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.logistics.schemas import FacilityIn
from reclaim.logistics.service import upsert_facility

SHOP_HOURS = "Mon-Sat 09:00-20:00, Sun 12:00-18:00"
CORNER_SHOP_HOURS = "Mon-Sun 07:00-22:00"
ALWAYS = "24/7"

_FACILITIES: tuple[dict[str, Any], ...] = (
    {
        "code": "DROP-SOHO",
        "name": "Old Compton News (drop-off point)",
        "kind": "dropoff",
        "methods": ["box_free_dropoff"],
        "address": "22 Old Compton Street, London",
        "postcode": "W1D 4TN",
        "lat": 51.51335,
        "lon": -0.13095,
        "opening_hours": CORNER_SHOP_HOURS,
    },
    {
        "code": "DROP-ISLINGTON",
        "name": "Upper Street Post & Parcel",
        "kind": "dropoff",
        "methods": ["box_free_dropoff"],
        "address": "210 Upper Street, London",
        "postcode": "N1 1RQ",
        "lat": 51.54165,
        "lon": -0.10290,
        "opening_hours": CORNER_SHOP_HOURS,
    },
    {
        "code": "DROP-HACKNEY",
        "name": "Mare Street Parcel Point",
        "kind": "dropoff",
        "methods": ["box_free_dropoff"],
        "address": "141 Mare Street, London",
        "postcode": "E8 3RH",
        "lat": 51.54080,
        "lon": -0.05590,
        "opening_hours": CORNER_SHOP_HOURS,
    },
    {
        "code": "DROP-BRIXTON",
        "name": "Brixton Road Convenience (drop-off point)",
        "kind": "dropoff",
        "methods": ["box_free_dropoff"],
        "address": "401 Brixton Road, London",
        "postcode": "SW9 7DG",
        "lat": 51.46430,
        "lon": -0.11480,
        "opening_hours": CORNER_SHOP_HOURS,
    },
    {
        "code": "LOCK-KINGSX",
        "name": "King's Cross Station parcel lockers",
        "kind": "locker",
        "methods": ["locker"],
        "address": "Euston Road, London",
        "postcode": "N1C 4AP",
        "lat": 51.53090,
        "lon": -0.12330,
        "opening_hours": ALWAYS,
    },
    {
        "code": "LOCK-CANARY",
        "name": "Canary Wharf parcel lockers",
        "kind": "locker",
        "methods": ["locker"],
        "address": "Cabot Place, London",
        "postcode": "E14 4QT",
        "lat": 51.50470,
        "lon": -0.01960,
        "opening_hours": ALWAYS,
    },
    {
        "code": "LOCK-STRATFORD",
        "name": "Stratford Centre parcel lockers",
        "kind": "locker",
        "methods": ["locker"],
        "address": "Montfichet Road, London",
        "postcode": "E20 1EJ",
        "lat": 51.54290,
        "lon": -0.00760,
        "opening_hours": ALWAYS,
    },
    {
        "code": "LOCK-CLAPHAM",
        "name": "Clapham Junction parcel lockers",
        "kind": "locker",
        "methods": ["locker", "box_free_dropoff"],
        "address": "St John's Hill, London",
        "postcode": "SW11 1RU",
        "lat": 51.46420,
        "lon": -0.17040,
        "opening_hours": ALWAYS,
    },
    {
        "code": "STORE-OXFORD-ST",
        "name": "Reclaim Demo Store, Oxford Street",
        "kind": "store",
        "methods": ["in_store", "box_free_dropoff"],
        "address": "300 Oxford Street, London",
        "postcode": "W1C 1DX",
        "lat": 51.51520,
        "lon": -0.14460,
        "opening_hours": SHOP_HOURS,
    },
    {
        "code": "STORE-SHOREDITCH",
        "name": "Reclaim Demo Store, Shoreditch",
        "kind": "store",
        "methods": ["in_store"],
        "address": "12 Redchurch Street, London",
        "postcode": "E2 7DJ",
        "lat": 51.52380,
        "lon": -0.07520,
        "opening_hours": SHOP_HOURS,
    },
    {
        # Where every return ends up; shoppers can't hand parcels in here.
        "code": "WH-PARK-ROYAL",
        "name": "London returns centre, Park Royal",
        "kind": "warehouse",
        "methods": [],
        "address": "Abbey Road, Park Royal, London",
        "postcode": "NW10 7SU",
        "lat": 51.53330,
        "lon": -0.26600,
        "opening_hours": "Mon-Fri 06:00-22:00",
    },
)


def demo_facilities() -> list[FacilityIn]:
    return [FacilityIn.model_validate({"country": "GB", **data}) for data in _FACILITIES]


async def seed_facilities(session: AsyncSession) -> int:
    """Create (or bring back up to date) the demo facilities; how many there are."""
    facilities = demo_facilities()
    for facility in facilities:
        await upsert_facility(session, facility)
    return len(facilities)
