"""Webhooks delivered by the worker to a real HTTP receiver, signed, retried and refused.

The receiver is a plain HTTP server on a free local port; it records every request and answers
what the test tells it to. Signatures are checked with the independent ``standardwebhooks``
implementation of the scheme.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from reclaim.config import Settings
from reclaim.db import session_factory, transaction
from reclaim.kit.clock import utcnow
from reclaim.notifications import deliveries, signing, webhooks
from reclaim.notifications.models import Delivery, OutboxMessage, WebhookEndpoint
from reclaim.notifications.outbox import enqueue
from reclaim.notifications.webhook_channel import USER_AGENT, WebhookChannel
from reclaim.returns import service as returns
from reclaim.returns.schemas import DispositionIn, InspectIn, ReceiveIn
from reclaim.worker.dispatcher import Dispatcher, WorkerConfig
from tests.factories import actor, seed_order, seed_return
from tests.integration.helpers import rows, scalar

Sessions = async_sessionmaker[AsyncSession]


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def document(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"


class Receiver:
    """A webhook receiver on 127.0.0.1: records requests, answers scripted replies, then 200."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.replies: deque[Reply] = deque()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver.requests.append(Received(self.path, headers, body))
                reply = receiver.replies.popleft() if receiver.replies else Reply()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test reads ``requests`` instead."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/reclaim"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, *replies: Reply) -> None:
        self.replies.extend(replies)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


class FakeClock:
    """The worker's clock: starts at the real time (signatures must be fresh) and jumps."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class FakeResolver:
    """DNS for made-up names; the tests never ask real DNS."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table

    async def __call__(self, host: str, port: int) -> list[str]:
        return self.table[host]


@dataclass
class World:
    sessions: Sessions
    channel: WebhookChannel
    dispatcher: Dispatcher
    clock: FakeClock

    async def drain(self) -> None:
        """Run the worker until nothing more is due now."""
        for _ in range(20):
            tally = await self.dispatcher.run_once()
            if not tally.messages and not tally.claimed:
                return
        raise AssertionError("the worker never ran dry")


def _world(
    engine: AsyncEngine,
    sessions: Sessions,
    db_url: str,
    *,
    allow_private: bool = True,
    resolver: FakeResolver | None = None,
    max_attempts: int = 5,
) -> World:
    settings = Settings(
        database_url=db_url, webhook_allow_private=allow_private, webhook_timeout_seconds=5
    )
    clock = FakeClock()
    channel = WebhookChannel(
        settings,
        session_factory(engine, read_only=True),
        **({"resolver": resolver} if resolver else {}),
    )
    config = WorkerConfig(
        batch=20,
        lease_seconds=60,
        max_attempts=max_attempts,
        retry_base_seconds=10,
        retry_max_seconds=600,
    )
    return World(sessions, channel, Dispatcher(sessions, [channel], config, clock), clock)


@pytest.fixture
def world(engine: AsyncEngine, sessions: Sessions, db_url: str) -> World:
    return _world(engine, sessions, db_url)


async def _register(
    sessions: Sessions, url: str, topics: list[str] | None = None, **kwargs: Any
) -> webhooks.Issued:
    async with transaction(sessions) as session:
        return await webhooks.register(
            session,
            url=url,
            topics=topics or ["*"],
            description=None,
            allow_private=True,
            now=utcnow(),
            **kwargs,
        )


async def _event(sessions: Sessions, topic: str = "return.approved", number: str = "RMA-1") -> int:
    async with transaction(sessions) as session:
        message = enqueue(session, topic, number, {"return": number, "status": "x"}, utcnow())
        await session.flush()
        return message.id


async def _delivery(sessions: Sessions, outbox_id: int) -> Delivery:
    async with transaction(sessions) as session:
        found = await session.scalars(select(Delivery).where(Delivery.outbox_id == outbox_id))
        return found.one()


def _verified(request: Received, secret: str) -> dict[str, Any]:
    return dict(Webhook(secret).verify(request.body, request.headers))


