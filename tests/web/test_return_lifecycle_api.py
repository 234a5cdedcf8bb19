"""The lifecycle over HTTP: review, approve, reject, cancel, in-transit, receive, inspect,
disposition, complete; and every move the lifecycle forbids."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.web.support import (
    act,
    assert_problem,
    count,
    post_order,
    post_return,
    returned_quantity,
    unchanged,
)


async def _two_line_return(client: httpx.AsyncClient) -> str:
    await post_order(client, quantity=2)
    response = await client.post(
        "/api/v1/returns",
        json={
            "order_id": "1001",
            "method": "box_free_dropoff",
            "lines": [
                {"line_id": "1", "quantity": 2, "reason": "too_small"},
                {"line_id": "2", "quantity": 1, "reason": "defective", "resolution": "exchange"},
            ],
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["number"])


async def test_a_return_goes_through_its_whole_lifecycle_over_http(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], api_key: Any
) -> None:
    number = await _two_line_return(client)

    assert (await act(client, number, "review", {"reason": "Defect claim"}))["status"] == "review"
    assert (await act(client, number, "approve", {}))["status"] == "approved"
    again = await client.post(f"/api/v1/returns/{number}/approve", json={})
    problem = assert_problem(again, 409, "invalid-transition")
    assert (problem["current_status"], problem["action"]) == ("approved", "approve")
    moved = await act(client, number, "in-transit", {"tracking_number": "1Z999", "carrier": "ups"})
    assert moved["status"] == "in_transit"
    # A second receipt for the rest of a line keeps the return received.
    first = await act(client, number, "receive", {"lines": [{"line_id": "1", "quantity": 1}]})
    assert first["status"] == "received"
    both = await act(
        client,
        number,
        "receive",
        {"lines": [{"line_id": "1", "quantity": 1}, {"line_id": "2", "quantity": 1}]},
    )
    assert [line["received_quantity"] for line in both["lines"]] == [2, 1]
    # Inspected only once every received line is graded.
    partly = await act(
        client, number, "inspect", {"lines": [{"line_id": "1", "grade": "like_new"}]}
    )
    assert partly["status"] == "received"
    graded = await act(
        client, number, "inspect", {"lines": [{"line_id": "2", "grade": "unsellable"}]}
    )
    assert graded["status"] == "inspected"
    assert [line["grade"] for line in graded["lines"]] == ["like_new", "unsellable"]
    routed = await act(
        client,
        number,
        "disposition",
        {
            "lines": [
                {"line_id": "1", "disposition": "restock"},
                {"line_id": "2", "disposition": "recycle"},
            ]
        },
    )
    assert [line["disposition"] for line in routed["lines"]] == ["restock", "recycle"]
    done = await act(client, number, "complete")
    assert done["status"] == "completed"

    shown = (await client.get(f"/api/v1/returns/{number}")).json()
    assert shown == done
    assert [(e["action"], e["to_status"]) for e in shown["events"]] == [
        ("create", "requested"),
        ("send_to_review", "review"),
        ("approve", "approved"),
        ("mark_in_transit", "in_transit"),
        ("receive", "received"),
        ("receive", "received"),
        # Sent to review, so each line is refunded once it is graded (after inspection).
        ("inspect", "received"),
        ("settled", "received"),
        ("inspect", "inspected"),
        ("settled", "inspected"),
        ("disposition", "inspected"),
        ("complete", "completed"),
    ]
    chain = [(e["from_status"], e["to_status"]) for e in shown["events"]]
    assert all(prev[1] == nxt[0] for prev, nxt in zip(chain, chain[1:], strict=False))
    assert {e["actor"] for e in shown["events"]} == {f"api:{api_key.prefix}"}
    assert shown["events"][3]["data"] == {"tracking_number": "1Z999", "carrier": "ups"}
    # Every event was also written to the outbox for the worker, in the same transaction,
    # and so were the money's own rows: the tees' refund, the mug's exchange and the refund
    # of its shipping share (a defect: the shop pays the shipping back).
    assert await count(sessions, "outbox") == len(shown["events"]) + 3
    assert await returned_quantity(sessions, line_id="1") == 2
    assert await returned_quantity(sessions, line_id="2") == 1


async def test_a_returnless_approval_refunds_without_the_item_coming_back(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await post_order(client)
    number = (await post_return(client))["number"]

    approved = await act(client, number, "approve", {"returnless": True, "note": "Under $15"})

    assert (approved["status"], approved["method"]) == ("approved", "keep_item")
    assert approved["status_reason"] == "Under $15"
    async with unchanged(sessions):
        assert_problem(
            await client.post(f"/api/v1/returns/{number}/in-transit", json={}),
            409,
            "invalid-transition",
        )
        assert_problem(
            await client.post(
                f"/api/v1/returns/{number}/receive",
                json={"lines": [{"line_id": "1", "quantity": 1}]},
            ),
            409,
            "invalid-transition",
        )
    done = await act(client, number, "complete")
    assert done["status"] == "completed"
    assert done["events"][-1]["data"] == {"returnless": True}
    # The shopper keeps the unit, so it stays counted as returned.
    assert await returned_quantity(sessions) == 1


@pytest.mark.parametrize("action", ["review", "approve", "cancel", "in-transit"])
async def test_an_action_whose_fields_are_all_optional_needs_no_body(
    client: httpx.AsyncClient, action: str
) -> None:
    await post_order(client)
    number = (await post_return(client))["number"]
    if action == "in-transit":
        await act(client, number, "approve")

    response = await client.post(f"/api/v1/returns/{number}/{action}")

    assert response.status_code == 200, response.text
    expected = {"review": "review", "approve": "approved", "cancel": "cancelled"}
    assert response.json()["status"] == expected.get(action, "in_transit")


@pytest.mark.parametrize("flag", ["yes", 1, "true"])
async def test_returnless_must_be_a_real_boolean(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], flag: object
) -> None:
    await post_order(client)
    number = (await post_return(client))["number"]
    async with unchanged(sessions):
        response = await client.post(f"/api/v1/returns/{number}/approve", json={"returnless": flag})
        assert_problem(response, 422, "validation-failed")


async def test_a_return_approved_without_returnless_cannot_complete_before_it_arrives(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await post_order(client)
    number = (await post_return(client))["number"]
    await act(client, number, "approve", {})
    async with unchanged(sessions):
        response = await client.post(f"/api/v1/returns/{number}/complete")
        assert_problem(response, 409, "invalid-transition")


@pytest.mark.parametrize("body", [{}, {"reason": None}, {"reason": ""}, {"reason": "   "}])
async def test_a_rejection_needs_a_reason(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], body: dict
) -> None:
    await post_order(client)
    number = (await post_return(client))["number"]
    async with unchanged(sessions):
        response = await client.post(f"/api/v1/returns/{number}/reject", json=body)
        assert_problem(response, 422, "validation-failed")


async def test_a_rejected_return_says_why_and_gives_its_units_back(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await post_order(client, quantity=2)
    number = (await post_return(client, quantity=2))["number"]
    await act(client, number, "review", {})

    rejected = await act(client, number, "reject", {"reason": "Bought 200 days ago"})

    assert (rejected["status"], rejected["status_reason"]) == ("rejected", "Bought 200 days ago")
    assert rejected["events"][-1]["data"] == {"reason": "Bought 200 days ago"}
    assert await returned_quantity(sessions) == 0
    await post_return(client, quantity=2)


@pytest.mark.parametrize("approve_first", [False, True], ids=["requested", "approved"])
async def test_a_cancelled_return_gives_its_units_back(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], approve_first: bool
) -> None:
    await post_order(client, quantity=2)
    number = (await post_return(client, quantity=2))["number"]
    if approve_first:
        await act(client, number, "approve", {})

    cancelled = await act(client, number, "cancel", {"reason": "Changed my mind"})

    assert cancelled["status"] == "cancelled"
    assert await returned_quantity(sessions) == 0


async def test_units_that_never_arrived_become_returnable_again_on_completion(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await post_order(client, quantity=2)
    number = (await post_return(client, quantity=2))["number"]
    await act(client, number, "approve", {})
    await act(client, number, "receive", {"lines": [{"line_id": "1", "quantity": 1}]})
    await act(client, number, "inspect", {"lines": [{"line_id": "1", "grade": "good"}]})
    await act(
        client, number, "disposition", {"lines": [{"line_id": "1", "disposition": "open_box"}]}
    )
    assert await returned_quantity(sessions) == 2

    await act(client, number, "complete")

    assert await returned_quantity(sessions) == 1


# (what happened before, the move attempted, its body)
ILLEGAL = {
    "complete a requested return": ([], "complete", None),
    "receive a requested return": ([], "receive", {"lines": [{"line_id": "1", "quantity": 1}]}),
    "ship a requested return": ([], "in-transit", {}),
    "inspect a requested return": ([], "inspect", {"lines": [{"line_id": "1", "grade": "new"}]}),
    "review twice": (["review"], "review", {}),
    "approve twice": (["approve"], "approve", {}),
    "reject a received return": (["approve", "receive"], "reject", {"reason": "late"}),
    "review an approved return": (["approve"], "review", {}),
    "approve a rejected return": (["reject"], "approve", {}),
    "cancel a rejected return": (["reject"], "cancel", {}),
    "approve a cancelled return": (["cancel"], "approve", {}),
    "cancel a shipped return": (["approve", "in-transit"], "cancel", {}),
    "disposition before inspection": (
        ["approve", "receive"],
        "disposition",
        {"lines": [{"line_id": "1", "disposition": "restock"}]},
    ),
    "cancel a received return": (["approve", "receive"], "cancel", {}),
    "complete before disposition": (
        ["approve", "receive", "inspect"],
        "complete",
        None,
    ),
}
SETUP_BODIES: dict[str, dict[str, Any]] = {
    "review": {},
    "approve": {},
    "reject": {"reason": "no"},
    "cancel": {},
    "in-transit": {},
    "receive": {"lines": [{"line_id": "1", "quantity": 1}]},
    "inspect": {"lines": [{"line_id": "1", "grade": "good"}]},
}


@pytest.mark.parametrize(("before", "action", "body"), ILLEGAL.values(), ids=ILLEGAL.keys())
async def test_a_move_the_lifecycle_forbids_is_a_409_problem_and_writes_nothing(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    before: list[str],
    action: str,
    body: dict | None,
) -> None:
    await post_order(client)
    number = (await post_return(client))["number"]
    for step in before:
        await act(client, number, step, SETUP_BODIES[step])
    async with unchanged(sessions):
        response = await client.post(
            f"/api/v1/returns/{number}/{action}", json=body, headers={"Idempotency-Key": "move"}
        )
        assert_problem(response, 409, "invalid-transition")


# (what happened before, the move attempted, its body, the problem)
BAD_LINE_WORK = {
    "receive more than asked": (
        ["approve"],
        "receive",
        {"lines": [{"line_id": "1", "quantity": 2}]},
        "quantity-exceeded",
    ),
    "receive a line not on the return": (
        ["approve"],
        "receive",
        {"lines": [{"line_id": "2", "quantity": 1}]},
        "validation-failed",
    ),
    "receive a line twice in one scan": (
        ["approve"],
        "receive",
        {"lines": [{"line_id": "1", "quantity": 1}] * 2},
        "validation-failed",
    ),
    "receive zero": (
        ["approve"],
        "receive",
        {"lines": [{"line_id": "1", "quantity": 0}]},
        "validation-failed",
    ),
    "unknown grade": (
        ["approve", "receive"],
        "inspect",
        {"lines": [{"line_id": "1", "grade": "mint"}]},
        "validation-failed",
    ),
    "unknown disposition": (
        ["approve", "receive", "inspect"],
        "disposition",
        {"lines": [{"line_id": "1", "disposition": "burn"}]},
        "validation-failed",
    ),
    "an approval with an unknown option": (
        [],
        "approve",
        {"refund_now": True},
        "validation-failed",
    ),
    "returnless not a yes or no": ([], "approve", {"returnless": "maybe"}, "validation-failed"),
}


@pytest.mark.parametrize(
    ("before", "action", "body", "code"), BAD_LINE_WORK.values(), ids=BAD_LINE_WORK.keys()
)
async def test_bad_warehouse_input_is_a_problem_and_writes_nothing(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    before: list[str],
    action: str,
    body: dict,
    code: str,
) -> None:
    await post_order(client)
    number = (await post_return(client))["number"]
    for step in before:
        await act(client, number, step, SETUP_BODIES[step])
    async with unchanged(sessions):
        response = await client.post(f"/api/v1/returns/{number}/{action}", json=body)
        assert_problem(response, 422, code)
