"""Recording carrier scans and letting each one move its return on, once.

Every scan is stored with ``INSERT … ON CONFLICT DO NOTHING`` on its dedupe key, under the
return's row lock: a scan reported twice, by a retry, a replayed request, a CSV of the same day
or two requests at the same moment, is stored once and acts once.

A scan that comes too late to move its return (the return is closed, or the warehouse has
the parcel) still completes the shipment's record; a parcel travelling for a return that was
cancelled or expired is flagged for staff, as it is coming back all the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.db import insert_ignoring_conflict
from reclaim.logistics import tracking
from reclaim.logistics.carriers import Scan
from reclaim.logistics.models import Shipment, TrackingEvent
from reclaim.policy.facts import day
from reclaim.returns import service as returns
from reclaim.returns.models import Return
from reclaim.returns.states import Method, Status

# Only scans for these returns move them; for any other the return is closed, or the
# warehouse already has the parcel and the carrier's news is late.
TRAVELLING = frozenset({Status.APPROVED, Status.IN_TRANSIT})
ALREADY_HERE = frozenset({Status.RECEIVED, Status.INSPECTED})
# Called off before the parcel travelled: if it travels anyway, someone has to decide.
CALLED_OFF = frozenset({Status.CANCELLED, Status.EXPIRED})
DEFAULT_ATTENTION = "The carrier reported a problem with the parcel; check with the carrier."


class Outcome(StrEnum):
    STORED = "stored"  # new, and applied
    DUPLICATE = "duplicate"  # seen before: not stored again, no effect
    IGNORED = "ignored"  # new and stored, but the return doesn't move: closed or already here
    UNKNOWN = "unknown"  # no shipment has this tracking number: nothing stored


class Change(StrEnum):
    IN_TRANSIT = "in_transit"  # the return moved from approved to in transit
    STAGE = "stage"  # the shipment reached a further stage
    ARRIVED = "arrived"  # delivered to the facility
    # Flagged for staff: a carrier exception, or a parcel travelling for a called-off return.
    ATTENTION = "attention"


SAID = {
    Change.IN_TRANSIT: "the return is now in transit",
    Change.STAGE: "the shipment reached {stage}",
    Change.ARRIVED: "it arrived at the facility",
    Change.ATTENTION: "flagged for staff to look at",
}


@dataclass(frozen=True, slots=True)
class ScanResult:
    tracking_number: str
    outcome: Outcome
    message: str
    return_number: str | None = None
    stage: str | None = None  # the shipment's furthest stage after the scan
    changes: tuple[Change, ...] = ()


async def record_scans(
    session: AsyncSession,
    scans: Sequence[Scan],
    source: str,
    now: datetime,
    *,
    carrier: str = "local",
) -> list[ScanResult]:
    """Store and apply scans; one result each, in the order given.

    Callers check scans first (``tracking.checked``) to report bad ones their own way; a
    scan that fails the check here raises ``BadScan``. Scans are applied in the order of
    their returns' ids, so concurrent batches touching the same returns lock them in one
    order instead of deadlocking."""
    scans = [tracking.checked(scan) for scan in scans]
    numbers = await _returns_by_tracking(session, {scan.tracking_number for scan in scans})
    order = sorted(
        range(len(scans)),
        key=lambda i: numbers.get(scans[i].tracking_number, (0, ""))[0],
    )
    results: dict[int, ScanResult] = {}
    for i in order:
        scan = scans[i]
        found = numbers.get(scan.tracking_number)
        if found is None:
            results[i] = ScanResult(
                scan.tracking_number,
                Outcome.UNKNOWN,
                f"No shipment has tracking number {scan.tracking_number}; check the number.",
            )
            continue
        results[i] = await _record(session, scan, found[1], source, now, carrier)
    return [results[i] for i in range(len(scans))]


async def _returns_by_tracking(
    session: AsyncSession, tracking_numbers: set[str]
) -> dict[str, tuple[int, str]]:
    if not tracking_numbers:
        return {}
    found = await session.execute(
        select(Shipment.tracking_number, Return.id, Return.number)
        .join(Return, Return.id == Shipment.return_id)
        .where(Shipment.tracking_number.in_(tracking_numbers))
    )
    return {number: (return_id, rma) for number, return_id, rma in found.all()}


async def _record(
    session: AsyncSession, scan: Scan, number: str, source: str, now: datetime, carrier: str
) -> ScanResult:
    key = tracking.dedupe_key(scan, carrier)
    # A repeat seen before answers without locking the return; a repeat racing its first
    # copy is caught by the insert below.
    seen_stage = await session.scalar(
        select(Shipment.stage)
        .join(TrackingEvent, TrackingEvent.shipment_id == Shipment.id)
        .where(TrackingEvent.dedupe_key == key)
    )
    if seen_stage is not None:
        return _duplicate(scan, number, seen_stage)
    ret = await returns.load_for_change(session, number)
    # Read after the lock: a scan committed meanwhile may have moved the stage on.
    shipment = await session.scalar(
        select(Shipment)
        .where(Shipment.return_id == ret.id)
        .execution_options(populate_existing=True)
    )
    assert shipment is not None
    stored = await insert_ignoring_conflict(
        session,
        TrackingEvent,
        {
            "shipment_id": shipment.id,
            "dedupe_key": key,
            "code": scan.code,
            "occurred_at": scan.occurred_at,
            "location": scan.location,
            "facility_code": scan.facility_code,
            "description": scan.description,
            "source": source,
            "received_at": now,
        },
        ["dedupe_key"],
    )
    if not stored:
        return _duplicate(scan, number, shipment.stage)
    if ret.method == Method.KEEP_ITEM:
        said = f"Stored, but return {number} has nothing to send back; nothing changed."
        return ScanResult(scan.tracking_number, Outcome.IGNORED, said, number, shipment.stage)
    if Status(ret.status) not in TRAVELLING:
        return _late(session, ret, shipment, scan, now, carrier)
    changes = await _apply(session, ret, shipment, scan, now, carrier)
    said = "; ".join(SAID[change].format(stage=shipment.stage) for change in changes)
    return ScanResult(
        scan.tracking_number,
        Outcome.STORED,
        f"Stored; {said or 'nothing new for the return'}.",
        number,
        shipment.stage,
        tuple(changes),
    )


async def _apply(
    session: AsyncSession,
    ret: Return,
    shipment: Shipment,
    scan: Scan,
    now: datetime,
    carrier: str,
) -> list[Change]:
    actor = returns.Actor(f"carrier:{carrier}", now)
    step = _track(shipment, scan)
    changes: list[Change] = []
    if tracking.rank(scan.code) > 0 and Status(ret.status) is Status.APPROVED:
        await returns.mark_in_transit(
            session,
            ret.number,
            actor,
            tracking_number=shipment.tracking_number,
            carrier=carrier,
        )
        changes.append(Change.IN_TRANSIT)
    if step.advanced:
        changes.append(Change.STAGE)
    if step.delivered:
        returns.note(session, ret, returns.Note.ARRIVED, actor, _facts(shipment, scan))
        changes.append(Change.ARRIVED)
    if step.exception:
        # Staff clear it once they have looked; a later good scan doesn't.
        _flag(session, ret, shipment, scan, actor, scan.description or DEFAULT_ATTENTION)
        changes.append(Change.ATTENTION)
    return changes


def _late(
    session: AsyncSession,
    ret: Return,
    shipment: Shipment,
    scan: Scan,
    now: datetime,
    carrier: str,
) -> ScanResult:
    """A scan for a return that no longer travels: the return stays as it is."""
    status = Status(ret.status)
    step = _track(shipment, scan)
    changes = [Change.STAGE] if step.advanced else []
    # Only the first sign of the parcel travelling is news; later scans of it are not.
    if status in CALLED_OFF and step.first_scan:
        reason = (
            f"The carrier scanned the parcel on {day(scan.occurred_at)} after the return was "
            f"{status}: it is on its way back anyway; decide what to do with it."
        )
        _flag(session, ret, shipment, scan, returns.Actor(f"carrier:{carrier}", now), reason)
        changes.append(Change.ATTENTION)
        said = (
            f"Stored; return {ret.number} is {status}, but the parcel is on its way back: "
            "flagged for staff to decide what to do with it."
        )
    else:
        why = "was already received" if status in ALREADY_HERE else f"is {status}"
        reached = f"; the shipment reached {shipment.stage}" if step.advanced else ""
        said = f"Stored; return {ret.number} {why}, so the return stays as it is{reached}."
    return ScanResult(
        scan.tracking_number,
        Outcome.IGNORED,
        said,
        ret.number,
        shipment.stage,
        tuple(changes),
    )


def _track(shipment: Shipment, scan: Scan) -> tracking.Effect:
    """The shipment's record brought up to date with a new scan; nothing in it goes back."""
    step = tracking.effect(shipment.stage, scan)
    at = scan.occurred_at
    shipment.last_event_at = max(shipment.last_event_at or at, at)
    if tracking.rank(scan.code) > 0:
        # The earliest progress scan is when it was handed over, whichever arrived first.
        shipment.first_scan_at = min(shipment.first_scan_at or at, at)
    if step.advanced:
        shipment.stage = step.stage
    if step.delivered:
        shipment.delivered_at = at
    return step


def _flag(
    session: AsyncSession,
    ret: Return,
    shipment: Shipment,
    scan: Scan,
    actor: returns.Actor,
    reason: str,
) -> None:
    ret.attention = reason
    ret.attention_at = actor.now
    returns.note(
        session, ret, returns.Note.ATTENTION, actor, {"reason": reason, **_facts(shipment, scan)}
    )


def _duplicate(scan: Scan, number: str, stage: str) -> ScanResult:
    return ScanResult(
        scan.tracking_number, Outcome.DUPLICATE, "Already recorded; nothing changed.", number, stage
    )


def _facts(shipment: Shipment, scan: Scan) -> dict[str, Any]:
    facts = {
        "tracking_number": shipment.tracking_number,
        "code": scan.code,
        "occurred_at": scan.occurred_at.isoformat(),
        "location": scan.location,
        "facility_code": scan.facility_code,
    }
    return {key: value for key, value in facts.items() if value}
