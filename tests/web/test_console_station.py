"""The inspection station over HTTP, on both databases: scan, receive, inspect, route, print
the bin tag and complete; and every refusal leaves the database as it was."""

from __future__ import annotations

import re

import httpx
import pytest

from reclaim.returns.states import Disposition, Grade
from reclaim.users.roles import Role
from tests.web.conftest import LiveServer
from tests.web.console_support import Console, signed_in, words
from tests.web.portal_support import png
from tests.web.station_support import (
    AS_NEW,
    PHONE,
    TEE,
    Sessions,
    arriving,
    focused,
    graded,
    one,
    received,
    routed,
    rows,
    warehouse_unchanged,
)

STATION = "/console/station"


@pytest.fixture
async def inspector(live_server: LiveServer, sessions: Sessions) -> Console:  # type: ignore[misc]
    async with signed_in(live_server.url, sessions, Role.INSPECTOR) as console:
        yield console


def _answers(ref: str, **changed: str) -> dict[str, str]:
    return {f"q-{key}": value for key, value in (AS_NEW[ref] | changed).items()}


def _location(answer: httpx.Response) -> str:
    assert answer.status_code == 303, words(answer)
    return answer.headers["location"]


async def _line(sessions: Sessions, number: str, ref: str) -> tuple[int, str | None, str | None]:
    found: tuple[int, str | None, str | None] = await one(
        sessions,
        "SELECT rl.received_quantity, rl.grade, rl.disposition FROM return_lines rl "
        "JOIN returns r ON r.id = rl.return_id JOIN order_lines ol ON ol.id = rl.order_line_id "
        "WHERE r.number = :number AND ol.line_ref = :ref",
        number=number,
        ref=ref,
    )
    return found


# --- scanning ------------------------------------------------------------------------------------


async def test_a_scan_of_the_tracking_number_rma_or_qr_opens_the_return(
    client: httpx.AsyncClient, inspector: Console
) -> None:
    number, tracking = await arriving(client)
    page = await inspector.get(STATION)
    assert page.status_code == 200
    assert focused(page) and 'id="scan-code"' in focused(page)[0]
    for scanned in (tracking, f" {tracking.lower()} ", number.lower().replace("-", " ")):
        answer = await inspector.get(STATION, params={"code": scanned})
        assert _location(answer) == f"{STATION}/{number}"


async def test_an_unknown_scan_says_so_and_waits_for_the_next(
    client: httpx.AsyncClient, inspector: Console
) -> None:
    await arriving(client)
    page = await inspector.get(STATION, params={"code": "RC000000000000"})
    assert page.status_code == 404
    assert "Nothing found for “RC000000000000”" in words(page)
    # The field is focused and empty: the next scan replaces nothing and appends to nothing.
    field = focused(page)
    assert len(field) == 1 and 'id="scan-code"' in field[0] and "value=" not in field[0]
    assert 'aria-invalid="true"' in field[0]


async def test_an_unknown_return_is_not_found(inspector: Console) -> None:
    page = await inspector.get(f"{STATION}/RMA-00000-00000")
    assert page.status_code == 404
    assert "No return" in words(page)


# --- receiving -----------------------------------------------------------------------------------


async def test_a_parcel_is_received_and_the_station_moves_on_to_inspection(
    client: httpx.AsyncClient, inspector: Console, sessions: Sessions
) -> None:
    number, _ = await arriving(client)
    page = await inspector.get(f"{STATION}/{number}")
    assert page.status_code == 200
    said = words(page)
    assert "Receive a parcel" in said and "Tee (M) (2 due)" in said
    assert re.search(r'name="qty-1"[^>]*value="2"', page.text)
    assert 'id="weight"' in focused(page)[0]

    answer = await inspector.post(
        f"{STATION}/{number}/receive", {"qty-1": "2", "weight": "450", "last_parcel": "yes"}
    )
    assert _location(answer) == f"{STATION}/{number}"
    page = await inspector.get(_location(answer))
    assert f"Received 2 units of {number}." in words(page)
    # Nothing was flagged, so the next thing is inspecting what came.
    assert "Sent to review" not in words(page)
    next_step = focused(page)
    assert len(next_step) == 1 and f"/lines/{TEE}/inspect" in next_step[0]
    assert "Receive a parcel" not in words(page)  # nothing is still due
    assert await _line(sessions, number, TEE) == (2, None, None)
    assert await one(sessions, "SELECT status FROM returns WHERE number = :n", n=number) == (
        "received"
    )
    assert await one(sessions, "SELECT weight_grams FROM receipts") == 450


