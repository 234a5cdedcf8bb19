"""The warehouse pages over HTTP, on both databases: stock and its ledger, refurbishment work
orders, end-of-life manifests and the day's batch; each refusal leaves the database as it was."""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any

import httpx
import pytest

from reclaim.returns.states import Disposition, Grade
from reclaim.users.roles import Role
from reclaim.warehouse import batch_service
from reclaim.warehouse.batch import plan_batch
from tests.web.conftest import LiveServer
from tests.web.console_support import Console, signed_in, words
from tests.web.station_support import (
    PHONE,
    TEE,
    Sessions,
    arriving,
    graded,
    one,
    received,
    routed,
    rows,
    warehouse_unchanged,
)


@pytest.fixture
async def admin(live_server: LiveServer, sessions: Sessions) -> Console:  # type: ignore[misc]
    async with signed_in(live_server.url, sessions, Role.ADMIN) as console:
        yield console


async def _inspected(
    client: httpx.AsyncClient, sessions: Sessions, order_id: str, grades: dict[str, Grade | None]
) -> str:
    """A return whose lines (line id -> grade; None: as new) arrived and are graded."""
    number, _ = await arriving(client, order_id, lines=dict.fromkeys(grades, 1))
    await received(sessions, number, dict.fromkeys(grades, 1))
    for ref, grade in grades.items():
        await graded(sessions, number, ref, grade)
    return number


def _location(answer: httpx.Response) -> str:
    assert answer.status_code == 303, words(answer)
    return answer.headers["location"]


# --- inventory -----------------------------------------------------------------------------------


async def test_inventory_shows_stock_and_the_ledger_filtered_by_sku(
    client: httpx.AsyncClient, admin: Console, sessions: Sessions
) -> None:
    number = await _inspected(client, sessions, "1001", {TEE: None})
    await routed(sessions, number, TEE)
    page = await admin.get("/console/inventory")
    assert page.status_code == 200
    stock = re.search(r'id="stock-h".*?</section>', page.text, re.S)
    assert stock and "TEE-M" in stock.group(0) and "STOCK-A" in stock.group(0)
    said = words(page)
    assert "TEE-M new STOCK-A 1" in said
    assert "+1 restock" in said

    page = await admin.get("/console/inventory", params={"sku": "TEE-M"})
    assert "On hand: TEE-M" in words(page) and "Show every SKU" in words(page)
    page = await admin.get("/console/inventory", params={"sku": "NOPE"})
    assert page.status_code == 200
    assert "Nothing in stock for NOPE." in words(page) and "No movements for NOPE yet." in words(
        page
    )


# --- refurbishment work orders -------------------------------------------------------------------


async def _work_order(client: httpx.AsyncClient, sessions: Sessions) -> str:
    number = await _inspected(client, sessions, "1001", {PHONE: Grade.GOOD})
    await routed(sessions, number, PHONE, Disposition.REFURBISH)
    found: str = await one(sessions, "SELECT number FROM refurb_work_orders")
    return found


async def test_a_work_order_comes_back_regraded_into_stock(
    client: httpx.AsyncClient, admin: Console, sessions: Sessions
) -> None:
    order = await _work_order(client, sessions)
    page = await admin.get("/console/work-orders")
    assert page.status_code == 200
    said = words(page)
    assert order in said and "Phone X" in said and "Back from the partner" in said
    page = await admin.get("/console/work-orders", params={"status": "returned"})
    assert "No work orders returned." in words(page)

    answer = await admin.post(
        f"/console/work-orders/{order}/receive-back", {"grade": "like_new", "cost": "12.50"}
    )
    assert _location(answer) == "/console/work-orders"
    page = await admin.get("/console/work-orders")
    assert f"{order} is back as like new: its units are in stock." in words(page)
    assert await one(sessions, "SELECT status, grade_out, cost_minor FROM refurb_work_orders") == (
        "returned",
        "like_new",
        1250,
    )
    assert await rows(sessions, "SELECT kind, condition FROM inventory_movements") == [
        ("refurbished", "like_new")
    ]


@pytest.mark.parametrize(
    ("path", "form", "status", "message"),
    [
        ("receive-back", {"cost": "1.00"}, 422, "Choose the grade the units came back in."),
        ("receive-back", {"grade": "good", "cost": "abc"}, 422, "'abc' is not an amount."),
        ("receive-back", {"grade": "good", "cost": "1.234"}, 422, "more decimals than USD"),
        ("receive-back", {"grade": "good", "cost": "-5"}, 422, "non-negative"),
        ("scrap", {"cost": "3.00"}, 422, "Say why the units are scrapped"),
    ],
)
async def test_a_work_order_form_that_doesnt_add_up_changes_nothing(
    path: str,
    form: dict[str, str],
    status: int,
    message: str,
    client: httpx.AsyncClient,
    admin: Console,
    sessions: Sessions,
) -> None:
    order = await _work_order(client, sessions)
    async with warehouse_unchanged(sessions):
        page = await admin.post(f"/console/work-orders/{order}/{path}", form)
    assert page.status_code == status
    assert message in words(page)
    assert f'id="wo-{order}-error"' in page.text  # next to that work order's forms


