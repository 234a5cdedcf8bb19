"""A return shows what the policy decided, where it is handed over and when it is picked up."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.kit.clock import utcnow
from reclaim.logistics.rules import pickup_slots
from reclaim.simulation.facilities import demo_facilities
from tests.factories import MANUAL_POLICY, return_payload
from tests.web.support import act, assert_problem, post_order, post_return, unchanged

Sessions = async_sessionmaker[AsyncSession]
TEES = [
    {
        "line_id": "1",
        "sku": "TEE-M",
        "quantity": 2,
        "unit_price_minor": 2500,
        "product": {"name": "Tee (M)", "category": "apparel", "product_group": "TEE"},
    },
    {
        "line_id": "2",
        "sku": "TEE-L",
        "quantity": 1,
        "unit_price_minor": 2500,
        "product": {"name": "Tee (L)", "category": "apparel", "product_group": "TEE"},
    },
]


@pytest.fixture
async def facilities(client: httpx.AsyncClient) -> None:
    for facility in demo_facilities():
        response = await client.put(
            f"/api/v1/facilities/{facility.code}", json=facility.model_dump(mode="json")
        )
        assert response.status_code == 201, response.text


async def _everywhere(client: httpx.AsyncClient, number: str) -> list[dict[str, Any]]:
    """The return as each way of reading it shows it: by number, in the list, after a change."""
    by_number = await client.get(f"/api/v1/returns/{number}")
    assert by_number.status_code == 200, by_number.text
    listed = await client.get("/api/v1/returns", params={"order_id": by_number.json()["order_id"]})
    assert listed.status_code == 200, listed.text
    [in_list] = [item for item in listed.json()["items"] if item["number"] == number]
    changed = await act(client, number, "approve")
    return [by_number.json(), in_list, changed]


async def test_the_decision_and_the_line_details_are_shown(client: httpx.AsyncClient) -> None:
    await post_order(client, lines=TEES)
    payload = return_payload(reason="too_small", resolution="exchange")
    payload["lines"][0].update({"opened": True, "fit_size": "L", "exchange_sku": "TEE-L"})

    response = await client.post("/api/v1/returns", json=payload)

    assert response.status_code == 201, response.text
    created = response.json()
    assert created["policy_version"] == MANUAL_POLICY.version
    assert created["refund_timing"] == "after_inspection"
    decision = created["decision"]
    # The test server's policy approves nothing by itself: staff decide.
    assert (decision["outcome"], decision["returnless"]) == ("manual", False)
    assert decision["refund_timing"] == "after_inspection"
    assert decision["review_reasons"] == []
    codes = [note["code"] for note in decision["explanations"]]
    assert codes[0] == "window" and codes[-1] == "timing_after_inspection"
    assert all(note["text"] for note in decision["explanations"])
    quote = decision["quote"]
    assert quote["currency"] == "USD" and quote["paid_minor"] == 2500
    [quoted] = quote["lines"]
    assert (quoted["line_id"], quoted["resolution"]) == ("1", "exchange")
    assert quote["exchange_minor"] == quoted["amount_minor"]
    [line] = created["lines"]
    assert (line["opened"], line["fit_size"], line["exchange_sku"]) == (True, "L", "TEE-L")
    assert (created["facility"], created["pickup_start"], created["pickup_end"]) == (
        None,
        None,
        None,
    )

    for shown in await _everywhere(client, created["number"]):
        assert shown["decision"] == decision
        assert shown["policy_version"] == MANUAL_POLICY.version
        assert shown["lines"][0]["exchange_sku"] == "TEE-L"


@pytest.mark.usefixtures("facilities")
async def test_a_return_handed_in_at_a_facility_shows_its_code(client: httpx.AsyncClient) -> None:
    await post_order(client)

    created = await post_return(client, method="box_free_dropoff")
    payload = return_payload(method="locker")
    payload["facility"] = "LOCK-KINGSX"
    response = await client.post("/api/v1/returns", json=payload)

    assert created["facility"] is None  # choosing a place is optional
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["method"], body["facility"]) == ("locker", "LOCK-KINGSX")
    for shown in await _everywhere(client, body["number"]):
        assert shown["facility"] == "LOCK-KINGSX"


async def test_a_scheduled_pickup_shows_its_slot(client: httpx.AsyncClient) -> None:
    await post_order(client)
    # A slot a few working days out: still offered if the server's day has turned meanwhile.
    slots = pickup_slots(MANUAL_POLICY.policy.pickup, utcnow())
    slot = slots[len(slots) // 2]
    payload = return_payload(method="scheduled_pickup")
    payload["pickup_start"] = slot.start.isoformat()

    response = await client.post("/api/v1/returns", json=payload)

    assert response.status_code == 201, response.text
    for shown in [response.json(), *await _everywhere(client, response.json()["number"])]:
        assert datetime.fromisoformat(shown["pickup_start"]) == slot.start
        assert datetime.fromisoformat(shown["pickup_end"]) == slot.end
        assert shown["facility"] is None


def _with(method: str, **fields: Any) -> dict[str, Any]:
    return {**return_payload(method=method), **fields}


@pytest.mark.usefixtures("facilities")
@pytest.mark.parametrize(
    ("payload", "words"),
    [
        pytest.param(
            _with("locker", facility="DROP-SOHO"), "doesn't take returns by locker", id="wrong"
        ),
        pytest.param(
            _with("in_store", facility="WH-PARK-ROYAL"), "doesn't take returns", id="warehouse"
        ),
        pytest.param(_with("box_free_dropoff", facility="NOPE"), "no drop-off", id="unknown"),
        pytest.param(_with("prepaid_label", facility="DROP-SOHO"), "no drop-off place", id="label"),
        pytest.param(
            _with("scheduled_pickup", pickup_start="2020-01-06T09:00:00Z"),
            "pickup slot isn't offered",
            id="old-slot",
        ),
        pytest.param(
            _with("prepaid_label", pickup_start="2020-01-06T09:00:00Z"),
            "Only a scheduled pickup",
            id="slot-without-pickup",
        ),
    ],
)
async def test_a_place_or_slot_that_does_not_fit_is_refused_with_422(
    client: httpx.AsyncClient, sessions: Sessions, payload: dict[str, Any], words: str
) -> None:
    await post_order(client)

    async with unchanged(sessions):
        response = await client.post("/api/v1/returns", json=payload)
        problem = assert_problem(response, 422, "validation-failed")

    assert words in problem["detail"], problem
