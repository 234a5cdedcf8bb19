"""Tracking scans in Reclaim's words, and what each one does to a shipment: pure rules.

Carriers name the same moment differently ("picked_up", "dropped_off", "acceptance scan"), so
every code is mapped to a few canonical ones with a rank. A shipment remembers the furthest
rank it reached; a scan that arrives late with a lower rank is kept but moves nothing back.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from reclaim.kit.clock import as_utc
from reclaim.logistics.carriers import Scan
from reclaim.orders.importer import RowError, csv_rows


class Code(StrEnum):
    ACCEPTED = "accepted"  # first scan: dropped off, picked up, scanned at a locker or store
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"  # at the receiving facility
    EXCEPTION = "exception"  # damaged, lost, address problem: a person should look


# How far along each code is; an exception says nothing about progress, so it has no rank.
RANK: dict[Code, int] = {
    Code.ACCEPTED: 1,
    Code.IN_TRANSIT: 2,
    Code.OUT_FOR_DELIVERY: 3,
    Code.DELIVERED: 4,
}
# The stage of a shipment no scan has reached yet (the column's default).
CREATED = "created"

ALIASES: dict[str, Code] = {
    "picked_up": Code.ACCEPTED,
    "pickup": Code.ACCEPTED,
    "dropped_off": Code.ACCEPTED,
    "drop_off": Code.ACCEPTED,
    "dropoff": Code.ACCEPTED,
    "acceptance": Code.ACCEPTED,
    "received_at_dropoff": Code.ACCEPTED,
    "locker_dropoff": Code.ACCEPTED,
    "store_dropoff": Code.ACCEPTED,
    "transit": Code.IN_TRANSIT,
    "departed": Code.IN_TRANSIT,
    "arrived_at_hub": Code.IN_TRANSIT,
    "out_for_delivery": Code.OUT_FOR_DELIVERY,
    "with_courier": Code.OUT_FOR_DELIVERY,
    "arrived": Code.DELIVERED,
    "delivered_to_facility": Code.DELIVERED,
    "damaged": Code.EXCEPTION,
    "lost": Code.EXCEPTION,
    "address_problem": Code.EXCEPTION,
    "failed": Code.EXCEPTION,
    "delivery_failed": Code.EXCEPTION,
}

# Column sizes of tracking_events and shipments; a longer value is refused, not cut.
MAX_LENGTH: dict[str, int] = {
    "tracking_number": 64,
    "code": 32,
    # Only its digest is stored; a limit all the same, as no carrier's ids are longer.
    "event_id": 80,
    "location": 200,
    "facility_code": 32,
    "description": 2000,
}


class BadScan(ValueError):
    """One field of a scan can't be used; the message says what to send instead."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def canonical_code(text: str) -> Code:
    """The canonical code for a carrier's code or a common alias, whatever its case."""
    key = text.strip().lower().replace("-", "_").replace(" ", "_")
    try:
        return Code(key)
    except ValueError:
        pass
    if key in ALIASES:
        return ALIASES[key]
    raise BadScan("code", f"{text!r} is not a tracking code; use one of {', '.join(Code)}")


def rank(stage: str) -> int:
    """How far a shipment got: 0 before any scan, and for anything that isn't progress."""
    try:
        return RANK.get(Code(stage), 0)
    except ValueError:
        return 0


