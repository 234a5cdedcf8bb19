"""Who may do what in the console: every page and every form, tried by every role and by a
visitor who never signed in, on both databases.

The expected outcome comes from the role table (reclaim.users.roles.PERMISSIONS), not from a
list per role: allowed, a page answers 200 and a form does its work and redirects (303) to a
console page; refused, a signed-in person gets 403 and a visitor is sent to sign in, and the
database is left exactly as it was. A few facts are also spelled out by hand below, so that a
mistake in the table itself would show.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy import text

from reclaim.api.app import create_app
from reclaim.config import Settings
from reclaim.db import transaction
from reclaim.kit.clock import utcnow
from reclaim.notifications.models import Delivery, OutboxMessage
from reclaim.refunds import service as refunds
from reclaim.refunds.schemas import ConfirmationIn, ManualRefundIn
from reclaim.returns.states import Disposition, Grade
from reclaim.users import staff
from reclaim.users.models import StaffUser
from reclaim.users.roles import PERMISSIONS, Permission, Role
from reclaim.warehouse import receiving
from reclaim.warehouse.schemas import ParcelIn
from tests.factories import MANUAL_POLICY, actor, order_payload
from tests.web.conftest import LiveServer
from tests.web.console_support import COOKIE, Console, visitor, words
from tests.web.portal_support import png
from tests.web.station_support import (
    AS_NEW,
    PHONE,
    TEE,
    Sessions,
    arriving,
    graded,
    one,
    order_lines,
    received,
    routed,
    warehouse_state,
)

# Signing in and out are for everyone, and are tested in test_console_auth.py.
SIGN_IN_ONLY = {("GET", "/console/login"), ("POST", "/console/login"), ("POST", "/console/logout")}
VISITOR = "visitor"
SUBJECTS: tuple[Role | str, ...] = (VISITOR, Role.ANALYST, Role.AGENT, Role.INSPECTOR, Role.ADMIN)
SESSION_TERMS = staff.SessionTerms(idle=timedelta(hours=1), lifetime=timedelta(hours=1))


@dataclass(frozen=True, slots=True)
class Attempt:
    """One request: where, and the form it sends (None: a GET)."""

    url: str
    form: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] = field(default_factory=dict)


class World:
    """Makes, on demand, a fresh return (or work order, manifest…) in the state an action needs."""

    def __init__(self, client: httpx.AsyncClient, sessions: Sessions) -> None:
        self.client, self.sessions = client, sessions
        self.orders = itertools.count(5001)

    def _order(self) -> str:
        return str(next(self.orders))

    async def requested(self) -> str:
        order_id = self._order()
        made = await self.client.post(
            "/api/v1/orders", json=order_payload(order_id, lines=order_lines())
        )
        assert made.status_code == 201, made.text
        started = await self.client.post(
            "/api/v1/returns",
            json={
                "order_id": order_id,
                "method": "prepaid_label",
                "lines": [
                    {"line_id": TEE, "quantity": 1, "reason": "too_small", "resolution": "refund"}
                ],
            },
        )
        assert started.status_code == 201, started.text
        return str(started.json()["number"])

    async def flagged(self) -> str:
        number = await self.requested()
        async with transaction(self.sessions) as session:
            await session.execute(
                text(
                    "UPDATE returns SET attention = 'Carrier: damaged', attention_at = :at "
                    "WHERE number = :n"
                ),
                {"at": utcnow(), "n": number},
            )
        return number

    async def arriving(self) -> str:
        return (await arriving(self.client, self._order()))[0]

    async def received(self) -> str:
        number = await self.arriving()
        await received(self.sessions, number, {TEE: 2})
        return number

    async def inspected(self) -> str:
        number = await self.received()
        await graded(self.sessions, number, TEE)
        return number

    async def routed(self) -> str:
        number = await self.inspected()
        await routed(self.sessions, number, TEE)
        return number

    async def receiving_flag(self) -> tuple[str, int]:
        number = await self.arriving()
        parcel = ParcelIn.model_validate(
            {
                "counts": [{"line_id": TEE, "quantity": 2}],
                "unexpected": [{"found": "SCARF-1", "quantity": 1}],
            }
        )
        async with transaction(self.sessions) as session:
            flag = (await receiving.receive_parcel(session, number, actor(), parcel)).flags[0]
            return number, flag.id

    async def work_order(self) -> str:
        number, _ = await arriving(self.client, self._order(), lines={PHONE: 1})
        await received(self.sessions, number, {PHONE: 1})
        await graded(self.sessions, number, PHONE, Grade.GOOD)
        await routed(self.sessions, number, PHONE, Disposition.REFURBISH)
        found: str = await one(
            self.sessions, "SELECT number FROM refurb_work_orders ORDER BY id DESC LIMIT 1"
        )
        return found

    async def manifest(self) -> str:
        number = await self.inspected()
        await routed(self.sessions, number, TEE, Disposition.RECYCLE)
        found: str = await one(self.sessions, "SELECT number FROM manifests WHERE status = 'open'")
        return found

    async def _refund(self, minor: int) -> str:
        """A refund by hand asked for through the API, for a return on its way."""
        order_id = self._order()
        number = (await arriving(self.client, order_id))[0]
        data = ManualRefundIn.model_validate(
            {"amount_minor": minor, "currency": "USD", "reason": "Late", "return": number}
        )
        async with transaction(self.sessions) as session:
            made = await refunds.manual_refund(
                session, order_id, data, actor("api:shop"), MANUAL_POLICY
            )
            return made.number

    async def held_refund(self) -> str:
        """A refund above the threshold, waiting for a second agent."""
        return await self._refund(15000)

    async def failed_refund(self) -> str:
        number = await self._refund(2500)
        failed = ConfirmationIn.model_validate({"event": "refund.failed", "reason": "Expired"})
        async with transaction(self.sessions) as session:
            await refunds.confirm(session, number, failed, actor("api:shop"))
        return number

    async def money_due(self) -> str:
        """A graded return whose refund waited on a flag that was then cleared by hand."""
        number = await self.flagged_arriving()
        await received(self.sessions, number, {TEE: 2})
        await graded(self.sessions, number, TEE)
        async with transaction(self.sessions) as session:
            await session.execute(
                text("UPDATE returns SET attention = NULL, attention_at = NULL WHERE number = :n"),
                {"n": number},
            )
        return number

    async def flagged_arriving(self) -> str:
        number = await self.arriving()
        async with transaction(self.sessions) as session:
            await session.execute(
                text("UPDATE returns SET attention = 'Hold', attention_at = :at WHERE number = :n"),
                {"at": utcnow(), "n": number},
            )
        return number

    async def dead_delivery(self) -> int:
        now = utcnow()
        async with transaction(self.sessions) as session:
            message = OutboxMessage(
                topic="return.approved", aggregate="RMA", payload={}, dispatched_at=now
            )
            session.add(message)
            await session.flush()
            delivery = Delivery(
                outbox_id=message.id,
                channel="email",
                target="ann@example.com",
                content={},
                status="dead",
                attempts=12,
                next_attempt_at=now,
                last_error="550 mailbox unavailable",
            )
            session.add(delivery)
            await session.flush()
            return delivery.id


def _station(number: str, rest: str = "") -> str:
    return f"/console/station/{number}{rest}"


async def _inspect(world: World) -> Attempt:
    number = await world.received()
    answers = {f"q-{key}": value for key, value in AS_NEW[TEE].items()}
    return Attempt(
        _station(number, f"/lines/{TEE}/inspect"), answers | {"step": "confirm", "grade": "new"}
    )


async def _flag(world: World) -> Attempt:
    number, flag = await world.receiving_flag()
    return Attempt(
        f"/console/returns/{number}/flags/{flag}/resolve", {f"resolution-{flag}": "Sent it back"}
    )


async def _photo(world: World) -> Attempt:
    number = await world.received()
    return Attempt(
        _station(number, f"/lines/{TEE}/photos"),
        {},
        {"photo": ("unit.png", png(2, 2), "image/png")},
    )


async def _batch(world: World) -> Attempt:
    await world.inspected()
    return Attempt("/console/batch/apply", {"refurbish": "", "open_box": ""})


Make = Callable[[World], Awaitable[Attempt]]


def _with(made: Callable[[World], Awaitable[Any]], url: Callable[[Any], str]) -> Make:
    """A page about a fresh object: ``made`` makes it, ``url`` says where its page is."""

    async def make(world: World) -> Attempt:
        return Attempt(url(await made(world)))

    return make


def _post(made: Callable[[World], Awaitable[Any]], url: Callable[[Any], str], **form: str) -> Make:
    """A form about a fresh object, sending ``form``."""

    async def make(world: World) -> Attempt:
        return Attempt(url(await made(world)), dict(form))

    return make


async def _nothing(world: World) -> None:
    return None


async def _ordered(world: World) -> str:
    order_id = world._order()
    made = await world.client.post(
        "/api/v1/orders", json=order_payload(order_id, lines=order_lines())
    )
    assert made.status_code == 201, made.text
    return order_id


# Every console page and form with the permission it needs. A test below checks that this
# covers every console route the app serves, so a new page can't slip past the matrix.
ACTIONS: dict[tuple[str, str], tuple[Permission, Make]] = {
    ("GET", "/console"): (Permission.VIEW_RETURNS, _with(_nothing, lambda _: "/console")),
    ("GET", "/console/queue/{key}"): (
        Permission.VIEW_RETURNS,
        _with(_nothing, lambda _: "/console/queue/review"),
    ),
    ("GET", "/console/search"): (
        Permission.VIEW_RETURNS,
        _with(_nothing, lambda _: "/console/search?q=ann"),
    ),
    ("GET", "/console/returns/{number}"): (
        Permission.VIEW_RETURNS,
        _with(World.requested, lambda n: f"/console/returns/{n}"),
    ),
    ("GET", "/console/returns/{number}/label.pdf"): (
        Permission.VIEW_RETURNS,
        _with(World.arriving, lambda n: f"/console/returns/{n}/label.pdf"),
    ),
    ("GET", "/console/returns/{number}/qr.png"): (
        Permission.VIEW_RETURNS,
        _with(World.arriving, lambda n: f"/console/returns/{n}/qr.png"),
    ),
    ("POST", "/console/returns/{number}/approve"): (
        Permission.DECIDE_REVIEWS,
        _post(World.requested, lambda n: f"/console/returns/{n}/approve", note="Fine"),
    ),
    ("POST", "/console/returns/{number}/reject"): (
        Permission.DECIDE_REVIEWS,
        _post(World.requested, lambda n: f"/console/returns/{n}/reject", reason="Too late"),
    ),
    ("POST", "/console/returns/{number}/resolve"): (
        Permission.RESOLVE_EXCEPTIONS,
        _post(World.flagged, lambda n: f"/console/returns/{n}/resolve", note="Called the carrier"),
    ),
    ("POST", "/console/returns/{number}/flags/{flag_id}/resolve"): (
        Permission.RESOLVE_EXCEPTIONS,
        _flag,
    ),
    ("GET", "/console/deliveries"): (
        Permission.MANAGE_DELIVERIES,
        _with(_nothing, lambda _: "/console/deliveries"),
    ),
    ("POST", "/console/deliveries/{delivery_id}/replay"): (
        Permission.MANAGE_DELIVERIES,
        _post(World.dead_delivery, lambda d: f"/console/deliveries/{d}/replay"),
    ),
    ("POST", "/console/deliveries/replay-all"): (
        Permission.MANAGE_DELIVERIES,
        _post(World.dead_delivery, lambda _: "/console/deliveries/replay-all"),
    ),
    ("GET", "/console/refunds"): (
        Permission.ISSUE_REFUNDS,
        _with(World.held_refund, lambda _: "/console/refunds"),
    ),
    ("POST", "/console/returns/{number}/refunds"): (
        Permission.ISSUE_REFUNDS,
        _post(
            World.arriving,
            lambda n: f"/console/returns/{n}/refunds",
            amount="5.00",
            kind="goodwill",
            reason="Late",
        ),
    ),
    ("POST", "/console/returns/{number}/refund-due"): (
        Permission.ISSUE_REFUNDS,
        _post(World.money_due, lambda n: f"/console/returns/{n}/refund-due"),
    ),
    ("POST", "/console/refunds/{number}/retry"): (
        Permission.ISSUE_REFUNDS,
        _post(World.failed_refund, lambda r: f"/console/refunds/{r}/retry"),
    ),
    ("POST", "/console/refunds/{number}/approve"): (
        Permission.APPROVE_REFUNDS,
        _post(World.held_refund, lambda r: f"/console/refunds/{r}/approve"),
    ),
    ("POST", "/console/refunds/{number}/decline"): (
        Permission.APPROVE_REFUNDS,
        _post(World.held_refund, lambda r: f"/console/refunds/{r}/decline", why="Too much"),
    ),
    ("GET", "/console/inventory"): (
        Permission.VIEW_INVENTORY,
        _with(World.routed, lambda _: "/console/inventory?sku=TEE-M"),
    ),
    ("GET", "/console/work-orders"): (
        Permission.VIEW_INVENTORY,
        _with(World.work_order, lambda _: "/console/work-orders"),
    ),
    ("POST", "/console/work-orders/{number}/receive-back"): (
        Permission.MANAGE_REFURBISHMENT,
        _post(World.work_order, lambda w: f"/console/work-orders/{w}/receive-back", grade="good"),
    ),
    ("POST", "/console/work-orders/{number}/scrap"): (
        Permission.MANAGE_REFURBISHMENT,
        _post(World.work_order, lambda w: f"/console/work-orders/{w}/scrap", reason="Dead"),
    ),
    ("GET", "/console/manifests"): (
        Permission.VIEW_INVENTORY,
        _with(_nothing, lambda _: "/console/manifests"),
    ),
    ("GET", "/console/manifests/{number}"): (
        Permission.VIEW_INVENTORY,
        _with(World.manifest, lambda m: f"/console/manifests/{m}"),
    ),
    ("POST", "/console/manifests/{number}/ship"): (
        Permission.MANAGE_MANIFESTS,
        _post(World.manifest, lambda m: f"/console/manifests/{m}/ship"),
    ),
    ("GET", "/console/batch"): (
        Permission.PLAN_BATCH,
        _with(World.inspected, lambda _: "/console/batch?refurbish=1"),
    ),
    ("POST", "/console/batch/apply"): (Permission.PLAN_BATCH, _batch),
    ("GET", "/console/station"): (
        Permission.RECEIVE,
        _with(_nothing, lambda _: "/console/station"),
    ),
    ("GET", "/console/station/{number}"): (
        Permission.RECEIVE,
        _with(World.arriving, _station),
    ),
    ("POST", "/console/station/{number}/receive"): (
        Permission.RECEIVE,
        _post(World.arriving, lambda n: _station(n, "/receive"), **{"qty-1": "2"}),
    ),
    ("POST", "/console/station/{number}/complete"): (
        Permission.DISPOSITION,
        _post(World.routed, lambda n: _station(n, "/complete")),
    ),
    ("GET", "/console/station/{number}/lines/{ref}/inspect"): (
        Permission.INSPECT,
        _with(World.received, lambda n: _station(n, f"/lines/{TEE}/inspect")),
    ),
    ("POST", "/console/station/{number}/lines/{ref}/inspect"): (Permission.INSPECT, _inspect),
    ("POST", "/console/station/{number}/lines/{ref}/photos"): (Permission.INSPECT, _photo),
    ("GET", "/console/station/{number}/lines/{ref}/route"): (
        Permission.DISPOSITION,
        _with(World.inspected, lambda n: _station(n, f"/lines/{TEE}/route")),
    ),
    ("POST", "/console/station/{number}/lines/{ref}/route"): (
        Permission.DISPOSITION,
        _post(World.inspected, lambda n: _station(n, f"/lines/{TEE}/route")),
    ),
    ("GET", "/console/station/{number}/lines/{ref}/bin-tag"): (
        Permission.DISPOSITION,
        _with(World.routed, lambda n: _station(n, f"/lines/{TEE}/bin-tag")),
    ),
    ("GET", "/console/station/{number}/lines/{ref}/bin-tag.pdf"): (
        Permission.DISPOSITION,
        _with(World.routed, lambda n: _station(n, f"/lines/{TEE}/bin-tag.pdf")),
    ),
    ("GET", "/console/analytics"): (
        Permission.VIEW_ANALYTICS,
        _with(_nothing, lambda _: "/console/analytics?since=2026-01-01&until=2026-03-31"),
    ),
    ("GET", "/console/analytics/export/{name}"): (
        Permission.VIEW_ANALYTICS,
        _with(_nothing, lambda _: "/console/analytics/export/returns.csv"),
    ),
    ("GET", "/console/analytics/model"): (
        Permission.VIEW_ANALYTICS,
        _with(_nothing, lambda _: "/console/analytics/model"),
    ),
    ("GET", "/console/orders/{external_id}"): (
        Permission.VIEW_RETURNS,
        _with(_ordered, lambda order_id: f"/console/orders/{order_id}"),
    ),
}


def test_the_matrix_covers_every_console_page_and_form() -> None:
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"))
    served = {
        (method, str(route.path))
        for route in iter_route_contexts(app.router.routes)
        if str(route.path or "").startswith("/console")
        for method in (route.methods or ()) - {"HEAD"}
    }
    assert served - SIGN_IN_ONLY == set(ACTIONS)


async def _signed_in(
    base_url: str, sessions: Sessions, role: Role, stack: AsyncExitStack
) -> Console:
    """A browser with a session of a new account of the role, opened as signing in opens one:
    the sign-in form itself (and its deliberately slow password check, four times per test) is
    test_console_auth.py's business."""
    async with transaction(sessions) as session:
        user = StaffUser(
            email=f"{role.value}@staff.test",
            name=f"{role.value.title()} Tester",
            role=role.value,
            password_hash="never used: these accounts don't sign in with a password",
        )
        session.add(user)
        await session.flush()
        opened = await staff.open_session(session, user, utcnow(), SESSION_TERMS)
    http = await stack.enter_async_context(
        httpx.AsyncClient(base_url=base_url, timeout=30, cookies={COOKIE: opened.token})
    )
    console = Console(http, None)
    console.csrf = opened.csrf
    return console