async def test_a_short_last_parcel_with_a_stranger_in_it_is_sent_to_review(
    client: httpx.AsyncClient, inspector: Console, sessions: Sessions
) -> None:
    number, _ = await arriving(client)
    answer = await inspector.post(
        f"{STATION}/{number}/receive",
        {
            "qty-1": "1",
            "last_parcel": "yes",
            "unexpected": "yes",
            "unexpected-found": "SOCK-9",
            "unexpected-qty": "1",
        },
    )
    page = await inspector.get(_location(answer))
    said = words(page)
    assert "Sent to review: unexpected item: 1 × SOCK-9; Tee (M): 1 never arrived." in said
    flags = await rows(sessions, "SELECT kind, found, quantity FROM receiving_flags ORDER BY id")
    assert flags == [("unexpected_item", "SOCK-9", 1), ("missing_item", None, 1)]
    station = await inspector.get(f"{STATION}/{number}")
    assert "Sent to review" in words(station) and "Missing item" in words(station)


async def test_an_empty_box_is_recorded_and_sent_to_review(
    client: httpx.AsyncClient, inspector: Console, sessions: Sessions
) -> None:
    number, _ = await arriving(client)
    answer = await inspector.post(
        f"{STATION}/{number}/receive", {"qty-1": "0", "weight": "35", "last_parcel": "yes"}
    )
    page = await inspector.get(_location(answer))
    said = words(page)
    assert f"Recorded a parcel for {number}; nothing in it was received." in said
    assert "Sent to review: empty box (Nothing in it; it weighs 35 g.)" in said
    assert await _line(sessions, number, TEE) == (0, None, None)
    assert await rows(sessions, "SELECT kind FROM receiving_flags") == [("empty_box",)]


async def test_a_wrong_item_is_flagged_on_its_line_and_not_received_as_it(
    client: httpx.AsyncClient, inspector: Console, sessions: Sessions
) -> None:
    number, _ = await arriving(client)
    answer = await inspector.post(
        f"{STATION}/{number}/receive",
        {
            "qty-1": "1",
            "wrong-1": "yes",
            "wrong-found-1": "TEE-XL",
            "wrong-qty-1": "1",
            "last_parcel": "yes",
        },
    )
    page = await inspector.get(_location(answer))
    assert "wrong item instead of Tee (M): 1 × TEE-XL" in words(page)
    assert await _line(sessions, number, TEE) == (1, None, None)
    assert await rows(sessions, "SELECT kind FROM receiving_flags") == [("wrong_item",)]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"qty-1": "two"}, "Units of Tee (M) must be a whole number from 0 to 2; not 'two'."),
        ({"qty-1": "-1"}, "Units of Tee (M) must be a whole number"),
        ({"qty-1": "1", "weight": "1.5"}, "The parcel's weight in grams must be a whole number"),
        ({"qty-1": "1", "wrong-1": "yes"}, "Say what came instead of Tee (M)"),
        ({"qty-1": "0"}, "Count what the parcel holds, or weigh it"),
    ],
)
async def test_a_parcel_form_that_doesnt_add_up_changes_nothing(
    form: dict[str, str],
    message: str,
    client: httpx.AsyncClient,
    inspector: Console,
    sessions: Sessions,
) -> None:
    number, _ = await arriving(client)
    async with warehouse_unchanged(sessions):
        page = await inspector.post(f"{STATION}/{number}/receive", form)
    assert page.status_code == 422
    assert "Nothing was received" in words(page) and message in words(page)
    assert 'id="problem"' in focused(page)[0]


