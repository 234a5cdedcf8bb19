from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field, model_validator

from reclaim.orders.schemas import Strict
from reclaim.returns.states import Method


class FacilityKind(StrEnum):
    DROPOFF = "dropoff"
    LOCKER = "locker"
    STORE = "store"
    WAREHOUSE = "warehouse"
    REFURBISHER = "refurbisher"
    RECYCLER = "recycler"


class FacilityIn(Strict):
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1, max_length=200)
    kind: FacilityKind
    methods: list[Method] = Field(default_factory=list, max_length=10)
    address: str = Field(default="", max_length=500)
    postcode: str | None = Field(default=None, max_length=16)
    country: str | None = Field(default=None, min_length=2, max_length=2, pattern=r"^[A-Z]{2}$")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    opening_hours: str | None = Field(default=None, max_length=200)
    active: bool = True

    @model_validator(mode="after")
    def _both_coordinates(self) -> FacilityIn:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither")
        if Method.KEEP_ITEM in self.methods:
            raise ValueError("keep_item is not something a facility offers")
        return self


class FacilityOut(BaseModel):
    code: str
    name: str
    kind: str
    methods: list[str]
    address: str
    postcode: str | None
    country: str | None
    lat: float | None
    lon: float | None
    opening_hours: str | None
    active: bool