async def test_each_event_of_a_returns_life_is_delivered_signed(
    sessions: Sessions, world: World, receiver: Receiver
) -> None:
    issued = await _register(sessions, receiver.url)
    await seed_order(sessions)
    number = await seed_return(sessions, quantity=2)
    steps = [
        lambda s: returns.approve(s, number, actor()),
        lambda s: returns.mark_in_transit(s, number, actor()),
        lambda s: returns.receive(
            s,
            number,
            ReceiveIn.model_validate({"lines": [{"line_id": "1", "quantity": 2}]}),
            actor(),
        ),
        lambda s: returns.inspect(
            s,
            number,
            InspectIn.model_validate({"lines": [{"line_id": "1", "grade": "good"}]}),
            actor(),
        ),
        lambda s: returns.disposition(
            s,
            number,
            DispositionIn.model_validate({"lines": [{"line_id": "1", "disposition": "restock"}]}),
            actor(),
        ),
        lambda s: returns.complete(s, number, actor()),
    ]
    for step in steps:
        async with transaction(sessions) as session:
            await step(session)

    await world.drain()

    outbox = await rows(sessions, "SELECT id, topic, created_at FROM outbox ORDER BY id")
    assert [topic for _, topic, _ in outbox] == [
        "return.requested",
        "return.approved",
        "return.in_transit",
        "return.received",
        "return.inspected",
        # Graded, so paid: the policy refunds after inspection.
        "refund.requested",
        "return.settled",
        "return.dispositioned",
        "return.completed",
    ]
    assert len(receiver.requests) == len(outbox)
    for request, (outbox_id, topic, _) in zip(receiver.requests, outbox, strict=True):
        document = _verified(request, issued.secret)
        assert document["type"] == topic
        assert document["data"]["return"] == number, topic
        assert request.headers["webhook-id"] == f"msg_{outbox_id}"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"] == USER_AGENT
        assert request.path == "/hooks/reclaim"
    statuses = await rows(sessions, "SELECT DISTINCT status FROM deliveries")
    assert statuses == [("delivered",)]


async def test_only_active_endpoints_subscribed_to_the_topic_hear_of_it(
    sessions: Sessions, world: World, receiver: Receiver
) -> None:
    everything = await _register(sessions, receiver.url + "/all", ["*"])
    approvals = await _register(sessions, receiver.url + "/approved", ["return.approved"])
    await _register(sessions, receiver.url + "/received", ["return.received"])
    switched_off = await _register(sessions, receiver.url + "/off", ["*"])
    async with transaction(sessions) as session:
        await webhooks.update(
            session,
            switched_off.endpoint.id,
            webhooks.Changes(active=False),
            allow_private=True,
            now=utcnow(),
        )
    outbox_id = await _event(sessions, "return.approved")

    async with transaction(sessions) as session:
        message = await session.get(OutboxMessage, outbox_id)
        assert message is not None
        recipients = await world.channel.recipients(session, message)

    assert [r.endpoint_id for r in recipients] == [everything.endpoint.id, approvals.endpoint.id]
    assert recipients[0].content == recipients[1].content
    assert recipients[0].content["webhook_id"] == f"msg_{outbox_id}"
    await world.drain()
    assert sorted(r.path for r in receiver.requests) == [
        "/hooks/reclaim/all",
        "/hooks/reclaim/approved",
    ]


async def test_a_failing_receiver_gets_retries_with_the_same_id_and_body(
    sessions: Sessions, world: World, receiver: Receiver
) -> None:
    issued = await _register(sessions, receiver.url)
    receiver.answer(Reply(500, body=b"database down"), Reply(502), Reply(200))
    outbox_id = await _event(sessions)

    await world.drain()
    first = await _delivery(sessions, outbox_id)
    assert (first.status, first.attempts) == ("pending", 1)
    assert first.last_error is not None and first.last_error.startswith("HTTP 500: database down")
    for _ in range(2):
        world.clock.advance(hours=1)
        await world.drain()

    done = await _delivery(sessions, outbox_id)
    assert (done.status, done.attempts) == ("delivered", 3)
    assert len(receiver.requests) == 3
    assert {r.headers["webhook-id"] for r in receiver.requests} == {f"msg_{outbox_id}"}
    assert len({r.body for r in receiver.requests}) == 1
    for request in receiver.requests:
        _verified(request, issued.secret)
    attempts = await rows(
        sessions,
        "SELECT number, ok, status_code FROM delivery_attempts ORDER BY number",
    )
    assert attempts == [(1, False, 500), (2, False, 502), (3, True, 200)]