async def test_more_units_than_are_still_due_are_refused(
    client: httpx.AsyncClient, inspector: Console, sessions: Sessions
) -> None:
    number, _ = await arriving(client)
    await received(sessions, number, {TEE: 1})
    async with warehouse_unchanged(sessions):
        page = await inspector.post(
            f"{STATION}/{number}/receive", {"qty-1": "2", "last_parcel": "yes"}
        )
    assert page.status_code == 422
    assert "Line '1' expects 1 more; 2 were scanned." in words(page)
    assert re.search(r'name="qty-1"[^>]*value="2"', page.text)  # what was typed is kept


async def test_a_return_not_yet_approved_offers_no_receiving(
    client: httpx.AsyncClient, inspector: Console
) -> None:
    await arriving(client)
    created = await client.post(
        "/api/v1/returns",
        json={
            "order_id": "1001",
            "method": "prepaid_label",
            "lines": [
                {"line_id": PHONE, "quantity": 1, "reason": "defective", "resolution": "refund"}
            ],
        },
    )
    number = created.json()["number"]
    page = await inspector.get(f"{STATION}/{number}")
    assert "hasn't been approved yet" in words(page)
    assert "Receive a parcel" not in words(page)
    assert f'href="{STATION}"' in focused(page)[0]  # on to the next parcel


# --- inspecting ----------------------------------------------------------------------------------


async def test_the_checklist_suggests_a_grade_and_the_inspector_confirms_it(
    client: httpx.AsyncClient, inspector: Console, sessions: Sessions
) -> None:
    number, _ = await arriving(client)
    await received(sessions, number, {TEE: 2})
    where = f"{STATION}/{number}/lines/{TEE}/inspect"
    page = await inspector.get(where)
    said = words(page)
    assert "Clothing checklist" in said and "Are the tags still attached?" in said
    first = focused(page)
    assert len(first) == 1 and 'name="q-tags_attached"' in first[0]

    answers = _answers(TEE, tags_attached="no", original_packaging="no")
    async with warehouse_unchanged(sessions):
        page = await inspector.post(where, answers | {"step": "suggest"})
    assert page.status_code == 200
    said = words(page)
    assert "Suggested: very good — because" in said
    assert re.search(r'<option value="very_good" selected>Very good \(suggested\)', page.text)
    assert 'value="confirm"' in focused(page)[0]

    answer = await inspector.post(where, answers | {"step": "confirm", "grade": "very_good"})
    assert _location(answer) == f"{STATION}/{number}/lines/{TEE}/route"
    assert await _line(sessions, number, TEE) == (2, "very_good", None)
    found = await one(sessions, "SELECT checklist, suggested_grade, grade FROM inspections")
    assert found == ("apparel", "very_good", "very_good")


async def test_unanswered_questions_are_named_and_nothing_is_graded(
    client: httpx.AsyncClient, inspector: Console, sessions: Sessions
) -> None:
    number, _ = await arriving(client, lines={PHONE: 1})
    await received(sessions, number, {PHONE: 1})
    where = f"{STATION}/{number}/lines/{PHONE}/inspect"
    answers = _answers(PHONE)
    del answers["q-screen"]
    async with warehouse_unchanged(sessions):
        page = await inspector.post(where, answers | {"step": "confirm", "grade": "new"})
    assert page.status_code == 422
    assert "Answer “Screen”" in words(page)
    assert 'name="q-screen"' in focused(page)[0]  # the first unanswered question
    assert re.search(r'name="q-powers_on" value="yes" checked', page.text)  # answers kept


async def test_a_different_grade_needs_a_reason(
    client: httpx.AsyncClient, inspector: Console, sessions: Sessions
) -> None:
    number, _ = await arriving(client)
    await received(sessions, number, {TEE: 2})
    where = f"{STATION}/{number}/lines/{TEE}/inspect"
    confirm = _answers(TEE) | {"step": "confirm", "grade": "good"}
    async with warehouse_unchanged(sessions):
        page = await inspector.post(where, confirm)
    assert page.status_code == 422
    assert "Say why you grade it good: the checklist suggests new." in words(page)
    assert 'id="override_reason"' in focused(page)[0]

    answer = await inspector.post(where, confirm | {"override_reason": "Faded after washing"})
    assert answer.status_code == 303
    found = await one(sessions, "SELECT suggested_grade, grade, override_reason FROM inspections")
    assert found == ("new", "good", "Faded after washing")


