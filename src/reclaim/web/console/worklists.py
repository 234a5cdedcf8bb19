"""The work queue: returns waiting for someone, one list per kind of work, newest first."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from reclaim.logistics.models import Shipment
from reclaim.returns.models import Return, ReturnLine
from reclaim.returns.states import Status
from reclaim.users.roles import Permission


def _status(*statuses: Status) -> ColumnElement[bool]:
    return Return.status.in_([status.value for status in statuses])


def _travelling() -> ColumnElement[bool]:
    shipped = exists().where(Shipment.return_id == Return.id, Shipment.cancelled_at.is_(None))
    return and_(_status(Status.APPROVED, Status.IN_TRANSIT), shipped)


def _undispositioned() -> ColumnElement[bool]:
    # Every received line needs a disposition; lines that never arrived don't.
    return exists().where(
        ReturnLine.return_id == Return.id,
        ReturnLine.received_quantity > 0,
        ReturnLine.disposition.is_(None),
    )


def _undecided() -> ColumnElement[bool]:
    return and_(_status(Status.INSPECTED), _undispositioned())


def _finished() -> ColumnElement[bool]:
    """Every line that arrived has gone where it belongs (rules.ready_to_complete), and only
    completing the return is left."""
    arrived = exists().where(ReturnLine.return_id == Return.id, ReturnLine.received_quantity > 0)
    return and_(_status(Status.INSPECTED), arrived, ~_undispositioned())


@dataclass(frozen=True, slots=True)
class Worklist:
    key: str
    title: str
    next_step: str  # what whoever picks one up does
    where: Callable[[], ColumnElement[bool]]
    # Who works on it: the list is shown to everyone who may see returns, and says so.
    worked_by: Permission
    # The step each return waits for, when it is taken at the station: its rows link there.
    station_step: str | None = None


WORKLISTS = (
    Worklist(
        "review",
        "Awaiting review",
        "Approve or reject each, saying why when rejecting.",
        lambda: _status(Status.REQUESTED, Status.REVIEW),
        Permission.DECIDE_REVIEWS,
    ),
    Worklist(
        "exceptions",
        "Exceptions",
        "Something went wrong: look, act, and resolve the flag with a note.",
        lambda: Return.attention.is_not(None),
        Permission.RESOLVE_EXCEPTIONS,
    ),
    Worklist(
        "arriving",
        "Arriving",
        "Approved and on their way; receive each at the station when it arrives.",
        _travelling,
        Permission.RECEIVE,
    ),
    Worklist(
        "inspection",
        "Awaiting inspection",
        "Received: inspect and grade every line at the station.",
        lambda: _status(Status.RECEIVED),
        Permission.INSPECT,
    ),
    Worklist(
        "disposition",
        "Awaiting disposition",
        "Graded: route every received line to its channel.",
        _undecided,
        Permission.DISPOSITION,
    ),
    Worklist(
        "complete",
        "Ready to complete",
        "Every line that arrived has gone where it belongs: complete each at the station.",
        _finished,
        Permission.DISPOSITION,
        "Complete",
    ),
)
BY_KEY = {worklist.key: worklist for worklist in WORKLISTS}


def _listed(where: ColumnElement[bool]) -> Select[Return]:
    return (
        select(Return)
        .where(where)
        .options(joinedload(Return.order), joinedload(Return.customer))
        .order_by(Return.id.desc())
    )


async def count(session: AsyncSession, worklist: Worklist) -> int:
    found = await session.scalar(select(func.count()).select_from(Return).where(worklist.where()))
    return int(found or 0)


async def newest(
    session: AsyncSession, worklist: Worklist, *, limit: int, before: int | None = None
) -> tuple[list[Return], int | None]:
    """A page of the list, newest first; the cursor (an id) fetches the next, older page."""
    query = _listed(worklist.where()).limit(limit + 1)
    if before is not None:
        query = query.where(Return.id < before)
    rows = list((await session.scalars(query)).unique())
    page = rows[:limit]
    return page, (page[-1].id if len(rows) > limit and page else None)
