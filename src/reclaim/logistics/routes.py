"""Facilities over the API: the shop keeps its drop-off points, lockers and stores up to date."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from reclaim.api.deps import ReadSession, Sessions, require
from reclaim.api.problems import Problem, documented
from reclaim.db import transaction
from reclaim.errors import NotFound, ValidationFailed
from reclaim.logistics.models import Facility
from reclaim.logistics.schemas import FacilityIn, FacilityKind, FacilityOut
from reclaim.logistics.service import upsert_facility
from reclaim.returns.states import Method
from reclaim.users.apikeys import Scope
from reclaim.users.models import ApiKey

router = APIRouter(prefix="/facilities", tags=["facilities"], responses=documented(401, 403, 422))
Code = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]
# Facilities are the shop's master data, like its orders: the same scopes guard them.
Writer = Annotated[ApiKey, Depends(require(Scope.ORDERS_WRITE))]
Reader = Annotated[ApiKey, Depends(require(Scope.ORDERS_READ))]
NO_FACILITY: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such facility"}
}


class FacilityList(BaseModel):
    items: list[FacilityOut]


def facility_out(facility: Facility) -> FacilityOut:
    return FacilityOut(
        code=facility.code,
        name=facility.name,
        kind=facility.kind,
        methods=list(facility.methods),
        address=facility.address,
        postcode=facility.postcode,
        country=facility.country,
        lat=facility.lat,
        lon=facility.lon,
        opening_hours=facility.opening_hours,
        active=facility.active,
    )


@router.put(
    "/{code}",
    response_model=FacilityOut,
    summary="Create or replace a facility by its code",
    responses={
        201: {"model": FacilityOut, "description": "A new facility was created"},
        **documented(400),
    },
)
async def put_facility(
    code: Code, data: FacilityIn, response: Response, sessions: Sessions, _key: Writer
) -> FacilityOut:
    if data.code != code:
        raise ValidationFailed(
            f"The body names facility {data.code!r} but the path {code!r}.", code=data.code
        )
    # PUT is idempotent by itself. Two first PUTs of one code may race to insert it; the
    # loser's unique violation rolls back, and trying again updates the winner's row.
    for attempt in (1, 2):
        try:
            async with transaction(sessions) as session:
                facility, created = await upsert_facility(session, data)
                shown = facility_out(facility)
            break
        except IntegrityError:
            if attempt == 2:
                raise
    response.status_code = 201 if created else 200
    return shown


@router.get("", response_model=FacilityList, summary="Facilities, by code")
async def list_facilities(
    session: ReadSession,
    _key: Reader,
    method: Method | None = None,
    kind: FacilityKind | None = None,
    active: bool | None = None,
) -> FacilityList:
    query = select(Facility).order_by(Facility.code)
    if kind is not None:
        query = query.where(Facility.kind == kind)
    if active is not None:
        query = query.where(Facility.active.is_(active))
    found = await session.scalars(query)
    # Methods are a JSON list; filtering here works the same on SQLite and PostgreSQL.
    return FacilityList(
        items=[
            facility_out(facility)
            for facility in found
            if method is None or method.value in facility.methods
        ]
    )


@router.get("/{code}", response_model=FacilityOut, summary="A facility", responses=NO_FACILITY)
async def get_facility(code: Code, session: ReadSession, _key: Reader) -> FacilityOut:
    facility = await session.scalar(select(Facility).where(Facility.code == code))
    if facility is None:
        raise NotFound(f"No facility {code!r}.", code=code)
    return facility_out(facility)