async def _people(base_url: str, sessions: Sessions, stack: AsyncExitStack) -> dict[Any, Console]:
    people: dict[Any, Console] = {VISITOR: await stack.enter_async_context(visitor(base_url))}
    for role in Role:
        people[role] = await _signed_in(base_url, sessions, role, stack)
    return people


async def _try(person: Console, attempt: Attempt) -> httpx.Response:
    if attempt.form is None:
        return await person.get(attempt.url)
    token = {"csrf": person.csrf} if person.csrf else {}
    return await person.http.post(
        attempt.url, data=token | attempt.form, files=attempt.files or None
    )


@pytest.fixture
async def people(  # type: ignore[misc]
    live_server: LiveServer, sessions: Sessions
) -> AsyncIterator[dict[Any, Console]]:
    async with AsyncExitStack() as stack:
        yield await _people(live_server.url, sessions, stack)


@pytest.mark.parametrize(("method", "path"), list(ACTIONS), ids=[" ".join(a) for a in ACTIONS])
async def test_only_the_roles_with_the_permission_get_through(
    method: str,
    path: str,
    people: dict[Any, Console],
    client: httpx.AsyncClient,
    sessions: Sessions,
) -> None:
    permission, make = ACTIONS[(method, path)]
    world = World(client, sessions)
    attempt: Attempt | None = None
    for subject in SUBJECTS:
        may = subject != VISITOR and permission in PERMISSIONS[Role(subject)]
        # A form that worked has used its object up; a refused one left it as it was.
        if attempt is None:
            attempt = await make(world)
        before = await warehouse_state(sessions)
        answer = await _try(people[subject], attempt)
        after = await warehouse_state(sessions)
        what = f"{subject} {method} {attempt.url}"
        if may:
            if method == "GET":
                assert answer.status_code == 200, f"{what}: {answer.status_code} {words(answer)}"
            else:
                assert answer.status_code == 303, f"{what}: {answer.status_code} {words(answer)}"
                where = answer.headers["location"]
                assert where.startswith("/console") and not where.startswith("/console/login")
                assert before != after, f"{what} changed nothing"
                attempt = None
            continue
        if subject == VISITOR:
            assert answer.status_code == 303, f"{what}: {answer.status_code}"
            assert answer.headers["location"].startswith("/console/login?"), what
        else:
            assert answer.status_code == 403, f"{what}: {answer.status_code}"
            assert "You can't do this with your role" in words(answer), what
        changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
        assert not changed, f"{what} was refused but wrote to the database: {changed}"


