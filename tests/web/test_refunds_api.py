"""The refunds API over real HTTP: settling a return, refunds by hand, the shop's confirmations,
retries, and every bad request refused with a problem document and nothing written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.kit.money import MAX_MINOR
from tests.factories import MANUAL_POLICY_TEXT, order_payload
from tests.web.support import act, assert_problem, post_return, unchanged

Sessions = async_sessionmaker[AsyncSession]
# Refunds by hand above 50.00 wait for a second agent; gold customers get instant exchanges.
POLICY_TEXT = (
    MANUAL_POLICY_TEXT
    + """
[refunds]
second_approval_above = 50
[exchanges]
instant_tiers = ["gold"]
"""
)
CARD, GIFT_CARD = 4699, 2000
PAID = CARD + GIFT_CARD
PAYMENTS = [
    {"method": "card", "captured_minor": CARD, "reference": "ch_1", "last4": "4242"},
    {"method": "gift_card", "captured_minor": GIFT_CARD, "reference": "gc_1"},
]
REFUNDS = "/api/v1/orders/1001/refunds"
BURST = 200


@pytest.fixture
def server_overrides(tmp_path: Path) -> dict[str, Any]:
    policy = tmp_path / "refund-policy.toml"
    policy.write_text(POLICY_TEXT)
    return {"policy_file": policy}


async def _order(client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    payload = order_payload() | {"payments": PAYMENTS} | changes
    response = await client.post("/api/v1/orders", json=payload)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def _manual(amount: Any = 1500, **fields: Any) -> dict[str, Any]:
    return {"amount_minor": amount, "currency": "USD", "reason": "Arrived late", **fields}


async def _refund(client: httpx.AsyncClient, amount: int = 1500, **fields: Any) -> dict[str, Any]:
    response = await client.post(REFUNDS, json=_manual(amount, **fields))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _money(sessions: Sessions) -> dict[str, Any]:
    async with sessions() as session:
        given = await session.scalar(text("SELECT sum(given_back_minor) FROM orders"))
        refunded = (
            await session.execute(
                text("SELECT method, sum(refunded_minor) FROM order_payments GROUP BY method")
            )
        ).all()
        counts = {
            table: await session.scalar(text(f"SELECT count(*) FROM {table}"))
            for table in ("refunds", "refund_parts", "exchanges", "credit_transactions")
        }
    return {"given_back": given, "refunded": dict(refunded), **counts}  # type: ignore[arg-type]


@asynccontextmanager
async def nothing_moves(sessions: Sessions) -> AsyncIterator[None]:
    """No row written (the shared snapshot) and no money counted anywhere."""
    before = await _money(sessions)
    async with unchanged(sessions):
        yield
    assert await _money(sessions) == before, "a refused request moved money"


async def _topics(sessions: Sessions, prefix: str) -> list[str]:
    async with sessions() as session:
        found = await session.scalars(
            text("SELECT topic FROM outbox WHERE topic LIKE :p ORDER BY id"), {"p": f"{prefix}%"}
        )
        return list(found)


async def test_two_hundred_concurrent_settle_requests_for_one_due_return_settle_it_once(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await _order(client)
    number = (await post_return(client))["number"]
    await act(client, number, "approve")
    # Someone is looking at it, so the grade that makes the refund due pays nothing yet.
    async with sessions() as session, session.begin():
        await session.execute(
            text("UPDATE returns SET attention = 'Checking the parcel' WHERE number = :n"),
            {"n": number},
        )
    await act(client, number, "receive", {"lines": [{"line_id": "1", "quantity": 1}]})
    await act(client, number, "inspect", {"lines": [{"line_id": "1", "grade": "new"}]})
    assert (await _money(sessions))["refunds"] == 0
    # The look is over, cleared behind the hooks' back: only a request to settle pays now.
    async with sessions() as session, session.begin():
        await session.execute(
            text("UPDATE returns SET attention = NULL WHERE number = :n"), {"n": number}
        )

    responses = await asyncio.gather(
        *(client.post(f"/api/v1/returns/{number}/refund") for _ in range(BURST))
    )

    settled = [r for r in responses if r.status_code == 200]
    assert len(settled) == 1, sorted(r.status_code for r in responses)
    for response in responses:
        if response.status_code != 200:
            assert "already settled" in assert_problem(response, 409, "not-due")["detail"]
    body = settled[0].json()
    assert body["lines"] == ["1"]
    [refund] = body["refunds"]
    assert refund["kind"] == "return" and refund["amount_minor"] > 0
    money = await _money(sessions)
    assert money["refunds"] == 1
    assert money["given_back"] == refund["amount_minor"]
    assert await _topics(sessions, "refund.") == ["refund.requested"]
    assert await _topics(sessions, "return.settled") == ["return.settled"]
    async with sessions() as session:
        settled_lines = await session.scalar(
            text("SELECT count(*) FROM return_lines WHERE settled_at IS NOT NULL")
        )
    assert settled_lines == 1


async def test_settling_a_return_with_nothing_due_is_a_409_saying_when_and_writes_nothing(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await _order(client)
    number = (await post_return(client))["number"]
    await act(client, number, "approve")

    async with nothing_moves(sessions):
        response = await client.post(
            f"/api/v1/returns/{number}/refund",
            json={"lines": ["1"]},
            headers={"Idempotency-Key": "early"},
        )
        detail = assert_problem(response, 409, "not-due")["detail"]
        assert "inspect" in detail
        assert_problem(
            await client.post("/api/v1/returns/RMA-00000-00000/refund"), 404, "not-found"
        )


async def test_two_concurrent_partial_refunds_that_exceed_what_is_left_let_exactly_one_through(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await _order(client)

    responses = await asyncio.gather(
        client.post(REFUNDS, json=_manual(4000)), client.post(REFUNDS, json=_manual(4000))
    )

    assert sorted(r.status_code for r in responses) == [201, 409]
    refused = next(r for r in responses if r.status_code == 409)
    assert "26.99 USD" in assert_problem(refused, 409, "amount-exceeded")["detail"]
    money = await _money(sessions)
    assert money["given_back"] == 4000
    assert sum(money["refunded"].values()) == 4000
    assert money["refunds"] == 1


async def test_a_refund_larger_than_all_payments_is_a_409_and_writes_nothing(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await _order(client)
    await _refund(client, 4000)

    async with nothing_moves(sessions):
        response = await client.post(REFUNDS, json=_manual(PAID - 3999))
        assert_problem(response, 409, "amount-exceeded")


async def test_a_refund_by_hand_goes_to_the_card_first_then_the_gift_card(
    client: httpx.AsyncClient,
) -> None:
    await _order(client)

    first = await _refund(client, 4000)
    second = await _refund(client, 1000)

    assert first["status"] == "requested"
    assert [(p["method"], p["amount_minor"], p["last4"]) for p in first["parts"]] == [
        ("card", 4000, "4242")
    ]
    assert [(p["method"], p["amount_minor"]) for p in second["parts"]] == [
        ("card", CARD - 4000),
        ("gift_card", 1000 - (CARD - 4000)),
    ]
    shown = (await client.get("/api/v1/orders/1001")).json()
    assert shown["given_back_minor"] == 5000
    assert [p["refunded_minor"] for p in shown["payments"]] == [CARD, 1000 - (CARD - 4000)]


async def test_a_refund_above_the_threshold_waits_for_a_second_agent(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await _order(client)

    held = await _refund(client, 5001, kind="goodwill")

    assert (held["status"], held["kind"]) == ("pending_approval", "goodwill")
    assert {part["status"] for part in held["parts"]} == {"pending"}
    assert await _topics(sessions, "refund.") == []
    # Nothing was asked of the shop, so there is nothing to confirm yet.
    async with nothing_moves(sessions):
        response = await client.post(
            f"/api/v1/refunds/{held['number']}/confirmation", json={"event": "refund.succeeded"}
        )
        assert_problem(response, 409, "conflict")


async def test_the_shop_confirms_success_and_a_repeat_is_the_same_answer(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await _order(client)
    number = (await post_return(client))["number"]
    refund = await _refund(client, 1500, **{"return": number})
    assert refund["return_number"] == number
    url = f"/api/v1/refunds/{refund['number']}/confirmation"
    said = {"event": "refund.succeeded", "reference": "re_1"}

    first = await client.post(url, json=said)
    again = await client.post(url, json=said)

    assert first.status_code == again.status_code == 200, first.text
    assert first.json() == again.json()
    assert first.json()["status"] == "succeeded"
    assert first.json()["parts"][0]["provider_reference"] == "re_1"
    assert await _topics(sessions, "refund.") == [
        "refund.requested",
        "refund.succeeded",
        "refund.issued",
    ]
    async with nothing_moves(sessions):
        contradiction = await client.post(url, json={"event": "refund.failed"})
        assert_problem(contradiction, 409, "conflict")


async def test_a_failure_per_payment_is_released_and_retried_once(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await _order(client)
    refund = await _refund(client, 5000)
    number = refund["number"]

    failed = await client.post(
        f"/api/v1/refunds/{number}/confirmation",
        json={
            "event": "refund.succeeded",
            "payments": [{"position": 2, "event": "refund.failed", "reason": "Card closed"}],
        },
    )

    assert failed.status_code == 200, failed.text
    assert failed.json()["status"] == "failed"
    assert [p["status"] for p in failed.json()["parts"]] == ["succeeded", "failed"]
    assert (await _money(sessions))["given_back"] == CARD
    retried = await client.post(f"/api/v1/refunds/{number}/retry")
    assert retried.status_code == 201, retried.text
    assert (retried.json()["kind"], retried.json()["retry_of"]) == ("retry", number)
    assert retried.json()["amount_minor"] == 5000 - CARD
    assert (await _money(sessions))["given_back"] == 5000
    async with nothing_moves(sessions):
        assert_problem(await client.post(f"/api/v1/refunds/{number}/retry"), 409, "conflict")
        succeeded_retry = retried.json()["number"]
        assert_problem(
            await client.post(f"/api/v1/refunds/{succeeded_retry}/retry"), 409, "conflict"
        )


@pytest.mark.parametrize("number", ["RF-ZZZZZZZZ", "RF-0000000000", "garbage", "RF-%00"])
async def test_unknown_or_forged_refund_numbers_are_404(
    client: httpx.AsyncClient, sessions: Sessions, number: str
) -> None:
    await _order(client)
    await _refund(client)

    async with nothing_moves(sessions):
        base = f"/api/v1/refunds/{number}"
        assert_problem(await client.get(base), 404, "not-found")
        confirmation = {"event": "refund.succeeded"}
        assert_problem(await client.post(f"{base}/confirmation", json=confirmation), 404)
        assert_problem(await client.post(f"{base}/retry"), 404, "not-found")


BAD_REFUNDS: list[tuple[str, Any, int, str]] = [
    ("negative", _manual(-100), 422, "validation-failed"),
    ("zero", _manual(0), 422, "validation-failed"),
    ("fractional", _manual(1.5), 422, "validation-failed"),
    ("a string", _manual("100"), 422, "validation-failed"),
    ("huge", _manual(MAX_MINOR + 1), 422, "validation-failed"),
    ("a boolean", _manual(True), 422, "validation-failed"),
    ("wrong currency", _manual(currency="EUR"), 422, "currency-mismatch"),
    ("unknown currency", _manual(currency="XXX"), 422, "validation-failed"),
    ("missing reason", {"amount_minor": 100, "currency": "USD"}, 422, "validation-failed"),
    ("empty reason", _manual(reason="  "), 422, "validation-failed"),
    ("unknown kind", _manual(kind="bonus"), 422, "validation-failed"),
    ("unknown field", _manual(note="x"), 422, "validation-failed"),
    ("unknown return", _manual(**{"return": "RMA-00000-00000"}), 404, "not-found"),
    ("not an object", [1, 2], 422, "validation-failed"),
]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [case[1:] for case in BAD_REFUNDS],
    ids=[case[0] for case in BAD_REFUNDS],
)
async def test_a_bad_refund_request_is_a_problem_and_writes_nothing(
    client: httpx.AsyncClient, sessions: Sessions, body: Any, status: int, code: str
) -> None:
    await _order(client)

    async with nothing_moves(sessions):
        response = await client.post(REFUNDS, json=body, headers={"Idempotency-Key": "bad"})
        assert_problem(response, status, code)


async def test_malformed_json_and_unknown_orders_are_refused_and_write_nothing(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await _order(client)
    refund = await _refund(client)

    async with nothing_moves(sessions):
        broken = await client.post(
            REFUNDS, content=b'{"amount_minor": 1', headers={"content-type": "application/json"}
        )
        assert_problem(broken, 400, "malformed-json")
        assert_problem(await client.post("/api/v1/orders/9999/refunds", json=_manual()), 404)
        confirmation = f"/api/v1/refunds/{refund['number']}/confirmation"
        for body in (
            {"event": "refund.maybe"},
            {"event": "refund.failed", "payments": [{"position": 0, "event": "refund.failed"}]},
            {"event": "refund.failed", "payments": [{"position": 9, "event": "refund.failed"}]},
            {"event": "refund.failed", "reason": ""},
        ):
            assert_problem(await client.post(confirmation, json=body), 422)


async def test_an_idempotency_key_replay_answers_the_same_and_refunds_once(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await _order(client)
    headers = {"Idempotency-Key": "refund-once"}

    first = await client.post(REFUNDS, json=_manual(2000), headers=headers)
    replay = await client.post(REFUNDS, json=_manual(2000), headers=headers)

    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.content == first.content
    assert replay.headers.get("idempotent-replayed") == "true"
    money = await _money(sessions)
    assert (money["refunds"], money["given_back"]) == (1, 2000)
    reused = await client.post(REFUNDS, json=_manual(2001), headers=headers)
    assert_problem(reused, 422, "idempotency-key-reused")
    confirmation = f"/api/v1/refunds/{first.json()['number']}/confirmation"
    failed = {"event": "refund.failed", "reason": "Card expired"}
    once = await client.post(confirmation, json=failed, headers={"Idempotency-Key": "c"})
    twice = await client.post(confirmation, json=failed, headers={"Idempotency-Key": "c"})
    assert once.content == twice.content
    assert await _topics(sessions, "refund.failed") == ["refund.failed"]


async def test_refunds_are_listed_filtered_and_paged(client: httpx.AsyncClient) -> None:
    await _order(client)
    number = (await post_return(client))["number"]
    made = [
        await _refund(client, 100),
        await _refund(client, 100, **{"return": number}),
        await _refund(client, 5001),
    ]

    first = (await client.get("/api/v1/refunds", params={"limit": 2})).json()
    rest = (
        await client.get("/api/v1/refunds", params={"limit": 2, "after": first["next_cursor"]})
    ).json()
    held = (await client.get("/api/v1/refunds", params={"status": "pending_approval"})).json()
    of_return = (await client.get("/api/v1/refunds", params={"return": number})).json()
    of_other = (await client.get("/api/v1/refunds", params={"order": "1002"})).json()
    shown = (await client.get(f"/api/v1/refunds/{made[0]['number'].lower()}")).json()

    numbers = [refund["number"] for refund in made]
    assert [r["number"] for r in first["items"] + rest["items"]] == numbers[::-1]
    assert rest["next_cursor"] is None
    assert [r["number"] for r in held["items"]] == [numbers[2]]
    assert [r["number"] for r in of_return["items"]] == [numbers[1]]
    assert of_other["items"] == []
    assert shown == made[0]
    assert_problem(await client.get("/api/v1/refunds", params={"status": "lost"}), 422)
    assert_problem(await client.get("/api/v1/refunds", params={"after": "RF-ZZZZZZZZ"}), 422)