def _timestamp(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise BadScan(
                "occurred_at", f"{value!r} is not an ISO-8601 time like 2025-03-01T14:05:00Z"
            ) from None
    if not isinstance(value, datetime):
        raise BadScan("occurred_at", "give an ISO-8601 time like 2025-03-01T14:05:00Z")
    if value.tzinfo is None:
        raise BadScan(
            "occurred_at", f"{value.isoformat()!r} has no time zone; add Z or an offset like +01:00"
        )
    try:
        return as_utc(value)
    except OverflowError:
        raise BadScan("occurred_at", f"{value.isoformat()!r} is out of range") from None


def _text(name: str, value: Any, *, required: bool = False) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and name == "event_id":
        value = str(value)  # carriers often number their events
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise BadScan(name, "must not be empty")
        return None
    if not isinstance(value, str):
        raise BadScan(name, "must be text")
    value = value.strip()
    if "\x00" in value:
        raise BadScan(name, "must not contain NUL characters")
    if len(value) > MAX_LENGTH[name]:
        raise BadScan(name, f"is longer than {MAX_LENGTH[name]} characters")
    return value


def checked(scan: Scan) -> Scan:
    """The scan with a canonical code, a UTC time and tidy text, or :class:`BadScan`.

    A carrier's ``parse_event`` passes values on as it found them, so they are checked here,
    whichever carrier sent them."""
    tracking_number = _text("tracking_number", scan.tracking_number, required=True)
    code = _text("code", scan.code, required=True)
    assert tracking_number is not None and code is not None
    return replace(
        scan,
        # Tracking numbers are printed and typed in capitals; a lower-case copy is the same.
        tracking_number=tracking_number.upper(),
        code=canonical_code(code).value,
        occurred_at=_timestamp(scan.occurred_at),
        event_id=_text("event_id", scan.event_id),
        location=_text("location", scan.location),
        facility_code=_text("facility_code", scan.facility_code),
        description=_text("description", scan.description),
    )


def dedupe_key(scan: Scan, carrier: str) -> str:
    """One key for a scan however often it is reported, as long as it comes the same way.

    With the carrier's event id, a digest of carrier, tracking number and event id: carriers
    often number events per parcel, so the id alone would merge two parcels' scans. Without
    one, a digest of what makes a scan that scan: tracking number, code, time to the second
    and place. The two kinds never match: a scan sent once with an event id and once without
    is stored twice. The copy moves nothing on, as stages never go back, but a copied
    exception flags the return again."""
    if scan.event_id:
        named = [carrier, scan.tracking_number, scan.event_id]
        return "id:" + hashlib.sha256(json.dumps(named).encode()).hexdigest()
    parts = [
        scan.tracking_number,
        canonical_code(scan.code).value,
        as_utc(scan.occurred_at).replace(microsecond=0).isoformat(),
        scan.location or "",
    ]
    return "sha256:" + hashlib.sha256(json.dumps(parts).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Effect:
    """What one new scan does to a shipment whose furthest stage was ``current``."""

    stage: str  # the furthest stage after the scan
    advanced: bool  # the scan reached further than any before it
    first_scan: bool  # the first scan that shows the parcel is on its way
    delivered: bool  # it reached the facility with this scan
    exception: bool  # the carrier reports a problem


def effect(current_stage: str, scan: Scan) -> Effect:
    code = canonical_code(scan.code)
    before = rank(current_stage)
    after = RANK.get(code, 0)
    advanced = after > before
    return Effect(
        stage=code.value if advanced else current_stage,
        advanced=advanced,
        first_scan=before == 0 and after > 0,
        delivered=advanced and code is Code.DELIVERED,
        exception=code is Code.EXCEPTION,
    )


CSV_COLUMNS = (
    "tracking_number",
    "code",
    "occurred_at",
    "event_id",
    "location",
    "facility_code",
    "description",
)
REQUIRED_CSV = ("tracking_number", "code", "occurred_at")


@dataclass
class ParsedScans:
    scans: list[tuple[int, Scan]] = field(default_factory=list)  # (line, scan)
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0

    @property
    def unreadable(self) -> bool:
        """Nothing in the file could be used: a bad header, or every row bad."""
        return not self.scans and bool(self.errors)


def parse_csv(text: str, parse_event: Callable[[Mapping[str, Any]], Scan]) -> ParsedScans:
    """Every row read through the carrier's parser and checked; bad rows named by line."""
    parsed = ParsedScans()
    rows = csv_rows(text, REQUIRED_CSV, CSV_COLUMNS, parsed.errors)
    try:
        for line, cells in rows:
            parsed.rows += 1
            if cells is not None:
                _parse_row(parsed, line, cells, parse_event)
    except csv.Error as exc:
        # The reader can't go on (a field beyond the size limit, say): keep what it read.
        parsed.errors.append(
            RowError(parsed.rows + 2, f"this row and the rest of the file can't be read ({exc})")
        )
    return parsed


def _parse_row(
    parsed: ParsedScans,
    line: int,
    cells: dict[str, str],
    parse_event: Callable[[Mapping[str, Any]], Scan],
) -> None:
    try:
        scan = checked(parse_event({key: value for key, value in cells.items() if value}))
    except KeyError as exc:
        parsed.errors.append(RowError(line, f"{exc.args[0]}: must not be empty"))
    except ValueError as exc:
        parsed.errors.append(RowError(line, str(exc)))
    else:
        parsed.scans.append((line, scan))
