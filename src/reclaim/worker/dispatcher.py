"""The outbox dispatcher: outbox rows become deliveries, deliveries are sent and recorded.

One cycle (:meth:`Dispatcher.run_once`) has three steps, each in its own short transactions:

1. fan-out: undispatched outbox rows are claimed (``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
   the write lock of ``BEGIN IMMEDIATE`` on SQLite), each channel names its recipients, one
   delivery row per recipient is inserted (a unique key makes a second fan-out a no-op) and
   the row is marked dispatched;
2. claim: due deliveries are leased to this worker until ``claimed_until``; a worker that dies
   leaves its leases to run out, and another worker then takes the rows over;
3. send: each delivery is sent outside any transaction, then the attempt is recorded and the
   delivery updated only if this worker still holds it, one commit per delivery, so a crash
   mid-batch loses nothing already sent and repeats nothing already recorded.

A delivery's lease is renewed just before it is sent, so a long batch never sends a row whose
lease ran out while it waited (another worker may have taken it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.config import Settings
from reclaim.db import insert_ignoring_conflict, transaction
from reclaim.kit.clock import utcnow
from reclaim.notifications.channels import Channel, Sent
from reclaim.notifications.deliveries import DeliveryStatus
from reclaim.notifications.models import Delivery, DeliveryAttempt, OutboxMessage, WebhookEndpoint
from reclaim.worker import retry

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
PENDING = DeliveryStatus.PENDING.value
DELIVERED = DeliveryStatus.DELIVERED.value
DEAD = DeliveryStatus.DEAD.value
# What the delivery log keeps of an error message.
ERROR_CHARS = 2000
FANOUT_RETRY = timedelta(minutes=5)
# A send may use this share of the lease; the rest is margin to record it before it runs out.
SEND_SHARE_OF_LEASE = 0.8


def new_worker_id() -> str:
    """``host:pid:random``: which machine and process holds a lease, unique across restarts."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    batch: int = 50
    lease_seconds: float = 120
    max_attempts: int = 12
    retry_base_seconds: float = 10
    retry_max_seconds: float = 6 * 3600

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerConfig:
        return cls(
            batch=settings.worker_batch,
            lease_seconds=settings.worker_lease_seconds,
            max_attempts=settings.delivery_max_attempts,
            retry_base_seconds=settings.retry_base_seconds,
            retry_max_seconds=settings.retry_max_seconds,
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one delivery this cycle; ``status`` is ``lost`` when another worker
    had taken the row over by the time the attempt was recorded."""

    delivery_id: int
    channel: str
    target: str
    topic: str
    status: str
    attempt: int
    error: str | None = None
    next_attempt_at: datetime | None = None


@dataclass
class Tally:
    messages: int = 0  # outbox rows fanned out
    queued: int = 0  # deliveries they made
    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    lost: int = 0

    def count(self, outcome: Outcome) -> None:
        if outcome.status == DELIVERED:
            self.delivered += 1
        elif outcome.status == PENDING:
            self.retrying += 1
        elif outcome.status == DEAD:
            self.dead += 1
        else:
            self.lost += 1


@dataclass(frozen=True, slots=True)
class Claimed:
    delivery: Delivery
    topic: str


@dataclass(frozen=True, slots=True)
class Job:
    """Something to run every ``every_seconds`` beside the deliveries (expiry, clean-up).

    ``run`` gets the current time and returns a line worth printing, or None."""

    name: str
    every_seconds: float
    run: Callable[[datetime], Awaitable[str | None]]


@dataclass
class Dispatcher:
    sessions: async_sessionmaker[AsyncSession]
    channels: Sequence[Channel]
    config: WorkerConfig = field(default_factory=WorkerConfig)
    clock: Clock = utcnow
    rng: random.Random = field(default_factory=random.Random)
    worker_id: str = field(default_factory=new_worker_id)
    # Told every delivery's outcome, and what each scheduled job said: e.g. to print them.
    report: Callable[[Outcome], None] | None = None
    announce: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        self._by_name = {channel.name: channel for channel in self.channels}
        if len(self._by_name) != len(self.channels):
            raise ValueError("two channels share a name")

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.config.lease_seconds)

    async def fan_out(self) -> tuple[int, int]:
        """Turn a batch of undispatched outbox rows into deliveries: (rows, deliveries)."""
        now = self.clock()
        messages = queued = 0
        async with transaction(self.sessions) as session:
            # SKIP LOCKED lets a second worker fan out the next batch meanwhile; SQLite ignores
            # it, its write lock (taken at BEGIN) already keeps a second worker waiting.
            batch = await session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.dispatched_at.is_(None),
                    or_(
                        OutboxMessage.fanout_retry_at.is_(None),
                        OutboxMessage.fanout_retry_at <= now,
                    ),
                )
                .order_by(OutboxMessage.id)
                .limit(self.config.batch)
                .with_for_update(skip_locked=True)
            )
            for message in list(batch):
                try:
                    async with session.begin_nested():
                        queued += await self._fan_out_one(session, message, now)
                        message.dispatched_at = now
                        message.fanout_retry_at = message.fanout_error = None
                    messages += 1
                except Exception as exc:
                    # A message no channel can handle (a template error, a bad payload) must
                    # not hold up the messages behind it: it waits and is tried again, so a
                    # fix deployed meanwhile sends it; `reclaim outbox status` shows it.
                    log.exception("Could not fan out outbox message %s", message.id)
                    message.fanout_error = f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
                    message.fanout_retry_at = now + FANOUT_RETRY
        return messages, queued

    async def _fan_out_one(
        self, session: AsyncSession, message: OutboxMessage, now: datetime
    ) -> int:
        queued = 0
        for channel in self.channels:
            for recipient in await channel.recipients(session, message):
                queued += await insert_ignoring_conflict(
                    session,
                    Delivery,
                    {
                        "outbox_id": message.id,
                        "channel": channel.name,
                        "target": recipient.target,
                        "endpoint_id": recipient.endpoint_id,
                        "content": recipient.content,
                        "status": PENDING,
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    },
                    ["outbox_id", "channel", "target"],
                )
        return queued

    async def claim(self) -> list[Claimed]:
        """Lease a batch of due deliveries to this worker."""
        now = self.clock()
        async with transaction(self.sessions) as session:
            ids = list(
                await session.scalars(
                    select(Delivery.id)
                    .where(
                        Delivery.status == PENDING,
                        Delivery.next_attempt_at <= now,
                        Delivery.channel.in_(list(self._by_name)),
                        or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now),
                    )
                    .order_by(Delivery.next_attempt_at, Delivery.id)
                    .limit(self.config.batch)
                    .with_for_update(skip_locked=True)
                )
            )
            if not ids:
                return []
            await session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids))
                .values(claimed_by=self.worker_id, claimed_until=now + self.lease)
                .execution_options(synchronize_session=False)
            )
            rows = await session.execute(
                select(Delivery, OutboxMessage.topic)
                .join(OutboxMessage, OutboxMessage.id == Delivery.outbox_id)
                .where(Delivery.id.in_(ids))
                .order_by(Delivery.next_attempt_at, Delivery.id)
                .execution_options(populate_existing=True)
            )
            return [Claimed(delivery, topic) for delivery, topic in rows]

    async def deliver(self, claimed: Iterable[Claimed], stop: asyncio.Event | None = None) -> Tally:
        """Send each claimed delivery and record it; on ``stop``, hand the rest back."""
        tally = Tally()
        pending = list(claimed)
        while pending:
            if stop is not None and stop.is_set():
                await self._release([item.delivery.id for item in pending])
                break
            item = pending.pop(0)
            tally.claimed += 1
            outcome = await self._deliver_one(item)
            tally.count(outcome)
            if self.report is not None:
                self.report(outcome)
        return tally

    async def run_once(self, stop: asyncio.Event | None = None) -> Tally:
        """Fan out, claim and send once."""
        messages, queued = await self.fan_out()
        tally = await self.deliver(await self.claim(), stop)
        tally.messages, tally.queued = messages, queued
        return tally

    async def run_forever(
        self, stop: asyncio.Event, *, poll_seconds: float, jobs: Sequence[Job] = ()
    ) -> None:
        """Cycle until ``stop`` is set, waiting ``poll_seconds`` when there was nothing to do.

        A stop lets the delivery being sent finish and be recorded; the rest of the batch is
        handed back at once for another worker to take."""
        due = {job.name: time.monotonic() for job in jobs}
        while not stop.is_set():
            busy = False
            try:
                tally = await self.run_once(stop)
                busy = tally.claimed >= self.config.batch or tally.messages >= self.config.batch
            except Exception:
                # The database restarting, say: keep going, the next cycle will likely work.
                log.exception("The worker's cycle failed; trying again in %ss", poll_seconds)
            ready = [job for job in jobs if time.monotonic() >= due[job.name]]
            for job in ready:
                due[job.name] = time.monotonic() + job.every_seconds
            await self.run_jobs(ready, stop=stop)
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), poll_seconds)

    async def run_jobs(self, jobs: Iterable[Job], stop: asyncio.Event | None = None) -> None:
        """Run each job once; a failing job is logged and the others still run."""
        for job in jobs:
            if stop is not None and stop.is_set():
                return
            try:
                said = await job.run(self.clock())
            except Exception:
                log.exception("The %s job failed", job.name)
                continue
            if said and self.announce is not None:
                self.announce(f"{job.name}: {said}")

    async def _renew(self, delivery_id: int) -> bool:
        """Extend our lease just before sending; False if the row is no longer ours."""
        now = self.clock()
        async with transaction(self.sessions) as session:
            result = await session.execute(
                update(Delivery)
                .where(
                    Delivery.id == delivery_id,
                    Delivery.claimed_by == self.worker_id,
                    Delivery.status == PENDING,
                )
                .values(claimed_until=now + self.lease)
                .execution_options(synchronize_session=False)
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def _release(self, delivery_ids: list[int]) -> None:
        async with transaction(self.sessions) as session:
            await session.execute(
                update(Delivery)
                .where(Delivery.id.in_(delivery_ids), Delivery.claimed_by == self.worker_id)
                .values(claimed_by=None, claimed_until=None)
                .execution_options(synchronize_session=False)
            )

    async def _deliver_one(self, item: Claimed) -> Outcome:
        delivery = item.delivery
        if not await self._renew(delivery.id):
            return self._outcome(item, "lost", delivery.attempts, "Another worker took it over.")
        channel = self._by_name[delivery.channel]
        started = time.monotonic()
        limit = self.config.lease_seconds * SEND_SHARE_OF_LEASE
        try:
            # A send that outlived the lease could be taken over and sent twice: cut it off.
            async with asyncio.timeout(limit):
                sent = await channel.send(delivery)
        except TimeoutError:
            sent = Sent(ok=False, error=f"Not sent within {limit:g} s (the worker's lease).")
        except Exception as exc:
            # A channel's own bug: record it like any failure, and let the others go on.
            log.exception("The %s channel failed on delivery %s", channel.name, delivery.id)
            sent = Sent(ok=False, error=f"{type(exc).__name__}: {exc}")
        duration_ms = round((time.monotonic() - started) * 1000)
        return await self._record(item, sent, duration_ms)

    async def _record(self, item: Claimed, sent: Sent, duration_ms: int) -> Outcome:
        delivery = item.delivery
        now = self.clock()
        attempt = delivery.attempts + 1
        error = sent.error[:ERROR_CHARS] if sent.error else None
        next_at: datetime | None = None
        if sent.ok:
            status = DELIVERED
        elif sent.give_up or retry.should_give_up(attempt, self.config.max_attempts):
            status = DEAD
        else:
            status = PENDING
            next_at = retry.next_attempt_at(
                attempt,
                now,
                self.rng,
                base=self.config.retry_base_seconds,
                cap=self.config.retry_max_seconds,
                retry_after=sent.retry_after,
            )
        values: dict[str, object] = {"last_error": error}
        if sent.ok:
            values["delivered_at"] = now
        if next_at is not None:
            values["next_attempt_at"] = next_at
        disable = sent.disable_endpoint and delivery.endpoint_id is not None
        logged = DeliveryAttempt(
            delivery_id=delivery.id,
            number=attempt,
            at=now,
            ok=sent.ok,
            status_code=sent.status_code,
            error=error,
            duration_ms=duration_ms,
            worker=self.worker_id,
        )
        async with transaction(self.sessions) as session:
            if disable:
                # The endpoint before its deliveries: the order deleting an endpoint (and its
                # deliveries with it) takes, so the two never wait on each other.
                await session.execute(
                    select(WebhookEndpoint.id)
                    .where(WebhookEndpoint.id == delivery.endpoint_id)
                    .with_for_update()
                )
            result = await session.execute(
                update(Delivery)
                .where(
                    Delivery.id == delivery.id,
                    Delivery.claimed_by == self.worker_id,
                    Delivery.status == PENDING,
                )
                .values(
                    status=status, attempts=attempt, claimed_by=None, claimed_until=None, **values
                )
                .execution_options(synchronize_session=False)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                log.warning(
                    "Delivery %s was taken over or deleted before its attempt was recorded",
                    delivery.id,
                )
                # The attempt happened whoever holds the row now: logged while the row exists.
                if await session.scalar(select(Delivery.id).where(Delivery.id == delivery.id)):
                    session.add(logged)
                return self._outcome(item, "lost", attempt, error)
            session.add(logged)
            if disable:
                await self._disable_endpoint(session, delivery, sent, now)
        return self._outcome(item, status, attempt, error, next_at)

    async def _disable_endpoint(
        self, session: AsyncSession, delivery: Delivery, sent: Sent, now: datetime
    ) -> None:
        """The endpoint said it is gone: turn it off and stop everything queued for it."""
        code = sent.status_code or 410
        reason = (
            f"It answered {code} Gone on {now:%Y-%m-%d %H:%M} UTC. Turn it back on once it "
            "accepts events again."
        )
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == delivery.endpoint_id, WebhookEndpoint.active.is_(True))
            .values(active=False, disabled_reason=reason, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            update(Delivery)
            .where(
                Delivery.endpoint_id == delivery.endpoint_id,
                Delivery.status == PENDING,
                Delivery.id != delivery.id,
            )
            .values(
                status=DEAD,
                claimed_by=None,
                claimed_until=None,
                last_error=f"Not sent: the endpoint was turned off. {reason}",
            )
            .execution_options(synchronize_session=False)
        )

    def _outcome(
        self,
        item: Claimed,
        status: str,
        attempt: int,
        error: str | None,
        next_attempt_at: datetime | None = None,
    ) -> Outcome:
        delivery = item.delivery
        return Outcome(
            delivery.id,
            delivery.channel,
            delivery.target,
            item.topic,
            status,
            attempt,
            error,
            next_attempt_at,
        )
