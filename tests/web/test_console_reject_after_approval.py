"""Rejecting a return whose box brought nothing back, from its console page: offered to agents
and admins while the return is approved or in transit, and nowhere once units were received."""

from __future__ import annotations

import pytest

from reclaim.db import transaction
from reclaim.returns import service as returns
from reclaim.returns.schemas import ReceiveIn
from reclaim.users.roles import Role
from tests.factories import actor, seed_order, seed_return
from tests.integration.helpers import returned_quantity, scalar
from tests.web.conftest import LiveServer
from tests.web.console_support import Sessions, console_unchanged, signed_in, words

FORM = 'action="/console/returns/{number}/reject"'


async def _return(sessions: Sessions, *steps: str) -> str:
    """A return of both tees of order 1001, moved on a step at a time."""
    await seed_order(sessions)
    number = await seed_return(sessions, quantity=2)
    for step in steps:
        async with transaction(sessions) as session:
            match step:
                case "approve":
                    await returns.approve(session, number, actor())
                case "approve_returnless":
                    await returns.approve(session, number, actor(), returnless=True)
                case "transit":
                    await returns.mark_in_transit(session, number, actor())
                case "receive":
                    lines = ReceiveIn.model_validate({"lines": [{"line_id": "1", "quantity": 1}]})
                    await returns.receive(session, number, lines, actor())
    return number


@pytest.mark.parametrize(
    "steps", [("approve",), ("approve", "transit")], ids=["approved", "in_transit"]
)
async def test_an_agent_rejects_a_return_whose_box_brought_nothing_back(
    live_server: LiveServer, sessions: Sessions, steps: tuple[str, ...]
) -> None:
    number = await _return(sessions, *steps)
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        page = await agent.get(f"/console/returns/{number}")
        answer = await agent.post(
            f"/console/returns/{number}/reject", {"reason": "The parcel arrived empty."}
        )
        done = await agent.get(answer.headers["location"])

    assert FORM.format(number=number) in page.text
    assert "Nothing usable came back?" in words(page)
    assert answer.status_code == 303
    assert f"Rejected {number}. The shopper is e-mailed your reason" in words(done)
    assert await scalar(sessions, "SELECT status FROM returns") == "rejected"
    assert await returned_quantity(sessions) == 0
    assert await scalar(sessions, "SELECT cancelled_at FROM shipments") is not None


@pytest.mark.parametrize("role", [Role.ANALYST, Role.INSPECTOR])
async def test_staff_who_decide_no_returns_are_not_offered_the_rejection(
    live_server: LiveServer, sessions: Sessions, role: Role
) -> None:
    number = await _return(sessions, "approve", "transit")
    async with signed_in(live_server.url, sessions, role) as someone:
        page = await someone.get(f"/console/returns/{number}")

    assert page.status_code == 200
    assert FORM.format(number=number) not in page.text


@pytest.mark.parametrize(
    ("steps", "said"),
    [
        (("approve", "receive"), "A return that is received can't be rejected."),
        (("approve_returnless",), "A returnless return has nothing to send back"),
    ],
    ids=["received", "returnless"],
)
async def test_a_return_with_nothing_to_reject_offers_no_form_and_refuses_one_sent(
    live_server: LiveServer, sessions: Sessions, steps: tuple[str, ...], said: str
) -> None:
    number = await _return(sessions, *steps)
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        page = await agent.get(f"/console/returns/{number}")
        async with console_unchanged(sessions):
            refused = await agent.post(
                f"/console/returns/{number}/reject", {"reason": "The parcel arrived empty."}
            )

    assert FORM.format(number=number) not in page.text
    assert refused.status_code == 409
    assert said in words(refused)