async def test_a_redirect_is_not_followed(
    sessions: Sessions, world: World, receiver: Receiver
) -> None:
    await _register(sessions, receiver.url)
    receiver.answer(Reply(307, headers={"Location": "http://169.254.169.254/latest"}))
    outbox_id = await _event(sessions)

    await world.drain()

    waiting = await _delivery(sessions, outbox_id)
    assert (waiting.status, waiting.attempts) == ("pending", 1)
    assert waiting.last_error is not None
    assert "redirected to http://169.254.169.254/latest" in waiting.last_error
    assert len(receiver.requests) == 1


async def test_an_unreachable_receiver_is_retried_then_given_up(
    engine: AsyncEngine, sessions: Sessions, db_url: str, receiver: Receiver
) -> None:
    world = _world(engine, sessions, db_url, max_attempts=2)
    receiver.server.shutdown()
    receiver.server.server_close()
    await _register(sessions, receiver.url)
    outbox_id = await _event(sessions)

    await world.drain()
    world.clock.advance(hours=1)
    await world.drain()

    dead = await _delivery(sessions, outbox_id)
    assert (dead.status, dead.attempts) == ("dead", 2)
    assert dead.last_error is not None and "ConnectError" in dead.last_error


async def test_a_410_turns_the_endpoint_off_and_nothing_more_is_sent(
    sessions: Sessions, world: World, receiver: Receiver
) -> None:
    issued = await _register(sessions, receiver.url)
    receiver.answer(Reply(410, body=b"unsubscribed"))
    first = await _event(sessions)

    await world.drain()

    gone = await _delivery(sessions, first)
    assert (gone.status, gone.attempts) == ("dead", 1)
    async with transaction(sessions) as session:
        endpoint = await session.get(WebhookEndpoint, issued.endpoint.id)
        assert endpoint is not None
        assert not endpoint.active and endpoint.disabled_reason
    await _event(sessions, "return.received")
    world.clock.advance(hours=1)
    await world.drain()
    assert len(receiver.requests) == 1
    assert await scalar(sessions, "SELECT count(*) FROM deliveries") == 1


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_honoured(
    sessions: Sessions, world: World, receiver: Receiver, status: int
) -> None:
    await _register(sessions, receiver.url)
    receiver.answer(Reply(status, headers={"Retry-After": "3600"}))
    outbox_id = await _event(sessions)

    await world.drain()

    waiting = await _delivery(sessions, outbox_id)
    assert waiting.status == "pending"
    assert waiting.next_attempt_at >= world.clock.now + timedelta(seconds=3600)
    world.clock.advance(seconds=1800)
    await world.drain()
    assert len(receiver.requests) == 1
    world.clock.advance(seconds=1801)
    await world.drain()
    assert len(receiver.requests) == 2
    assert (await _delivery(sessions, outbox_id)).status == "delivered"


async def test_after_a_rotation_each_secret_verifies_its_own_signature(
    sessions: Sessions, world: World, receiver: Receiver
) -> None:
    issued = await _register(sessions, receiver.url)
    async with transaction(sessions) as session:
        rotated = await webhooks.rotate_secret(
            session, issued.endpoint.id, overlap_hours=24, now=utcnow()
        )
    await _event(sessions)

    await world.drain()

    (request,) = receiver.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (rotated.secret, issued.secret):
        _verified(request, secret)
        checked = signing.verify([secret], request.headers, request.body, utcnow())
        assert checked == request.headers["webhook-id"]
    with pytest.raises(WebhookVerificationError):
        _verified(request, signing.new_secret())


async def test_once_the_overlap_is_over_only_the_new_secret_signs(
    sessions: Sessions, world: World, receiver: Receiver
) -> None:
    issued = await _register(sessions, receiver.url)
    async with transaction(sessions) as session:
        rotated = await webhooks.rotate_secret(
            session, issued.endpoint.id, overlap_hours=1, now=utcnow() - timedelta(hours=2)
        )
    await _event(sessions)

    await world.drain()

    (request,) = receiver.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    _verified(request, rotated.secret)
    with pytest.raises(WebhookVerificationError):
        _verified(request, issued.secret)


