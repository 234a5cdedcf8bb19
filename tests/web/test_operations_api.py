"""The warehouse back office over HTTP: work orders, manifests, the disposition batch and the
bin tag; every refusal a problem document that changed nothing."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pypdfium2
import pytest
import zxingcpp
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.returns.states import Disposition, Grade
from reclaim.users.apikeys import Scope
from reclaim.warehouse import batch_service
from reclaim.warehouse.batch import plan_batch
from tests.factories import order_payload, seed_api_key
from tests.integration.operations_support import (
    PRODUCTS,
    facility,
    graded_return,
    order_line,
    route,
)
from tests.web.conftest import LiveServer
from tests.web.support import act, api_client, assert_problem, count, unchanged

Sessions = async_sessionmaker[AsyncSession]
API = "/api/v1"
# What the back office writes, beyond the tables the shared snapshot watches.
OPERATIONS_TABLES = (
    "dispositions",
    "inventory_movements",
    "refurb_work_orders",
    "manifests",
    "manifest_items",
)


async def counts(sessions: Sessions) -> dict[str, int]:
    return {table: await count(sessions, table) for table in OPERATIONS_TABLES}


async def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def _work_order(sessions: Sessions, grade: Grade = Grade.GOOD, quantity: int = 2) -> str:
    number = await graded_return(sessions, "5001", [("PHONE", quantity, grade)])
    await route(sessions, number, "1", Disposition.REFURBISH)
    async with sessions() as session:
        return str(await session.scalar(text("SELECT number FROM refurb_work_orders")))


async def _open_manifest(sessions: Sessions, kind: Disposition = Disposition.RECYCLE) -> str:
    number = await graded_return(sessions, "5002", [("MUG", 3, Grade.UNSELLABLE)])
    await route(sessions, number, "1", kind)
    async with sessions() as session:
        return str(await session.scalar(text("SELECT number FROM manifests")))


def _barcodes(pdf: bytes) -> list[str]:
    [page] = pypdfium2.PdfDocument(pdf)
    return [found.text for found in zxingcpp.read_barcodes(page.render(scale=300 / 72).to_pil())]


async def test_a_refurbishment_round_trip_through_the_api(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await facility(sessions, "FIX-1", "refurbisher")
    order = order_payload("5001", lines=[order_line("1", "PHONE", 2)])
    await _ok(await client.post(f"{API}/orders", json=order), 201)
    created = await client.post(
        f"{API}/returns",
        json={
            "order_id": "5001",
            "lines": [{"line_id": "1", "quantity": 2, "reason": "defective"}],
        },
    )
    number = (await _ok(created, 201))["number"]
    await act(client, number, "approve")
    await act(client, number, "receive", {"lines": [{"line_id": "1", "quantity": 2}]})
    await act(client, number, "inspect", {"lines": [{"line_id": "1", "grade": "good"}]})
    routed = await client.post(
        f"{API}/returns/{number}/lines/1/disposition",
        json={"channel": "refurbish", "override_reason": "partner has slots"},
    )
    await _ok(routed, 201)

    listed = await _ok(await client.get(f"{API}/work-orders", params={"status": "sent"}))
    [sent] = listed["items"]
    assert (sent["return_number"], sent["line_id"], sent["sku"], sent["partner"]) == (
        number,
        "1",
        "PHONE",
        "FIX-1",
    )
    assert (sent["status"], sent["grade_in"], sent["quantity"]) == ("sent", "good", 2)
    shown = await _ok(await client.get(f"{API}/work-orders/{sent['number'].lower()}"))
    assert shown == sent

    back = await client.post(
        f"{API}/work-orders/{sent['number']}/receive",
        json={"grade": "like_new", "cost_minor": 3000, "note": "new screen"},
    )
    body = await _ok(back)
    assert (body["status"], body["grade_out"], body["cost_minor"]) == ("returned", "like_new", 3000)
    assert body["recovery_minor"] == 2 * 36000 and body["closed_at"] is not None
    stock = await _ok(await client.get(f"{API}/inventory/movements", params={"sku": "PHONE"}))
    assert [(m["kind"], m["condition"], m["quantity"]) for m in stock["items"]] == [
        ("refurbished", "like_new", 2)
    ]
    assert (await _ok(await client.get(f"{API}/work-orders", params={"status": "sent"}))) == {
        "items": []
    }


async def test_a_work_order_closes_once_over_the_api(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number = await _work_order(sessions)
    scrapped = await client.post(
        f"{API}/work-orders/{number}/scrap", json={"cost_minor": 900, "reason": "board dead"}
    )
    body = await _ok(scrapped)
    assert (body["status"], body["recovery_minor"], body["note"]) == ("scrapped", 0, "board dead")
    before = await counts(sessions)

    async with unchanged(sessions):
        again = await client.post(
            f"{API}/work-orders/{number}/receive", json={"grade": "good", "cost_minor": 0}
        )
        twice = await client.post(f"{API}/work-orders/{number}/scrap", json={"reason": "again"})

    assert_problem(again, 409, "invalid-transition")
    assert_problem(twice, 409, "invalid-transition")
    assert await counts(sessions) == before
    manifests = await _ok(await client.get(f"{API}/manifests", params={"kind": "recycle"}))
    assert [(m["units"], m["weight_grams"]) for m in manifests["items"]] == [(2, 800)]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("receive", {"grade": "shiny", "cost_minor": 0}),
        ("receive", {"grade": "good", "cost_minor": -1}),
        ("receive", {"grade": "good", "cost_minor": 12.5}),
        ("receive", {"grade": "good", "cost_minor": "100"}),
        ("receive", {"grade": "good"}),
        ("receive", {"grade": "good", "cost_minor": 0, "extra": True}),
        ("scrap", {"cost_minor": 0}),
        ("scrap", {"reason": ""}),
        ("scrap", {"reason": "x" * 2001}),
        ("scrap", {"reason": "   "}),
    ],
)
async def test_bad_closing_requests_are_refused_and_change_nothing(
    client: httpx.AsyncClient, sessions: Sessions, path: str, body: dict[str, Any]
) -> None:
    number = await _work_order(sessions)
    before = await counts(sessions)

    async with unchanged(sessions):
        response = await client.post(f"{API}/work-orders/{number}/{path}", json=body)

    assert_problem(response, 422)
    assert await counts(sessions) == before


@pytest.mark.parametrize("number", ["WO-00000000", "nothing", "WO-%00", "RMA-7KQ3X-M9P2D"])
async def test_an_unknown_work_order_or_manifest_is_not_found(
    client: httpx.AsyncClient, number: str
) -> None:
    for response in (
        await client.get(f"{API}/work-orders/{number}"),
        await client.post(f"{API}/work-orders/{number}/scrap", json={"reason": "gone"}),
        await client.get(f"{API}/manifests/{number}"),
        await client.post(f"{API}/manifests/{number}/ship"),
    ):
        assert_problem(response, 404, "not-found")


async def test_a_manifest_ships_once_to_a_partner_that_exists(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await facility(sessions, "GREEN", "recycler")
    number = await _open_manifest(sessions)
    detail = await _ok(await client.get(f"{API}/manifests/{number}"))
    assert (detail["kind"], detail["status"], detail["items"], detail["units"]) == (
        "recycle",
        "open",
        1,
        3,
    )
    assert [(line["sku"], line["line_id"], line["weight_grams"]) for line in detail["lines"]] == [
        ("MUG", "1", 1200)
    ]

    async with unchanged(sessions):
        unknown = await client.post(f"{API}/manifests/{number}/ship", json={"partner": "NOPE"})
        bad = await client.post(f"{API}/manifests/{number}/ship", json={"partner": "a b"})
    assert_problem(unknown, 422)
    assert_problem(bad, 422)

    shipped = await _ok(
        await client.post(f"{API}/manifests/{number}/ship", json={"partner": "GREEN"})
    )
    again = await client.post(f"{API}/manifests/{number}/ship")

    assert (shipped["status"], shipped["partner"]) == ("shipped", "GREEN")
    assert shipped["shipped_by"].startswith("api:") and shipped["shipped_at"]
    assert_problem(again, 409, "invalid-transition")
    listed = await _ok(await client.get(f"{API}/manifests", params={"status": "shipped"}))
    assert [m["number"] for m in listed["items"]] == [number]
    assert (await _ok(await client.get(f"{API}/manifests", params={"status": "open"}))) == {
        "items": []
    }


@pytest.mark.parametrize("query", [{"kind": "restock"}, {"status": "lost"}, {"kind": ""}])
async def test_manifest_filters_take_only_what_exists(
    client: httpx.AsyncClient, query: dict[str, str]
) -> None:
    assert_problem(await client.get(f"{API}/manifests", params=query), 422)
    assert_problem(await client.get(f"{API}/work-orders", params={"status": "lost"}), 422)


async def test_the_plan_shows_the_batch_against_the_rule_and_changes_nothing(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    cheap = {**PRODUCTS["PHONE"], "price_minor": 9000, "cost_minor": 6000}
    catalogue = {**PRODUCTS, "CHEAP-PHONE": cheap}
    first = await graded_return(
        sessions, "5001", [("CHEAP-PHONE", 1, Grade.ACCEPTABLE)], catalogue=catalogue
    )
    second = await graded_return(sessions, "5002", [("PHONE", 1, Grade.ACCEPTABLE)])
    before = await counts(sessions)

    async with unchanged(sessions):
        # A preview writes nothing, not even an idempotency key: one sent is ignored.
        response = await client.post(
            f"{API}/dispositions/plan",
            json={"capacity": {"refurbish": 1}},
            headers={"Idempotency-Key": "plan-1"},
        )

    plan = await _ok(response)
    assert plan["currency"] == "USD"
    assert plan["gain_minor"] == plan["total_net_minor"] - plan["baseline_net_minor"] > 0
    assert [
        (line["return_number"], line["line_id"], line["baseline"], line["channel"])
        for line in plan["lines"]
    ] == [
        (first, "1", "refurbish", plan["lines"][0]["channel"]),
        (second, "1", plan["lines"][1]["baseline"], "refurbish"),
    ]
    assert plan["lines"][0]["channel"] != "refurbish" and plan["explanation"]
    assert await counts(sessions) == before


async def test_applying_routes_the_batch_once_and_a_replay_gets_the_first_answer(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await graded_return(sessions, "5001", [("PHONE", 1, Grade.GOOD), ("TEE-M", 2, Grade.NEW)])
    await graded_return(sessions, "5002", [("MUG", 1, Grade.UNSELLABLE)])
    keyed = {"Idempotency-Key": "batch-1"}

    first = await client.post(
        f"{API}/dispositions/apply", json={"capacity": {"open_box": 0}}, headers=keyed
    )
    replay = await client.post(
        f"{API}/dispositions/apply", json={"capacity": {"open_box": 0}}, headers=keyed
    )
    fresh = await client.post(f"{API}/dispositions/apply")

    batch = await _ok(first)
    assert batch["batch"].startswith("B-") and len(batch["lines"]) == 3
    assert (replay.status_code, replay.content) == (200, first.content)
    assert replay.headers["idempotent-replayed"] == "true"
    assert (await _ok(fresh))["batch"] is None and fresh.json()["lines"] == []
    assert await count(sessions, "dispositions") == 3


async def test_applying_solves_before_the_write_transaction_and_skips_what_changed(
    client: httpx.AsyncClient, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = await graded_return(sessions, "5001", [("PHONE", 1, Grade.GOOD)])
    await graded_return(sessions, "5002", [("TEE-M", 2, Grade.NEW)])
    solving, finish = threading.Event(), threading.Event()

    def slow_plan(*args: Any) -> Any:
        solving.set()
        finish.wait(timeout=20)
        return plan_batch(*args)

    monkeypatch.setattr(batch_service, "plan_batch", slow_plan)
    applying = asyncio.create_task(
        client.post(f"{API}/dispositions/apply", headers={"Idempotency-Key": "slow-batch"})
    )
    assert await asyncio.to_thread(solving.wait, 20)

    # While the batch solves, the server answers, and a line is routed by hand at once.
    assert (await client.get(f"{API}/health", timeout=5)).status_code == 200
    await asyncio.wait_for(route(sessions, taken, "1", Disposition.DISPOSE), 10)
    finish.set()
    batch = await _ok(await applying)

    assert [(line["return_number"], line["line_id"]) for line in batch["skipped"]] == [(taken, "1")]
    assert [line["sku"] for line in batch["lines"]] == ["TEE-M"] and batch["batch"]
    assert await count(sessions, "dispositions") == 2


@pytest.mark.parametrize("server_overrides", [{"batch_max_lines": 2}])
async def test_more_lines_than_one_batch_plans_are_refused(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await graded_return(sessions, "5001", [("PHONE", 1, Grade.GOOD), ("TEE-M", 2, Grade.NEW)])
    await graded_return(sessions, "5002", [("MUG", 1, Grade.NEW)])

    async with unchanged(sessions):
        planned = await client.post(f"{API}/dispositions/plan")
        applied = await client.post(
            f"{API}/dispositions/apply", headers={"Idempotency-Key": "too-big"}
        )
        one_currency = await client.post(f"{API}/dispositions/plan", json={"currency": "EUR"})

    for refused in (planned, applied):
        assert "plans at most 2 lines at once" in assert_problem(refused, 422)["detail"]
    assert (await _ok(one_currency))["lines"] == []
    assert await count(sessions, "dispositions") == 0


@pytest.mark.parametrize(
    "body",
    [
        {"capacity": {"refurbish": -1}},
        {"capacity": {"teleport": 1}},
        {"capacity": {"refurbish": 1.5}},
        {"capacity": {"refurbish": "1"}},
        {"capacity": []},
        {"currency": "dollars"},
        {"limits": {}},
    ],
)
async def test_bad_capacity_is_refused(
    client: httpx.AsyncClient, sessions: Sessions, body: dict[str, Any]
) -> None:
    await graded_return(sessions, "5001", [("TEE-M", 1, Grade.NEW)])

    async with unchanged(sessions):
        planned = await client.post(f"{API}/dispositions/plan", json=body)
        applied = await client.post(f"{API}/dispositions/apply", json=body)

    assert_problem(planned, 422)
    assert_problem(applied, 422)
    assert await count(sessions, "dispositions") == 0


async def test_mixed_currencies_are_planned_one_currency_at_a_time(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    await graded_return(sessions, "5001", [("TEE-M", 1, Grade.NEW)])
    euro = {"KETTLE": {**PRODUCTS["MUG"], "name": "Kettle"}}
    await graded_return(
        sessions, "5002", [("KETTLE", 1, Grade.NEW)], catalogue=euro, currency="EUR"
    )

    mixed = await client.post(f"{API}/dispositions/plan")
    euros = await client.post(f"{API}/dispositions/plan", json={"currency": "EUR"})

    assert_problem(mixed, 422)
    assert [line["sku"] for line in (await _ok(euros))["lines"]] == ["KETTLE"]


async def test_the_bin_tag_of_a_routed_line_scans_back_to_it(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number = await graded_return(
        sessions, "5001", [("PHONE", 1, Grade.GOOD), ("MUG", 1, Grade.GOOD)]
    )
    await route(sessions, number, "1", Disposition.REFURBISH)

    response = await client.get(f"{API}/returns/{number.lower()}/lines/1/bin-tag.pdf")
    waiting = await client.get(f"{API}/returns/{number}/lines/2/bin-tag.pdf")
    missing = await client.get(f"{API}/returns/{number}/lines/9/bin-tag.pdf")
    nothing = await client.get(f"{API}/returns/RMA-00000-00000/lines/1/bin-tag.pdf")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == (f'inline; filename="{number}-1-bin-tag.pdf"')
    assert response.headers["cache-control"] == "private, no-store"
    assert _barcodes(response.content) == [f"{number}/1"]
    assert_problem(waiting, 409)
    assert_problem(missing, 404)
    assert_problem(nothing, 404)


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("get", "/work-orders", Scope.WAREHOUSE_READ),
        ("get", "/work-orders/WO-00000000", Scope.WAREHOUSE_READ),
        ("post", "/work-orders/WO-00000000/receive", Scope.WAREHOUSE_WRITE),
        ("post", "/work-orders/WO-00000000/scrap", Scope.WAREHOUSE_WRITE),
        ("get", "/manifests", Scope.WAREHOUSE_READ),
        ("get", "/manifests/MF-00000000", Scope.WAREHOUSE_READ),
        ("post", "/manifests/MF-00000000/ship", Scope.WAREHOUSE_WRITE),
        ("post", "/dispositions/plan", Scope.WAREHOUSE_READ),
        ("post", "/dispositions/apply", Scope.WAREHOUSE_WRITE),
        ("get", "/returns/RMA-00000-00000/lines/1/bin-tag.pdf", Scope.WAREHOUSE_READ),
    ],
)
async def test_each_operation_needs_its_warehouse_scope(
    live_server: LiveServer, sessions: Sessions, method: str, path: str, scope: Scope
) -> None:
    without = await seed_api_key(sessions, [s.value for s in Scope if s != scope])
    with_it = await seed_api_key(sessions, [scope.value])

    async with api_client(live_server.url) as anonymous:
        assert_problem(await anonymous.request(method.upper(), f"{API}{path}"), 401)
    async with api_client(live_server.url, without.token) as lacking:
        assert_problem(await lacking.request(method.upper(), f"{API}{path}"), 403)
    async with api_client(live_server.url, with_it.token) as allowed:
        response = await allowed.request(method.upper(), f"{API}{path}")
        assert response.status_code not in (401, 403), response.text


async def test_the_operations_are_documented(client: httpx.AsyncClient) -> None:
    paths = (await _ok(await client.get("/openapi.json")))["paths"]

    assert set(paths[f"{API}/work-orders/{{number}}/receive"]) == {"post"}
    assert set(paths[f"{API}/manifests/{{number}}"]) == {"get"}
    assert set(paths[f"{API}/dispositions/apply"]) == {"post"}
    tag = paths[f"{API}/returns/{{number}}/lines/{{line_id}}/bin-tag.pdf"]["get"]
    assert "application/pdf" in tag["responses"]["200"]["content"]
