"""Carriers behind one protocol: the domain never knows which one issued a tracking number.

The built-in ``local`` carrier issues tracking numbers itself; labels are Reclaim's own
(``logistics.labels``). A real carrier's adapter implements :class:`Carrier` and is chosen by
``RECLAIM_CARRIER``; nothing else changes.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from reclaim.returns.states import Method


class ShipmentKind(StrEnum):
    LABEL = "label"  # a printable prepaid label
    QR = "qr"  # a code a drop-off point, locker or store scans: no box, no printer
    PICKUP = "pickup"  # collected in a booked slot, with a label for the parcel


KIND_BY_METHOD: dict[Method, ShipmentKind] = {
    Method.PREPAID_LABEL: ShipmentKind.LABEL,
    Method.BOX_FREE_DROPOFF: ShipmentKind.QR,
    Method.LOCKER: ShipmentKind.QR,
    Method.IN_STORE: ShipmentKind.QR,
    Method.SCHEDULED_PICKUP: ShipmentKind.PICKUP,
}


@dataclass(frozen=True, slots=True)
class ShipmentRequest:
    return_number: str
    kind: ShipmentKind
    method: Method
    pickup_start: datetime | None = None
    pickup_end: datetime | None = None


@dataclass(frozen=True, slots=True)
class CreatedShipment:
    tracking_number: str


@dataclass(frozen=True, slots=True)
class Scan:
    """A carrier's event in Reclaim's words (see ``logistics.tracking`` for the codes)."""

    tracking_number: str
    code: str
    occurred_at: datetime
    event_id: str | None = None
    location: str | None = None
    facility_code: str | None = None
    description: str | None = None


class Carrier(Protocol):
    name: str

    async def create_shipment(self, request: ShipmentRequest) -> CreatedShipment: ...

    async def cancel(self, tracking_number: str) -> None: ...

    def parse_event(self, payload: Mapping[str, Any]) -> Scan: ...


class LocalCarrier:
    """Issues tracking numbers itself; its scans arrive already in Reclaim's event format."""

    name = "local"

    async def create_shipment(self, request: ShipmentRequest) -> CreatedShipment:
        return CreatedShipment(tracking_number=new_tracking_number())

    async def cancel(self, tracking_number: str) -> None:
        return None

    def parse_event(self, payload: Mapping[str, Any]) -> Scan:
        # Values pass through as sent: the tracking rules check and refuse them by field.
        return Scan(
            tracking_number=payload["tracking_number"],
            code=payload["code"],
            occurred_at=payload["occurred_at"],
            event_id=payload.get("event_id"),
            location=payload.get("location"),
            facility_code=payload.get("facility_code"),
            description=payload.get("description"),
        )


def new_tracking_number() -> str:
    """``RC`` + 12 random digits + a check digit (ISO 7064 mod 11-10): a typo is caught."""
    digits = "".join(secrets.choice("0123456789") for _ in range(12))
    return f"RC{digits}{check_digit(digits)}"


def check_digit(digits: str) -> int:
    product = 10
    for char in digits:
        total = (int(char) + product) % 10 or 10
        product = (2 * total) % 11
    return (11 - product) % 10


def valid_tracking_number(text: str) -> bool:
    body = text[2:]
    return (
        len(text) == 15
        and text.startswith("RC")
        and body.isdigit()
        and check_digit(body[:-1]) == int(body[-1])
    )


CARRIERS: dict[str, Carrier] = {"local": LocalCarrier()}


def carrier(name: str) -> Carrier:
    return CARRIERS[name]
