"""Approved returns that are never handed over: a reminder near the deadline, then expiry.

The worker calls :func:`remind_and_expire` now and then. Each return is handled in its own
short transaction under its row lock, with the condition checked again once locked, so two
workers running at once remind a shopper once and one failure holds up no other return.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from reclaim.db import transaction
from reclaim.returns import service as returns
from reclaim.returns.models import Return
from reclaim.returns.states import Method, Status

log = logging.getLogger(__name__)
ACTOR = "handover"


@dataclass
class HandoverReport:
    reminded: list[str] = field(default_factory=list)  # return numbers
    expired: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # return number: what went wrong


def _deadline(ret: Return) -> datetime | None:
    """When a return still waiting to be sent back must be handed over; else None."""
    if ret.status != Status.APPROVED or ret.method == Method.KEEP_ITEM:
        return None
    return ret.handover_by


async def _numbers(
    sessions: async_sessionmaker[AsyncSession], *where: ColumnElement[bool], limit: int
) -> list[str]:
    query = (
        select(Return.number)
        .where(
            Return.status == Status.APPROVED,
            Return.method != Method.KEEP_ITEM,
            Return.handover_by.is_not(None),
            *where,
        )
        .order_by(Return.handover_by, Return.id)
        .limit(limit)
    )
    async with transaction(sessions) as session:
        return list(await session.scalars(query))


async def remind_and_expire(
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    *,
    reminder_days_before: int,
    limit: int = 500,
) -> HandoverReport:
    """Expire the returns past their deadline, then remind those close to it; at most
    ``limit`` of each. ``reminder_days_before`` comes from the live policy's handover rules."""
    report = HandoverReport()
    before = timedelta(days=reminder_days_before)
    actor = returns.Actor(ACTOR, now)
    for number in await _numbers(sessions, Return.handover_by <= now, limit=limit):
        try:
            async with transaction(sessions) as session:
                ret = await returns.load_for_change(session, number)
                deadline = _deadline(ret)
                if deadline is not None and deadline <= now:
                    await returns.expire(session, number, actor)
                    report.expired.append(number)
        except Exception as exc:  # one bad return must not stop the rest
            log.exception("could not expire return %s", number)
            report.failed[number] = str(exc)
    due = await _numbers(
        sessions,
        Return.reminded_at.is_(None),
        Return.handover_by > now,
        Return.handover_by <= now + before,
        limit=limit,
    )
    for number in due:
        try:
            async with transaction(sessions) as session:
                ret = await returns.load_for_change(session, number)
                deadline = _deadline(ret)
                # Checked again under the lock: another worker may have reminded it already.
                if deadline and ret.reminded_at is None and now < deadline <= now + before:
                    returns.note(
                        session,
                        ret,
                        returns.Note.EXPIRING,
                        actor,
                        {"handover_by": deadline.isoformat()},
                    )
                    ret.reminded_at = now
                    report.reminded.append(number)
        except Exception as exc:
            log.exception("could not remind return %s", number)
            report.failed[number] = str(exc)
    return report
