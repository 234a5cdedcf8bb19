"""The dispatcher's own guarantees, with a scripted channel standing in for the outside world:
a stop finishes the delivery under way, leases pass between workers, a failing channel or a
message that can't fan out holds up nothing else; and the scheduled jobs."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.api.models import IdempotencyRecord
from reclaim.config import Settings
from reclaim.db import transaction
from reclaim.kit.clock import utcnow
from reclaim.notifications.channels import Recipient, Sent
from reclaim.notifications.email_channel import EmailChannel
from reclaim.notifications.models import Delivery, OutboxMessage
from reclaim.notifications.outbox import enqueue
from reclaim.policy.loader import load as load_policy
from reclaim.returns import service as returns
from reclaim.worker.dispatcher import Dispatcher, Outcome, WorkerConfig
from reclaim.worker.jobs import default_jobs, sweep_idempotency_keys
from tests.factories import actor, seed_api_key, seed_order, seed_return
from tests.integration.helpers import rows, run_cli, scalar

Sessions = async_sessionmaker[AsyncSession]


class FakeChannel:
    """A way of reaching the outside world, scripted by the test."""

    name = "fake"

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.started = asyncio.Event()
        self.gate: asyncio.Event | None = None
        self.error: Exception | None = None

    async def recipients(self, session: AsyncSession, message: OutboxMessage) -> list[Recipient]:
        if message.payload.get("poison"):
            raise ValueError("this message can't be rendered")
        return [Recipient("someone", {"message": message.id})]

    async def send(self, delivery: Delivery) -> Sent:
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        self.sent.append(delivery.id)
        return Sent(ok=True)


class FakeMailer:
    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    async def send(self, message: EmailMessage) -> None:
        self.sent.append(message)


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def _dispatcher(sessions: Sessions, channel: Any, clock: Clock, **kwargs: Any) -> Dispatcher:
    return Dispatcher(
        sessions,
        [channel],
        WorkerConfig(batch=10, lease_seconds=30, max_attempts=3),
        clock=clock,
        rng=random.Random(1),
        **kwargs,
    )


async def _messages(sessions: Sessions, *payloads: dict[str, Any]) -> None:
    async with transaction(sessions) as session:
        for payload in payloads:
            enqueue(session, "return.approved", "RMA-TEST", payload, utcnow())


async def _state(sessions: Sessions) -> list[tuple[Any, ...]]:
    return await rows(
        sessions,
        "SELECT id, status, attempts, claimed_by IS NOT NULL, last_error FROM deliveries"
        " ORDER BY id",
    )


async def test_a_stop_lets_the_delivery_under_way_finish_and_hands_the_rest_back(
    sessions: Sessions,
) -> None:
    await _messages(sessions, {}, {}, {})
    channel = FakeChannel()
    channel.gate = asyncio.Event()
    dispatcher = _dispatcher(sessions, channel, Clock())
    stop = asyncio.Event()

    running = asyncio.create_task(dispatcher.run_forever(stop, poll_seconds=0.05))
    await asyncio.wait_for(channel.started.wait(), 10)
    stop.set()
    channel.gate.set()
    await asyncio.wait_for(running, 10)

    first, *rest = await _state(sessions)
    assert first[1:4] == ("delivered", 1, False)
    assert [row[1:4] for row in rest] == [("pending", 0, False)] * 2
    assert channel.sent == [first[0]]


async def test_a_row_whose_lease_ran_out_belongs_to_the_worker_that_took_it_over(
    sessions: Sessions,
) -> None:
    await _messages(sessions, {})
    clock = Clock()
    slow, quick = FakeChannel(), FakeChannel()
    first = _dispatcher(sessions, slow, clock)
    second = _dispatcher(sessions, quick, clock)

    await first.fan_out()
    claimed = await first.claim()
    assert await second.claim() == []  # leased to the first worker
    clock.now += timedelta(seconds=31)
    taken = await second.claim()
    assert [item.delivery.id for item in taken] == [item.delivery.id for item in claimed]

    outcomes: list[Outcome] = []
    first.report = outcomes.append
    late = await first.deliver(claimed)
    assert (late.lost, slow.sent) == (1, [])  # never sent: it is no longer the first's
    assert (await second.deliver(taken)).delivered == 1
    assert [o.status for o in outcomes] == ["lost"]
    assert [row[1:4] for row in await _state(sessions)] == [("delivered", 1, False)]


async def test_a_channel_that_raises_is_a_failed_attempt_retried_later(sessions: Sessions) -> None:
    await _messages(sessions, {})
    channel = FakeChannel()
    channel.error = RuntimeError("boom")
    clock = Clock()
    dispatcher = _dispatcher(sessions, channel, clock)

    tally = await dispatcher.run_once()

    assert (tally.claimed, tally.retrying) == (1, 1)
    ((_, status, attempts, claimed, error),) = await _state(sessions)
    assert (status, attempts, claimed, error) == ("pending", 1, False, "RuntimeError: boom")
    channel.error = None
    clock.now += timedelta(seconds=11)
    assert (await dispatcher.run_once()).delivered == 1
    logged = await rows(sessions, "SELECT number, ok, error FROM delivery_attempts ORDER BY id")
    assert [(n, bool(ok), e) for n, ok, e in logged] == [
        (1, False, "RuntimeError: boom"),
        (2, True, None),
    ]


async def test_a_failure_after_the_last_allowed_attempt_is_dead(sessions: Sessions) -> None:
    await _messages(sessions, {})
    channel = FakeChannel()
    channel.error = RuntimeError("still down")
    clock = Clock()
    dispatcher = _dispatcher(sessions, channel, clock)

    for _ in range(3):
        await dispatcher.run_once()
        clock.now += timedelta(hours=1)

    ((_, status, attempts, _, error),) = await _state(sessions)
    assert (status, attempts, error) == ("dead", 3, "RuntimeError: still down")
    assert (await dispatcher.run_once()).claimed == 0


async def test_a_message_that_cant_fan_out_holds_up_no_other(sessions: Sessions) -> None:
    await _messages(sessions, {}, {"poison": True}, {})
    channel = FakeChannel()
    dispatcher = _dispatcher(sessions, channel, Clock())

    tally = await dispatcher.run_once()

    assert (tally.messages, tally.delivered) == (2, 2)
    waiting = await rows(sessions, "SELECT payload FROM outbox WHERE dispatched_at IS NULL")
    assert len(waiting) == 1
    assert await scalar(sessions, "SELECT count(*) FROM deliveries") == 2


@pytest.mark.usefixtures("cli_env")
async def test_a_full_batch_of_bad_messages_holds_up_no_other_and_is_tried_again_later(
    sessions: Sessions,
) -> None:
    await _messages(sessions, *({"poison": True} for _ in range(3)), {})
    channel, clock = FakeChannel(), Clock()
    dispatcher = Dispatcher(
        sessions, [channel], WorkerConfig(batch=3), clock=clock, rng=random.Random(1)
    )

    first = await dispatcher.run_once()
    second = await dispatcher.run_once()

    assert (first.messages, second.messages, second.delivered) == (0, 1, 1)
    errors = await rows(sessions, "SELECT fanout_error FROM outbox WHERE dispatched_at IS NULL")
    assert [error for (error,) in errors] == ["ValueError: this message can't be rendered"] * 3
    status = await run_cli("outbox", "status")
    assert "3 messages could not be fanned out" in status.output
    assert "this message can't be rendered" in status.output
    # Fixed meanwhile: once their wait is over, they go out and the error is cleared.
    async with transaction(sessions) as session:
        await session.execute(OutboxMessage.__table__.update().values(payload={"poison": False}))
    assert (await dispatcher.run_once()).messages == 0
    clock.now += timedelta(minutes=6)
    assert (await dispatcher.run_once()).delivered == 3
    assert await scalar(sessions, "SELECT count(*) FROM outbox WHERE fanout_error IS NOT NULL") == 0


async def test_a_send_that_would_outlive_the_lease_is_cut_off_and_retried(
    sessions: Sessions,
) -> None:
    await _messages(sessions, {})
    channel, clock = FakeChannel(), Clock()
    channel.gate = asyncio.Event()  # never opens: the receiver hangs
    dispatcher = Dispatcher(
        sessions,
        [channel],
        WorkerConfig(lease_seconds=0.5),
        clock=clock,
        rng=random.Random(1),
    )

    tally = await dispatcher.run_once()

    assert (tally.delivered, tally.retrying) == (0, 1)
    [(_, status, attempts, claimed, error)] = await _state(sessions)
    assert (status, attempts, claimed) == ("pending", 1, False)
    assert "lease" in error


async def test_fanning_out_twice_makes_no_second_delivery(sessions: Sessions) -> None:
    await _messages(sessions, {})
    dispatcher = _dispatcher(sessions, FakeChannel(), Clock())
    await dispatcher.fan_out()
    async with transaction(sessions) as session:
        await session.execute(OutboxMessage.__table__.update().values(dispatched_at=None))

    assert await dispatcher.fan_out() == (1, 0)
    assert await scalar(sessions, "SELECT count(*) FROM deliveries") == 1


async def test_an_unreachable_mail_server_is_a_temporary_failure(
    sessions: Sessions, db_url: str
) -> None:
    await seed_order(sessions)
    await seed_return(sessions)
    settings = Settings(
        database_url=db_url, smtp_host="127.0.0.1", smtp_port=1, smtp_timeout_seconds=2
    )

    tally = await _dispatcher(sessions, EmailChannel(settings), Clock()).run_once()

    assert tally.retrying == 1
    ((_, status, attempts, _, error),) = await _state(sessions)
    assert (status, attempts) == ("pending", 1)
    assert error.startswith("Could not reach the mail server 127.0.0.1:1")


async def test_handover_job_expires_overdue_returns_and_the_shopper_is_told(
    sessions: Sessions, db_url: str
) -> None:
    await seed_order(sessions)
    number = await seed_return(sessions)
    async with transaction(sessions) as session:
        await returns.approve(session, number, actor())
    async with transaction(sessions) as session:
        ret = await returns.load_for_change(session, number)
        ret.handover_by = utcnow() - timedelta(minutes=1)
    mailer = FakeMailer()
    said: list[str] = []
    dispatcher = _dispatcher(
        sessions, EmailChannel(Settings(database_url=db_url), mailer), Clock(), announce=said.append
    )

    await dispatcher.run_jobs(default_jobs(sessions, load_policy(None)))
    await dispatcher.run_once()

    # The rollups' refresh runs too, and builds them the first time.
    assert said[0] == f"handover: expired 1: {number}"
    assert [line.split(":")[0] for line in said[1:]] == ["analytics rollups"]
    assert await scalar(sessions, "SELECT status FROM returns") == "expired"
    subjects = [str(message["Subject"]) for message in mailer.sent]
    assert f"Return {number} has expired" in subjects


async def test_old_idempotency_keys_are_forgotten_unless_still_in_flight(
    sessions: Sessions,
) -> None:
    await seed_api_key(sessions)
    api_key_id = await scalar(sessions, "SELECT id FROM api_keys")
    now = utcnow()
    async with transaction(sessions) as session:
        for name, age, locked in (
            ("old", timedelta(days=3), None),
            ("old-in-flight", timedelta(days=3), now + timedelta(seconds=30)),
            ("old-lock-passed", timedelta(days=3), now - timedelta(seconds=1)),
            ("recent", timedelta(hours=1), None),
        ):
            session.add(
                IdempotencyRecord(
                    api_key_id=api_key_id,
                    key=name,
                    request_hash="x" * 64,
                    locked_until=locked,
                    created_at=now - age,
                )
            )

    assert await sweep_idempotency_keys(sessions, now) == 2

    left = await rows(sessions, "SELECT key FROM idempotency_keys ORDER BY key")
    assert left == [("old-in-flight",), ("recent",)]


@pytest.mark.usefixtures("cli_env")
async def test_without_a_mail_server_the_worker_writes_each_e_mail_to_a_file(
    sessions: Sessions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reclaim.config import get_settings

    monkeypatch.setenv("RECLAIM_MAIL_DIR", str(tmp_path / "mail"))
    monkeypatch.delenv("RECLAIM_SMTP_HOST", raising=False)
    get_settings.cache_clear()
    await seed_order(sessions)
    number = await seed_return(sessions)

    result = await run_cli("worker", "--once")

    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "delivered email ann@example.com return.requested (delivery 1)" in flat
    assert "Fanned out 1 message into 1 delivery; delivered 1, 0 to retry, 0 dead." in flat
    (written,) = (tmp_path / "mail").iterdir()
    assert written.name == "delivery-1_127.0.0.1.eml"
    message = message_from_bytes(written.read_bytes(), policy=policy.default)
    assert message["Message-ID"] == "<delivery-1@127.0.0.1>"
    assert message["Subject"] == f"We've got your return request {number}"

    again = await run_cli("worker", "--once")
    assert again.exit_code == 0, again.output
    assert "Nothing to deliver." in again.output
    assert len(list((tmp_path / "mail").iterdir())) == 1
