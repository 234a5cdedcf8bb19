"""The warehouse over HTTP: parcels and flags, guided inspection, disposition and stock; and
every request it must refuse (a channel the unit can't go to, a line a flag holds), as a
problem document that changed nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.users.apikeys import IssuedKey, Scope
from tests.factories import seed_api_key
from tests.integration.operations_support import graded_return
from tests.web.conftest import LiveServer
from tests.web.support import act, api_client, assert_problem, post_order, unchanged

Sessions = async_sessionmaker[AsyncSession]
TEE_AS_NEW = {
    "tags_attached": True,
    "signs_of_wear": "none",
    "stains_or_odour": "no",
    "original_packaging": "yes",
}
PHONE_SWAPPED = {
    "powers_on": "yes",
    "accessories": "all",
    "screen": "perfect",
    "serial_matches": "no",
    "original_packaging": "yes",
}
WAREHOUSE = (
    "receipts",
    "receiving_flags",
    "inspections",
    "dispositions",
    "inventory_movements",
)


async def _warehouse_rows(sessions: Sessions) -> dict[str, int]:
    async with sessions() as session:
        return {
            table: int(await session.scalar(text(f"SELECT count(*) FROM {table}")) or 0)
            for table in WAREHOUSE
        }


async def _approved(client: httpx.AsyncClient) -> str:
    """An approved return of both tees (line "1") of order 1001."""
    await post_order(client, quantity=2)
    response = await client.post(
        "/api/v1/returns",
        json={
            "order_id": "1001",
            "lines": [{"line_id": "1", "quantity": 2, "reason": "no_longer_needed"}],
        },
    )
    assert response.status_code == 201, response.text
    number = str(response.json()["number"])
    await act(client, number, "approve", {})
    return number


async def _post(client: httpx.AsyncClient, path: str, body: Any = None) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


async def test_a_parcel_is_inspected_routed_and_stocked_over_http(
    client: httpx.AsyncClient,
) -> None:
    number = await _approved(client)
    base = f"/api/v1/returns/{number}"

    parcel = await _post(
        client,
        f"{base}/receipts",
        {"counts": [{"line_id": "1", "quantity": 2}], "weight_grams": 520},
    )
    assert (parcel["status"], parcel["flags"], parcel["attention"]) == ("received", [], None)
    assert parcel["receipt"]["lines"] == {"1": 2}
    assert parcel["receipt"]["expected_weight_grams"] == 400
    receipts = (await client.get(f"{base}/receipts")).json()["items"]
    assert [r["weight_grams"] for r in receipts] == [520]

    checklist = (await client.get(f"{base}/lines/1/checklist")).json()
    assert checklist["name"] == "apparel"
    assert {q["key"] for q in checklist["questions"]} >= set(TEE_AS_NEW)

    inspected = await _post(client, f"{base}/lines/1/inspection", {"answers": TEE_AS_NEW})
    assert (inspected["grade"], inspected["suggested_grade"]) == ("new", "new")
    assert inspected["answers"]["tags_attached"] == "yes"
    assert inspected["status"] == "inspected" and inspected["reasons"]

    advice = (await client.get(f"{base}/lines/1/recommendation")).json()
    assert (advice["best"], advice["grade"], advice["quantity"]) == ("restock", "new", 2)
    assert advice["options"][0]["channel"] == "restock" and advice["explanation"]

    routed = await _post(client, f"{base}/lines/1/disposition")
    assert (routed["channel"], routed["recommended"], routed["quantity"]) == (
        "restock",
        "restock",
        2,
    )
    assert routed["location"] == advice["location"]
    assert routed["expected_net_minor"] == advice["options"][0]["net_minor"] * 2

    stock = (await client.get("/api/v1/inventory/stock", params={"sku": "TEE-M"})).json()
    assert stock["items"] == [
        {"sku": "TEE-M", "condition": "new", "location": routed["location"], "quantity": 2}
    ]
    ledger = (await client.get("/api/v1/inventory/movements")).json()
    assert [(m["kind"], m["quantity"]) for m in ledger["items"]] == [("restock", 2)]
    assert ledger["next_cursor"] is None
    done = await act(client, number, "complete")
    assert done["status"] == "completed"


async def test_an_empty_box_is_flagged_and_resolved_over_http(
    client: httpx.AsyncClient, api_key: IssuedKey
) -> None:
    number = await _approved(client)

    parcel = await _post(client, f"/api/v1/returns/{number}/receipts", {"weight_grams": 90})

    assert parcel["status"] == "approved"
    assert [flag["kind"] for flag in parcel["flags"]] == ["empty_box"]
    assert "empty box" in parcel["attention"]
    flagged = (await client.get("/api/v1/returns", params={"attention": "true"})).json()
    assert [r["number"] for r in flagged["items"]] == [number]
    flag_id = parcel["flags"][0]["id"]

    resolved = await _post(
        client, f"/api/v1/receiving-flags/{flag_id}/resolve", {"resolution": "Carrier claim"}
    )

    assert resolved["resolution"] == "Carrier claim"
    assert resolved["resolved_by"] == f"api:{api_key.prefix}" and resolved["resolved_at"]
    again = await client.post(
        f"/api/v1/receiving-flags/{flag_id}/resolve", json={"resolution": "Again"}
    )
    assert_problem(again, 409)
    shown = (await client.get(f"/api/v1/returns/{number}")).json()
    assert shown["attention"] is None
    still_open = await client.get(f"/api/v1/returns/{number}/flags", params={"open": "true"})
    assert still_open.json()["items"] == []
    every = (await client.get(f"/api/v1/returns/{number}/flags")).json()["items"]
    assert [flag["kind"] for flag in every] == ["empty_box"]


async def test_a_wrong_item_and_a_missing_one_are_flagged_over_http(
    client: httpx.AsyncClient,
) -> None:
    number = await _approved(client)

    parcel = await _post(
        client,
        f"/api/v1/returns/{number}/receipts",
        {
            "counts": [],
            "wrong": [{"line_id": "1", "found": "TEE-XL", "quantity": 1}],
            "unexpected": [{"found": "A sock", "quantity": 1}],
        },
    )

    kinds = [(f["kind"], f["line_id"], f["quantity"]) for f in parcel["flags"]]
    assert kinds == [
        ("wrong_item", "1", 1),
        ("unexpected_item", None, 1),
        ("missing_item", "1", 1),
    ]
    assert parcel["status"] == "approved" and parcel["receipt"]["lines"] == {}


async def test_a_serial_that_does_not_match_holds_the_line_until_its_flag_is_resolved(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number = await graded_return(sessions, "2001", [("PHONE", 1, None)])
    base = f"/api/v1/returns/{number}"

    inspected = await _post(client, f"{base}/lines/1/inspection", {"answers": PHONE_SWAPPED})

    assert (inspected["grade"], inspected["status"]) == ("unsellable", "inspected")
    flags = (await client.get(f"{base}/flags", params={"open": "true"})).json()["items"]
    assert [(f["kind"], f["line_id"], f["receipt_id"], f["quantity"]) for f in flags] == [
        ("wrong_item", "1", None, 1)
    ]
    assert "doesn't match the one sold" in flags[0]["detail"]
    shown = (await client.get(base)).json()
    assert shown["attention"].startswith("Inspection: wrong item for line 1")
    async with unchanged(sessions):
        held = await client.post(f"{base}/lines/1/disposition", json={})
        assert "Resolve the flags first" in assert_problem(held, 409)["detail"]
        old_way = {"lines": [{"line_id": "1", "disposition": "recycle"}]}
        assert_problem(await client.post(f"{base}/disposition", json=old_way), 409)

    await _post(
        client, f"/api/v1/receiving-flags/{flags[0]['id']}/resolve", {"resolution": "Our unit"}
    )
    routed = await _post(client, f"{base}/lines/1/disposition")
    assert routed["channel"] == routed["recommended"]


async def test_a_channel_the_unit_cannot_go_to_is_refused_with_the_engines_reasons(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number = await _approved(client)
    base = f"/api/v1/returns/{number}"
    await _post(client, f"{base}/receipts", {"counts": [{"line_id": "1", "quantity": 2}]})
    stained = {**TEE_AS_NEW, "stains_or_odour": "yes"}
    await _post(client, f"{base}/lines/1/inspection", {"answers": stained})
    why = "Restock takes new or like new units; this one is unsellable."

    async with unchanged(sessions):
        new_way = {"channel": "restock", "override_reason": "Looks fine to me"}
        refused = await client.post(f"{base}/lines/1/disposition", json=new_way)
        assert why in assert_problem(refused, 422)["detail"]
        old_way = {"lines": [{"line_id": "1", "disposition": "restock", "reason": "Looks fine"}]}
        refused = await client.post(f"{base}/disposition", json=old_way)
        assert why in assert_problem(refused, 422)["detail"]


async def test_the_old_inspect_and_disposition_write_the_warehouse_records(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number = await _approved(client)
    await act(client, number, "receive", {"lines": [{"line_id": "1", "quantity": 2}]})
    await act(client, number, "inspect", {"lines": [{"line_id": "1", "grade": "good"}]})
    await act(
        client, number, "disposition", {"lines": [{"line_id": "1", "disposition": "liquidate"}]}
    )

    async with sessions() as session:
        inspected = (await session.execute(text("SELECT checklist, grade FROM inspections"))).all()
        routed = (
            await session.execute(
                text("SELECT channel, recommended, override_reason FROM dispositions")
            )
        ).all()
    assert [tuple(row) for row in inspected] == [(None, "good")]
    assert [tuple(row) for row in routed] == [("liquidate", "open_box", "set through the API")]


async def test_a_reason_given_to_the_old_disposition_is_kept(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number = await _approved(client)
    await act(client, number, "receive", {"lines": [{"line_id": "1", "quantity": 2}]})
    await act(client, number, "inspect", {"lines": [{"line_id": "1", "grade": "good"}]})
    body = {"lines": [{"line_id": "1", "disposition": "donate", "reason": "Winter drive"}]}

    await act(client, number, "disposition", body)

    async with sessions() as session:
        reason = await session.scalar(text("SELECT override_reason FROM dispositions"))
        on_manifest = await session.scalar(text("SELECT sum(quantity) FROM manifest_items"))
    assert (reason, on_manifest) == ("Winter drive", 2)
    ledger = (await client.get("/api/v1/inventory/movements")).json()
    assert ledger["items"] == []


async def test_refused_requests_are_problems_that_change_nothing(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number = await _approved(client)
    base = f"/api/v1/returns/{number}"
    before = await _warehouse_rows(sessions)
    async with unchanged(sessions):
        assert_problem(
            await client.post("/api/v1/returns/RMA-NOPE/receipts", json={"weight_grams": 5}), 404
        )
        assert_problem(await client.get("/api/v1/returns/RMA-NOPE/receipts"), 404)
        assert_problem(await client.get(f"{base}/lines/9/checklist"), 404)
        assert_problem(
            await client.post(f"{base}/lines/9/inspection", json={"answers": TEE_AS_NEW}), 404
        )
        assert_problem(
            await client.post("/api/v1/receiving-flags/12345/resolve", json={"resolution": "x"}),
            404,
        )
        over = {"counts": [{"line_id": "1", "quantity": 3}]}
        assert_problem(await client.post(f"{base}/receipts", json=over), 422)
        assert_problem(await client.post(f"{base}/receipts", json={}), 422)
        assert_problem(await client.post(f"{base}/receipts", json={"weight_grams": -1}), 422)
        # Not received yet: nothing to inspect, grade or route.
        assert_problem(
            await client.post(f"{base}/lines/1/inspection", json={"answers": TEE_AS_NEW}), 409
        )
        assert_problem(await client.get(f"{base}/lines/1/recommendation"), 409)
        assert_problem(
            await client.post(
                f"{base}/receipts",
                content=b'{"counts": [',
                headers={"Content-Type": "application/json"},
            ),
            400,
            "malformed-json",
        )
    assert await _warehouse_rows(sessions) == before


async def test_bad_grades_answers_and_unreasoned_overrides_are_refused(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number = await _approved(client)
    base = f"/api/v1/returns/{number}"
    await _post(client, f"{base}/receipts", {"counts": [{"line_id": "1", "quantity": 2}]})
    before = await _warehouse_rows(sessions)
    async with unchanged(sessions):
        bad_grade = {"answers": TEE_AS_NEW, "grade": "shiny"}
        assert_problem(await client.post(f"{base}/lines/1/inspection", json=bad_grade), 422)
        bad_answer = {"answers": {**TEE_AS_NEW, "signs_of_wear": "some"}}
        assert_problem(await client.post(f"{base}/lines/1/inspection", json=bad_answer), 422)
        unreasoned = {"answers": TEE_AS_NEW, "grade": "good"}
        assert_problem(await client.post(f"{base}/lines/1/inspection", json=unreasoned), 422)
    assert await _warehouse_rows(sessions) == before

    await _post(client, f"{base}/lines/1/inspection", {"answers": TEE_AS_NEW})
    again = await client.post(f"{base}/lines/1/inspection", json={"answers": TEE_AS_NEW})
    assert_problem(again, 409, "invalid-transition")
    moved = await client.post(f"{base}/lines/1/disposition", json={"channel": "donate"})
    assert_problem(moved, 422)
    assert_problem(await client.post(f"{base}/lines/1/disposition", json={"channel": "x"}), 422)


async def test_a_replayed_parcel_is_received_once(client: httpx.AsyncClient) -> None:
    number = await _approved(client)
    body = {"counts": [{"line_id": "1", "quantity": 1}], "last_parcel": False}
    headers = {"Idempotency-Key": "parcel-1"}

    first = await client.post(f"/api/v1/returns/{number}/receipts", json=body, headers=headers)
    second = await client.post(f"/api/v1/returns/{number}/receipts", json=body, headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert first.json() == second.json()
    receipts = (await client.get(f"/api/v1/returns/{number}/receipts")).json()["items"]
    assert len(receipts) == 1


@pytest.mark.parametrize(
    ("scopes", "allowed"),
    [
        ([Scope.WAREHOUSE_READ], "reads"),
        ([Scope.RETURNS_READ, Scope.RETURNS_WRITE], "nothing"),
    ],
    ids=["read only", "returns scopes only"],
)
async def test_a_key_needs_the_warehouse_scopes(
    live_server: LiveServer,
    client: httpx.AsyncClient,
    sessions: Sessions,
    scopes: list[Scope],
    allowed: str,
) -> None:
    number = await _approved(client)
    key = await seed_api_key(sessions, [scope.value for scope in scopes])
    async with api_client(live_server.url, key.token) as http, unchanged(sessions):
        read = await http.get("/api/v1/inventory/stock")
        if allowed == "reads":
            assert read.status_code == 200
        else:
            assert assert_problem(read, 403, "forbidden")["scope"] == "warehouse:read"
        write = await http.post(f"/api/v1/returns/{number}/receipts", json={"weight_grams": 50})
        assert assert_problem(write, 403, "forbidden")["scope"] == "warehouse:write"
