"""Scheduled jobs the worker runs beside the deliveries."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import delete, or_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.analytics import rollups
from reclaim.api.models import IdempotencyRecord
from reclaim.db import transaction
from reclaim.kit.money import Money
from reclaim.logistics.handover import remind_and_expire
from reclaim.policy.loader import LoadedPolicy
from reclaim.prediction import service as risk
from reclaim.refunds import credit
from reclaim.web.console.forms import forget_old_submissions
from reclaim.worker.dispatcher import Job

# Clients retry with the same Idempotency-Key within minutes, at most hours; two days covers a
# retry after a weekend's outage of the caller, and bounds the table.
IDEMPOTENCY_KEEP = timedelta(hours=48)
# Longer than a console session can last (7 days by default): an older form's CSRF token is dead.
FORM_TOKENS_KEEP = timedelta(days=8)
HANDOVER_EVERY_SECONDS = 60.0
SWEEP_EVERY_SECONDS = 600.0
# Returns expired or reminded per run: a backlog drains over a few minutes, not one long run.
HANDOVER_LIMIT = 500
# Store credit expires by the day; a few minutes late is unnoticeable, and a spend expires a
# customer's own overdue credit itself before it takes any.
CREDIT_EXPIRY_EVERY_SECONDS = 600.0
# Dashboards read the rollups: a minute behind is fresh, and a refresh that finds nothing new
# costs tens of milliseconds.
ROLLUPS_EVERY_SECONDS = 60.0
# The return-risk model learns from a day's new orders and returns overnight.
RETRAIN_EVERY_SECONDS = 24 * 3600.0


async def sweep_idempotency_keys(
    sessions: async_sessionmaker[AsyncSession], now: datetime, *, keep: timedelta = IDEMPOTENCY_KEEP
) -> int:
    """Forget idempotency keys older than ``keep`` whose request is no longer in flight."""
    async with transaction(sessions) as session:
        result = await session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.created_at < now - keep,
                or_(
                    IdempotencyRecord.locked_until.is_(None),
                    IdempotencyRecord.locked_until < now,
                ),
            )
        )
    return int(result.rowcount)  # type: ignore[attr-defined]


def default_jobs(sessions: async_sessionmaker[AsyncSession], policy: LoadedPolicy) -> list[Job]:
    """Handover reminders and expiry, and the analytics rollups, every minute; the idempotency
    sweep and store-credit expiry every ten; the return-risk model's retraining every day."""

    async def handover(now: datetime) -> str | None:
        report = await remind_and_expire(
            sessions,
            now,
            reminder_days_before=policy.policy.handover.reminder_days_before,
            limit=HANDOVER_LIMIT,
        )
        said = [
            f"{label} {len(numbers)}: {', '.join(numbers)}"
            for label, numbers in (
                ("expired", report.expired),
                ("reminded", report.reminded),
                ("failed", list(report.failed)),
            )
            if numbers
        ]
        return "; ".join(said) or None

    async def sweep(now: datetime) -> str | None:
        removed = await sweep_idempotency_keys(sessions, now)
        async with transaction(sessions) as session:
            forgotten = await forget_old_submissions(session, now - FORM_TOKENS_KEEP)
        said = []
        if removed:
            said.append(f"forgot {removed} idempotency keys older than 48 hours")
        if forgotten:
            said.append(f"{forgotten} console form tokens older than 8 days")
        return "; ".join(said) or None

    async def expire_credit(now: datetime) -> str | None:
        async with transaction(sessions) as session:
            expired = await credit.expire_due(session, now)
        if not expired:
            return None
        totals: dict[str, int] = {}
        for txn in expired:
            totals[txn.currency] = totals.get(txn.currency, 0) + txn.amount_minor
        amounts = ", ".join(Money(minor, cur).format() for cur, minor in sorted(totals.items()))
        return f"expired {len(expired)} lot{'s' if len(expired) != 1 else ''}: {amounts}"

    return [
        Job("handover", HANDOVER_EVERY_SECONDS, handover),
        Job("idempotency sweep", SWEEP_EVERY_SECONDS, sweep),
        Job("store credit expiry", CREDIT_EXPIRY_EVERY_SECONDS, expire_credit),
        Job("analytics rollups", ROLLUPS_EVERY_SECONDS, partial(rollups.refresh_job, sessions)),
        Job("return-risk retrain", RETRAIN_EVERY_SECONDS, partial(risk.retrain_job, sessions)),
    ]