async def test_a_private_target_is_refused_at_send_time_unless_allowed(
    engine: AsyncEngine, sessions: Sessions, db_url: str, receiver: Receiver
) -> None:
    # Registered while private targets were allowed (or while its name resolved elsewhere).
    await _register(sessions, receiver.url)
    world = _world(engine, sessions, db_url, allow_private=False)
    outbox_id = await _event(sessions)

    await world.drain()

    refused = await _delivery(sessions, outbox_id)
    assert (refused.status, refused.attempts) == ("dead", 1)
    assert refused.last_error is not None
    assert "127.0.0.1 is a loopback address" in refused.last_error
    assert receiver.requests == []


async def test_a_name_that_now_resolves_to_a_private_address_is_refused_at_send_time(
    engine: AsyncEngine, sessions: Sessions, db_url: str, receiver: Receiver
) -> None:
    resolver = FakeResolver({"hooks.shop.test": ["93.184.215.14"]})
    url = f"http://hooks.shop.test:{receiver.port}/in"
    async with transaction(sessions) as session:
        await webhooks.register(
            session,
            url=url,
            topics=["*"],
            description=None,
            allow_private=False,
            now=utcnow(),
            resolver=resolver,
        )
    resolver.table["hooks.shop.test"] = ["93.184.215.14", "127.0.0.1"]
    world = _world(engine, sessions, db_url, allow_private=False, resolver=resolver)
    outbox_id = await _event(sessions)

    await world.drain()

    refused = await _delivery(sessions, outbox_id)
    assert refused.status == "dead"
    assert refused.last_error is not None
    assert "hooks.shop.test resolves to a loopback address (127.0.0.1)" in refused.last_error
    assert receiver.requests == []


async def test_a_named_host_is_reached_at_the_checked_address_with_its_own_host_header(
    engine: AsyncEngine, sessions: Sessions, db_url: str, receiver: Receiver
) -> None:
    resolver = FakeResolver({"hooks.shop.test": ["127.0.0.1"]})
    issued = await _register(
        sessions, f"http://hooks.shop.test:{receiver.port}/in", resolver=resolver
    )
    world = _world(engine, sessions, db_url, resolver=resolver)
    await _event(sessions)

    await world.drain()

    (request,) = receiver.requests
    assert request.headers["host"] == f"hooks.shop.test:{receiver.port}"
    _verified(request, issued.secret)


async def test_a_deleted_endpoints_waiting_delivery_goes_with_it(
    sessions: Sessions, world: World, receiver: Receiver
) -> None:
    issued = await _register(sessions, receiver.url)
    receiver.answer(Reply(500))
    await _event(sessions)
    await world.drain()
    async with transaction(sessions) as session:
        await webhooks.delete(session, issued.endpoint.id)

    world.clock.advance(hours=1)
    await world.drain()

    assert len(receiver.requests) == 1
    assert await scalar(sessions, "SELECT count(*) FROM deliveries") == 0


async def test_a_replayed_dead_delivery_is_sent_again_with_the_same_id(
    sessions: Sessions, world: World, receiver: Receiver
) -> None:
    issued = await _register(sessions, receiver.url)
    receiver.answer(Reply(410))
    outbox_id = await _event(sessions)
    await world.drain()
    dead = await _delivery(sessions, outbox_id)
    assert dead.status == "dead"
    async with transaction(sessions) as session:
        await webhooks.update(
            session,
            issued.endpoint.id,
            webhooks.Changes(active=True),
            allow_private=True,
            now=utcnow(),
        )
        await deliveries.replay(session, dead.id, world.clock.now)

    await world.drain()

    assert [r.headers["webhook-id"] for r in receiver.requests] == [f"msg_{outbox_id}"] * 2
    replayed = await _delivery(sessions, outbox_id)
    assert (replayed.status, replayed.attempts) == ("delivered", 2)
    assert datetime.fromtimestamp(
        int(receiver.requests[1].headers["webhook-timestamp"]), UTC
    ) >= datetime.fromtimestamp(int(receiver.requests[0].headers["webhook-timestamp"]), UTC)