async def test_a_serial_that_does_not_match_sends_the_phone_to_an_agent_not_to_routing(
    client: httpx.AsyncClient, inspector: Console, sessions: Sessions
) -> None:
    number, _ = await arriving(client, lines={PHONE: 1})
    await received(sessions, number, {PHONE: 1})
    swapped = _answers(PHONE, serial_matches="no") | {"step": "confirm", "grade": "unsellable"}

    answer = await inspector.post(f"{STATION}/{number}/lines/{PHONE}/inspect", swapped)

    assert _location(answer) == f"{STATION}/{number}"
    said = words(await inspector.get(f"{STATION}/{number}"))
    assert "Graded Phone X unsellable. Flagged for an agent; it can't be routed" in said
    assert await one(sessions, "SELECT kind, receipt_id FROM receiving_flags") == (
        "wrong_item",
        None,
    )
    async with warehouse_unchanged(sessions):
        refused = await inspector.post(f"{STATION}/{number}/lines/{PHONE}/route", {})
    assert refused.status_code == 409
    assert f"Resolve the flags first: wrong item for line {PHONE}: Serial number" in words(refused)


async def test_a_photo_is_attached_to_the_line(
    client: httpx.AsyncClient,
    inspector: Console,
    sessions: Sessions,
    live_server: LiveServer,
) -> None:
    number, _ = await arriving(client)
    await received(sessions, number, {TEE: 2})
    where = f"{STATION}/{number}/lines/{TEE}/photos"
    page = await inspector.get(f"{STATION}/{number}/lines/{TEE}/inspect")
    assert 'accept="image/*" capture="environment"' in page.text
    answer = await inspector.http.post(
        where, data={"csrf": inspector.csrf}, files={"photo": ("tee.png", png(4, 4), "image/png")}
    )
    assert _location(answer) == f"{STATION}/{number}/lines/{TEE}/inspect"
    assert await rows(sessions, "SELECT source, content_type FROM return_photos") == [
        ("inspection", "image/png")
    ]
    assert len(list((live_server.settings.files_dir).rglob("*.png"))) == 1

    async with warehouse_unchanged(sessions):
        page = await inspector.http.post(
            where,
            data={"csrf": inspector.csrf},
            files={"photo": ("notes.txt", b"not a photo", "text/plain")},
        )
    assert page.status_code == 422
    assert "isn't a photo we can use" in words(page)


# --- routing, the bin tag, completing ------------------------------------------------------------