async def test_a_few_facts_of_the_table_by_hand(
    people: dict[Any, Console], client: httpx.AsyncClient, sessions: Sessions
) -> None:
    world = World(client, sessions)
    review = await world.requested()
    for role in (Role.ANALYST, Role.INSPECTOR):
        refused = await _try(
            people[role], Attempt(f"/console/returns/{review}/approve", {"note": "ok"})
        )
        assert refused.status_code == 403
        assert "To approve or reject returns you need the admin or agent role." in words(refused)
    parcel = await world.arriving()
    refused = await _try(people[Role.AGENT], Attempt(_station(parcel, "/receive"), {"qty-1": "1"}))
    assert refused.status_code == 403
    assert "To receive parcels you need the admin or inspector role." in words(refused)
    assert await one(sessions, "SELECT count(*) FROM receipts") == 0
    # Agents and analysts may look at stock, but not at the station.
    for role in (Role.AGENT, Role.ANALYST):
        assert (await people[role].get("/console/inventory")).status_code == 200
        assert (await people[role].get("/console/station")).status_code == 403
    # Only admins and inspectors see the station in their menu.
    for role, shown in ((Role.INSPECTOR, True), (Role.AGENT, False), (Role.ADMIN, True)):
        page = await people[role].get("/console")
        assert ('href="/console/station"' in page.text) is shown, role