async def test_a_scrapped_work_order_goes_for_recycling_and_closes_once(
    client: httpx.AsyncClient, admin: Console, sessions: Sessions
) -> None:
    order = await _work_order(client, sessions)
    answer = await admin.post(
        f"/console/work-orders/{order}/scrap", {"reason": "Board is dead", "cost": "4"}
    )
    assert _location(answer) == "/console/work-orders"
    assert await one(sessions, "SELECT status, cost_minor, note FROM refurb_work_orders") == (
        "scrapped",
        400,
        "Board is dead",
    )
    assert await one(sessions, "SELECT kind FROM manifests") == "recycle"
    async with warehouse_unchanged(sessions):
        page = await admin.post(
            f"/console/work-orders/{order}/receive-back", {"grade": "good", "cost": "1"}
        )
    assert page.status_code == 409
    page = await admin.get("/console/work-orders", params={"status": "scrapped"})
    assert order in words(page) and "Back from the partner" not in words(page)


async def test_an_unknown_work_order_is_not_found(admin: Console, sessions: Sessions) -> None:
    async with warehouse_unchanged(sessions):
        page = await admin.post("/console/work-orders/WO-NOPE/scrap", {"reason": "x"})
    assert page.status_code == 404
    assert "Nothing was changed No work order 'WO-NOPE'." in words(page)


# --- manifests -----------------------------------------------------------------------------------


async def _recycled(client: httpx.AsyncClient, sessions: Sessions) -> str:
    number = await _inspected(client, sessions, "1001", {TEE: None})
    await routed(sessions, number, TEE, Disposition.RECYCLE)
    found: str = await one(sessions, "SELECT number FROM manifests")
    return found


async def test_a_manifest_shows_what_it_holds_and_ships_once(
    client: httpx.AsyncClient, admin: Console, sessions: Sessions
) -> None:
    manifest = await _recycled(client, sessions)
    made = await client.put(
        "/api/v1/facilities/REC-1",
        json={"code": "REC-1", "name": "Green Recycling", "kind": "recycler", "address": "1 Way"},
    )
    assert made.status_code in (200, 201), made.text

    page = await admin.get("/console/manifests")
    said = words(page)
    assert manifest in said and "recycle open 1 1 0.2 kg" in said
    page = await admin.get(f"/console/manifests/{manifest}")
    said = words(page)
    assert "1 unit on 1 line" in said and "0.2 kg (200 g)" in said and "TEE-M" in said
    assert "Green Recycling (REC-1, recycler)" in said

    async with warehouse_unchanged(sessions):
        page = await admin.post(f"/console/manifests/{manifest}/ship", {"partner": "NOPE"})
    assert page.status_code == 422 and "No facility 'NOPE' to ship to." in words(page)

    answer = await admin.post(f"/console/manifests/{manifest}/ship", {"partner": "REC-1"})
    assert _location(answer) == f"/console/manifests/{manifest}"
    page = await admin.get(_location(answer))
    assert f"Shipped {manifest}: nothing more is added to it." in words(page)
    assert "Ship it" not in words(page)
    assert await one(sessions, "SELECT status FROM manifests") == "shipped"

    async with warehouse_unchanged(sessions):
        page = await admin.post(f"/console/manifests/{manifest}/ship", {})
    assert page.status_code == 409 and "was already shipped" in words(page)
    page = await admin.get("/console/manifests", params={"status": "open"})
    assert "No manifests open yet." in words(page)


async def test_an_unknown_manifest_is_not_found(admin: Console) -> None:
    page = await admin.get("/console/manifests/MF-NOPE")
    assert page.status_code == 404


# --- the batch -----------------------------------------------------------------------------------