async def test_the_recommendation_is_shown_with_every_channel_and_confirmed(
    client: httpx.AsyncClient, inspector: Console, sessions: Sessions
) -> None:
    number, _ = await arriving(client)
    await received(sessions, number, {TEE: 2})
    await graded(sessions, number, TEE)
    page = await inspector.get(f"{STATION}/{number}/lines/{TEE}/route")
    said = words(page)
    assert "Recommended: Restock" in said and "Goes to STOCK-A" in said
    assert re.search(r'<tr class="best">\s*<th scope="row">Restock <span class="tag">', page.text)
    for label in ("Open box", "Refurbish", "Liquidate", "Donate", "Recycle", "Dispose"):
        assert f'<th scope="row">{label}' in page.text
    assert "Send to Restock" in focused(page)[0] or "accesskey" in focused(page)[0]

    answer = await inspector.post(f"{STATION}/{number}/lines/{TEE}/route", {})
    tag = _location(answer)
    assert tag == f"{STATION}/{number}/lines/{TEE}/bin-tag"
    assert await _line(sessions, number, TEE) == (2, "new", "restock")
    assert await one(sessions, "SELECT sum(quantity) FROM inventory_movements") == 2

    page = await inspector.get(tag)
    said = words(page)
    assert "Routed to Restock: take it to STOCK-A." in said
    assert '<p class="tag-location" id="tag-location">STOCK-A</p>' in page.text
    assert "Complete the return" in focused(page)[0] or "autofocus" in focused(page)[0]
    pdf = await inspector.get(f"{tag}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"


async def test_an_override_needs_a_reason_and_then_goes_where_chosen(
    client: httpx.AsyncClient, inspector: Console, sessions: Sessions
) -> None:
    number, _ = await arriving(client)
    await received(sessions, number, {TEE: 2})
    await graded(sessions, number, TEE)
    where = f"{STATION}/{number}/lines/{TEE}/route"
    override = {"override": "yes", "channel": "donate"}
    async with warehouse_unchanged(sessions):
        page = await inspector.post(where, override)
        assert page.status_code == 422
        assert 'id="override-error"' in page.text
        page = await inspector.post(where, {"override": "yes", "override_reason": "why not"})
        assert page.status_code == 422 and "is not a channel" in words(page)
    answer = await inspector.post(where, override | {"override_reason": "Charity drive"})
    assert answer.status_code == 303
    found = await one(sessions, "SELECT channel, recommended, override_reason FROM dispositions")
    assert found == ("donate", "restock", "Charity drive")


async def test_the_last_routed_line_completes_the_return(
    client: httpx.AsyncClient, inspector: Console, sessions: Sessions
) -> None:
    number, _ = await arriving(client, lines={TEE: 2, PHONE: 1})
    await received(sessions, number, {TEE: 2, PHONE: 1})
    await graded(sessions, number, TEE)
    await graded(sessions, number, PHONE)
    await routed(sessions, number, TEE)
    page = await inspector.get(f"{STATION}/{number}")
    assert "Next: Route Phone X" in focused(page)[0] + words(page)
    async with warehouse_unchanged(sessions):
        page = await inspector.post(f"{STATION}/{number}/complete", {})
    assert page.status_code == 409
    assert "Every received line needs a disposition" in words(page)

    await routed(sessions, number, PHONE, Disposition.LIQUIDATE)
    page = await inspector.get(f"{STATION}/{number}")
    assert "Complete the return" in words(page)
    assert f'action="{STATION}/{number}/complete"' in page.text
    assert 'accesskey="n" autofocus' in focused(page)[0]
    answer = await inspector.post(f"{STATION}/{number}/complete", {})
    assert _location(answer) == STATION
    page = await inspector.get(STATION)
    assert f"Completed {number}. Scan the next parcel." in words(page)
    assert await one(sessions, "SELECT status FROM returns") == "completed"


async def test_a_line_graded_before_its_siblings_can_be_routed_already(
    client: httpx.AsyncClient, inspector: Console, sessions: Sessions
) -> None:
    number, _ = await arriving(client, lines={TEE: 2, PHONE: 1})
    await received(sessions, number, {TEE: 2, PHONE: 1})
    await graded(sessions, number, TEE, Grade.GOOD)
    page = await inspector.get(f"{STATION}/{number}/lines/{TEE}/route")
    assert "Recommended:" in words(page)
    station = await inspector.get(f"{STATION}/{number}")
    assert "Inspect Phone X" in words(station)


@pytest.mark.parametrize(
    "path",
    [
        "receive",
        "complete",
        f"lines/{TEE}/inspect",
        f"lines/{TEE}/route",
        f"lines/{TEE}/photos",
    ],
)
async def test_a_form_without_its_csrf_token_is_refused(
    path: str, client: httpx.AsyncClient, inspector: Console, sessions: Sessions
) -> None:
    number, _ = await arriving(client)
    await received(sessions, number, {TEE: 2})
    form = {"qty-1": "0", "step": "confirm", "grade": "new"} | _answers(TEE)
    async with warehouse_unchanged(sessions):
        for token in ("", "not the token"):
            page = await inspector.post(f"{STATION}/{number}/{path}", form, csrf=token)
            assert page.status_code == 403
            assert "This form has expired" in words(page)