async def test_the_batch_plans_under_capacity_and_applies_the_plan(
    client: httpx.AsyncClient, admin: Console, sessions: Sessions
) -> None:
    first = await _inspected(client, sessions, "1001", {TEE: None, PHONE: Grade.GOOD})
    second = await _inspected(client, sessions, "1002", {PHONE: Grade.GOOD})
    page = await admin.get("/console/batch", params={"refurbish": "1", "open_box": ""})
    assert page.status_code == 200
    said = words(page)
    assert "Each unit on its own" in said and "The plan" in said and "Gain" in said
    assert said.count("Phone X") == 2 and "Tee (M)" in said
    assert "Apply: route 3 lines" in said
    assert re.search(r'<input type="hidden" name="refurbish" value="1">', page.text)

    async with warehouse_unchanged(sessions):
        page = await admin.get("/console/batch", params={"refurbish": "lots"})
    assert page.status_code == 422 and "Slots must be a whole number" in words(page)

    answer = await admin.post("/console/batch/apply", {"refurbish": "1", "open_box": ""})
    assert _location(answer) == "/console/batch?refurbish=1&open_box="
    page = await admin.get(_location(answer))
    assert re.search(r"Batch \S+: routed 3 lines, expected to net", words(page))
    assert "Nothing is waiting for a disposition." in words(page)
    batches = await rows(sessions, "SELECT DISTINCT batch FROM dispositions")
    assert len(batches) == 1 and batches[0][0]
    refurbished = await rows(
        sessions, "SELECT count(*) FROM dispositions WHERE channel = 'refurbish'"
    )
    assert refurbished[0][0] <= 1  # the capacity held
    for number in (first, second):
        assert await one(sessions, "SELECT status FROM returns WHERE number = :n", n=number) == (
            "inspected"
        )


async def test_applying_routes_what_is_still_as_planned_and_says_what_changed(
    client: httpx.AsyncClient,
    admin: Console,
    sessions: Sessions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    taken = await _inspected(client, sessions, "1001", {PHONE: Grade.GOOD})
    await _inspected(client, sessions, "1002", {TEE: None})
    solving, finish = threading.Event(), threading.Event()

    def slow_plan(*args: Any) -> Any:
        solving.set()
        finish.wait(timeout=20)
        return plan_batch(*args)

    monkeypatch.setattr(batch_service, "plan_batch", slow_plan)
    applying = asyncio.create_task(admin.post("/console/batch/apply", {"refurbish": ""}))
    assert await asyncio.to_thread(solving.wait, 20)
    # Routed at the station while the batch is being planned: no lock holds it up.
    await asyncio.wait_for(routed(sessions, taken, PHONE, Disposition.RECYCLE), 10)
    finish.set()
    page = await admin.get(_location(await applying))

    said = words(page)
    assert re.search(r"Batch \S+: routed 1 line, expected to net", said), said
    assert "1 planned line changed meanwhile (routed, regraded or held by a flag)" in said
    assert await rows(sessions, "SELECT channel, batch IS NULL FROM dispositions ORDER BY id") == [
        ("recycle", True),
        ("restock", False),
    ]


@pytest.mark.parametrize("server_overrides", [{"batch_max_lines": 1}])
async def test_more_lines_than_one_batch_plans_are_refused(
    client: httpx.AsyncClient, admin: Console, sessions: Sessions
) -> None:
    await _inspected(client, sessions, "1001", {PHONE: Grade.GOOD, TEE: None})

    async with warehouse_unchanged(sessions):
        page = await admin.get("/console/batch")
        applied = await admin.post("/console/batch/apply", {"refurbish": ""})

    for answer in (page, applied):
        assert answer.status_code == 422
        assert "A batch plans at most 1 line at once, and more are waiting" in words(answer)


async def test_applying_with_nothing_pending_changes_nothing(
    admin: Console, sessions: Sessions
) -> None:
    async with warehouse_unchanged(sessions):
        answer = await admin.post("/console/batch/apply", {"refurbish": "2"})
        assert answer.status_code == 303
        page = await admin.get(_location(answer))
        assert "Nothing was waiting for a disposition; nothing changed." in words(page)
        page = await admin.post("/console/batch/apply", {"open_box": "-1"})
        assert page.status_code == 422


@pytest.mark.parametrize(
    "path",
    [
        "/console/work-orders/{order}/receive-back",
        "/console/work-orders/{order}/scrap",
        "/console/manifests/{manifest}/ship",
        "/console/batch/apply",
    ],
)
async def test_a_warehouse_form_without_its_csrf_token_is_refused(
    path: str, client: httpx.AsyncClient, admin: Console, sessions: Sessions
) -> None:
    order = await _work_order(client, sessions)
    number = await _inspected(client, sessions, "1002", {TEE: None})
    await routed(sessions, number, TEE, Disposition.RECYCLE)
    manifest = await one(sessions, "SELECT number FROM manifests WHERE kind = 'recycle'")
    form = {"grade": "good", "cost": "1", "reason": "x"}
    async with warehouse_unchanged(sessions):
        for token in ("", "forged"):
            page = await admin.post(path.format(order=order, manifest=manifest), form, csrf=token)
            assert page.status_code == 403 and "This form has expired" in words(page)
