"""The console's work queue, search, a return's page and its decisions, and dead deliveries:
over real HTTP, on SQLite and PostgreSQL, with the database read back to check each effect."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import async_playwright
from sqlalchemy import text

from reclaim.db import transaction
from reclaim.kit.clock import utcnow
from reclaim.notifications.models import Delivery, OutboxMessage
from reclaim.orders.schemas import OrderIn
from reclaim.orders.service import upsert_order
from reclaim.returns import service as returns
from reclaim.returns.schemas import DispositionIn, InspectIn, ReceiveIn
from reclaim.users.roles import Role
from reclaim.warehouse.models import ReceivingFlag
from tests.factories import actor, order_payload, seed_return
from tests.web.conftest import LiveServer
from tests.web.console_support import (
    FORM_EXPIRED,
    Sessions,
    console_unchanged,
    signed_in,
    words,
)
from tests.web.test_portal_browser import _chromium

# A return's number where a list links to it, once per row.
RMA = re.compile(r'<a class="rma" href="/console/returns/(RMA-[0-9A-Z]{5}-[0-9A-Z]{5})"')


# --- the world the tests look at --------------------------------------------------------------


async def _order(
    sessions: Sessions, order_id: str, *, email: str = "ann@example.com", name: str = "Ann Example"
) -> None:
    payload = order_payload(order_id, email=email)
    payload["customer"]["name"] = name
    async with transaction(sessions) as session:
        await upsert_order(session, OrderIn.model_validate(payload))


async def _return(sessions: Sessions, order_id: str, **customer: str) -> str:
    """A return left requested (the test policy decides nothing by itself)."""
    await _order(sessions, order_id, **customer)
    return await seed_return(sessions, order_id)


async def _step(sessions: Sessions, number: str, *steps: str) -> None:
    """Move the return on, a lifecycle step at a time."""
    for step in steps:
        async with transaction(sessions) as session:
            match step:
                case "review":
                    await returns.send_to_review(session, number, actor(), "Unusual reason")
                case "approve":
                    await returns.approve(session, number, actor())
                case "transit":
                    await returns.mark_in_transit(session, number, actor())
                case "receive":
                    lines = [{"line_id": "1", "quantity": 1}]
                    await returns.receive(
                        session, number, ReceiveIn.model_validate({"lines": lines}), actor()
                    )
                case "inspect":
                    lines = [{"line_id": "1", "grade": "like_new"}]
                    await returns.inspect(
                        session, number, InspectIn.model_validate({"lines": lines}), actor()
                    )
                case "route":
                    lines = [{"line_id": "1", "disposition": "restock"}]
                    await returns.disposition(
                        session, number, DispositionIn.model_validate({"lines": lines}), actor()
                    )
                case "complete":
                    await returns.complete(session, number, actor())
                case "reject":
                    await returns.reject(session, number, actor(), "Outside the window")


async def _flag_attention(sessions: Sessions, number: str, why: str) -> None:
    async with transaction(sessions) as session:
        await session.execute(
            text("UPDATE returns SET attention = :why, attention_at = :at WHERE number = :n"),
            {"why": why, "at": utcnow(), "n": number},
        )


async def _receiving_flag(sessions: Sessions, number: str) -> int:
    """An open receiving flag (an unexpected item), with the return in the exceptions queue."""
    await _flag_attention(sessions, number, "Receiving: unexpected item.")
    async with transaction(sessions) as session:
        return_id = (
            await session.execute(text("SELECT id FROM returns WHERE number = :n"), {"n": number})
        ).scalar_one()
        flag = ReceivingFlag(
            return_id=return_id,
            kind="unexpected_item",
            found="A blue scarf",
            quantity=1,
            detail="Not on the order.",
            actor="staff:ivy@staff.test",
        )
        session.add(flag)
        await session.flush()
        return flag.id


async def _dead_delivery(sessions: Sessions, number: str) -> int:
    now = utcnow()
    async with transaction(sessions) as session:
        message = OutboxMessage(
            topic="return.approved", aggregate=number, payload={}, dispatched_at=now
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


async def _one(sessions: Sessions, sql: str, **params: Any) -> Any:
    async with sessions() as session:
        return (await session.execute(text(sql), params)).scalar_one()


async def _status(sessions: Sessions, number: str) -> str:
    return str(await _one(sessions, "SELECT status FROM returns WHERE number = :n", n=number))


def _section(page: httpx.Response, key: str) -> list[str]:
    """The RMAs one list of the queue page shows, in order."""
    found = re.search(rf'<section[^>]*id="{key}".*?</section>', page.text, re.S)
    assert found, f"no {key} list on the queue page"
    return RMA.findall(found.group(0))


# --- the work queue ---------------------------------------------------------------------------


async def test_the_queue_lists_each_return_under_the_work_it_waits_for(
    live_server: LiveServer, sessions: Sessions
) -> None:
    requested = await _return(sessions, "1001")
    in_review = await _return(sessions, "1002")
    await _step(sessions, in_review, "review")
    approved = await _return(sessions, "1003")
    await _step(sessions, approved, "approve")
    travelling = await _return(sessions, "1004")
    await _step(sessions, travelling, "approve", "transit")
    received = await _return(sessions, "1005")
    await _step(sessions, received, "approve", "receive")
    inspected = await _return(sessions, "1006")
    await _step(sessions, inspected, "approve", "receive", "inspect")
    rejected = await _return(sessions, "1007")
    await _step(sessions, rejected, "reject")
    await _flag_attention(sessions, travelling, "The carrier reports the parcel damaged.")

    async with signed_in(live_server.url, sessions, Role.ANALYST) as analyst:
        page = await analyst.get("/console")

    assert page.status_code == 200
    assert _section(page, "review") == [in_review, requested]  # newest first
    assert _section(page, "arriving") == [travelling, approved]
    assert _section(page, "inspection") == [received]
    assert _section(page, "disposition") == [inspected]
    assert _section(page, "exceptions") == [travelling]
    assert rejected not in page.text
    assert "The carrier reports the parcel damaged." in words(page)


async def test_a_return_with_every_line_routed_waits_to_be_completed_at_the_station(
    live_server: LiveServer, sessions: Sessions
) -> None:
    inspected = await _return(sessions, "1001")
    await _step(sessions, inspected, "approve", "receive", "inspect")
    routed = await _return(sessions, "1002")
    await _step(sessions, routed, "approve", "receive", "inspect", "route")
    completed = await _return(sessions, "1003")
    await _step(sessions, completed, "approve", "receive", "inspect", "route", "complete")

    station = f'href="/console/station/{routed}"'
    async with signed_in(live_server.url, sessions, Role.INSPECTOR) as inspector:
        page = await inspector.get("/console")
        everything = await inspector.get("/console/queue/complete")
    async with signed_in(live_server.url, sessions, Role.ANALYST) as analyst:
        looking = await analyst.get("/console")

    assert _section(page, "complete") == [routed]
    assert _section(page, "disposition") == [inspected]
    assert completed not in page.text
    assert station in page.text and "Complete at the station" in words(page)
    assert RMA.findall(everything.text) == [routed] and station in everything.text
    # Someone who can't complete a return sees it waiting, without the way in.
    assert _section(looking, "complete") == [routed]
    assert station not in looking.text and "Other roles do this" in words(looking)


async def test_a_long_list_shows_the_newest_and_links_to_all_of_it(
    live_server: LiveServer, sessions: Sessions
) -> None:
    numbers = [await _return(sessions, f"20{n:02d}") for n in range(10)]
    newest_first = numbers[::-1]

    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        page = await agent.get("/console")
        assert _section(page, "review") == newest_first[:8]
        assert "Show all 10" in words(page)
        everything = await agent.get("/console/queue/review")
        nothing = await agent.get("/console/queue/nonsense")

    assert everything.status_code == 200
    assert RMA.findall(everything.text) == newest_first
    assert nothing.status_code == 404 and "no work queue called 'nonsense'" in words(nothing)


# --- search -----------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["{n}", "{n_lower}", "{n_bare}", " {n} "])
async def test_an_rma_however_typed_goes_straight_to_the_return(
    live_server: LiveServer, sessions: Sessions, typed: str
) -> None:
    number = await _return(sessions, "1001")
    text_typed = typed.format(
        n=number, n_lower=number.lower(), n_bare=number.replace("-", "").removeprefix("RMA")
    )
    async with signed_in(live_server.url, sessions, Role.ANALYST) as analyst:
        answer = await analyst.get("/console/search", params={"q": text_typed})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/console/returns/{number}"


async def test_a_tracking_number_goes_straight_to_its_return(
    live_server: LiveServer, sessions: Sessions
) -> None:
    number = await _return(sessions, "1001")
    await _step(sessions, number, "approve")
    tracking = await _one(sessions, "SELECT tracking_number FROM shipments")
    async with signed_in(live_server.url, sessions, Role.ANALYST) as analyst:
        answer = await analyst.get("/console/search", params={"q": tracking.lower()})
    assert answer.headers["location"] == f"/console/returns/{number}"


async def test_search_finds_an_orders_returns_and_a_customers_by_part_of_email_or_name(
    live_server: LiveServer, sessions: Sessions
) -> None:
    anns = await _return(sessions, "1001", email="ann@example.com", name="Ann Example")
    bobs = await _return(sessions, "1002", email="bob.builder@shop.example", name="Robert Builder")
    async with signed_in(live_server.url, sessions, Role.ANALYST) as analyst:
        by_order = await analyst.get("/console/search", params={"q": "1002"})
        by_email = await analyst.get("/console/search", params={"q": "BUILDER@shop.ex"})
        by_name = await analyst.get("/console/search", params={"q": "ann exa"})
        by_domain = await analyst.get("/console/search", params={"q": "example.com"})
    assert RMA.findall(by_order.text) == [bobs]
    assert RMA.findall(by_email.text) == [bobs]
    assert RMA.findall(by_name.text) == [anns]
    assert RMA.findall(by_domain.text) == [anns]
    assert "1 return match" in words(by_order)


@pytest.mark.parametrize("typed", ["%", "_", "nobody@nowhere.test", "\x00"])
async def test_search_with_no_match_says_so_and_wildcards_are_plain_text(
    live_server: LiveServer, sessions: Sessions, typed: str
) -> None:
    await _return(sessions, "1001")
    async with signed_in(live_server.url, sessions, Role.ANALYST) as analyst:
        page = await analyst.get("/console/search", params={"q": typed})
    assert page.status_code == 200
    assert RMA.findall(page.text) == []
    if typed.isprintable():
        assert f"No return matches “{typed}”" in words(page)


# --- a return's page --------------------------------------------------------------------------


async def test_the_return_page_shows_its_lines_parcel_decision_and_timeline(
    live_server: LiveServer, sessions: Sessions
) -> None:
    number = await _return(sessions, "1001", name="Ann Example")
    await _step(sessions, number, "review", "approve", "receive")
    async with signed_in(live_server.url, sessions, Role.ANALYST) as analyst:
        page = await analyst.get(f"/console/returns/{number.lower()}")

    assert page.status_code == 200
    said = words(page)
    tracking = await _one(sessions, "SELECT tracking_number FROM shipments")
    for expected in (
        f"Return {number}",
        "Ann Example",
        "Order 1001",
        "Tee (M) TEE-M · line 1",
        "Quantity 1 asked · 1 received",
        "Reason Too small",
        "Resolution Refund",
        "Grade not graded yet",
        "Photos 0",
        f"Tracking number {tracking}",
        "No carrier scans yet.",
        # The timeline: when, what, the status it moved, who, and the facts in words.
        "Return requested · requested · by test",
        "Sent to review · requested → review · by test",
        "Why: Unusual reason",
        "Approved · review → approved · by test",
        "Received · approved → received · by test",
        "Units received: line 1: 1",
    ):
        assert expected in said, expected


async def test_an_unknown_return_is_a_page_saying_so(
    live_server: LiveServer, sessions: Sessions
) -> None:
    async with signed_in(live_server.url, sessions, Role.ANALYST) as analyst:
        for number in ("RMA-7KQ3X-M9P2D", "not-a-number"):
            page = await analyst.get(f"/console/returns/{number}")
            assert page.status_code == 404
            assert f"No return '{number}'" in words(page)


async def test_an_agent_approves_a_return_waiting_for_review(
    live_server: LiveServer, sessions: Sessions
) -> None:
    number = await _return(sessions, "1001")
    await _step(sessions, number, "review")
    async with signed_in(live_server.url, sessions, Role.AGENT, email="alex@staff.test") as agent:
        answer = await agent.post(f"/console/returns/{number}/approve", {"note": "Looks fine"})
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/console/returns/{number}"
        page = await agent.get(answer.headers["location"])
        again = await agent.get(answer.headers["location"])

    said = words(page)
    assert f"Approved {number}. The shopper is e-mailed their label" in said
    assert "Note: Looks fine" in said and "by staff:alex@staff.test" in said
    assert f"Approved {number}." not in words(again)  # the message is shown once
    assert await _status(sessions, number) == "approved"
    assert await _one(sessions, "SELECT count(*) FROM shipments") == 1
    assert await _one(sessions, "SELECT actor FROM return_events WHERE action = 'approve'") == (
        "staff:alex@staff.test"
    )


async def test_an_agent_approves_a_return_without_it_coming_back(
    live_server: LiveServer, sessions: Sessions
) -> None:
    number = await _return(sessions, "1001")
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        answer = await agent.post(f"/console/returns/{number}/approve", {"returnless": "yes"})
    assert answer.status_code == 303
    assert await _one(sessions, "SELECT method FROM returns") == "keep_item"
    assert await _one(sessions, "SELECT count(*) FROM shipments") == 0


async def test_an_agent_rejects_a_return_saying_why(
    live_server: LiveServer, sessions: Sessions
) -> None:
    number = await _return(sessions, "1001")
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        answer = await agent.post(
            f"/console/returns/{number}/reject", {"reason": "Bought more than a year ago"}
        )
        page = await agent.get(answer.headers["location"])
    assert answer.status_code == 303
    assert "Rejected" in words(page) and "e-mailed your reason" in words(page)
    assert await _status(sessions, number) == "rejected"
    assert await _one(sessions, "SELECT status_reason FROM returns") == (
        "Bought more than a year ago"
    )


@pytest.mark.parametrize("reason", ["", "   "])
async def test_rejecting_without_a_reason_is_refused_and_changes_nothing(
    live_server: LiveServer, sessions: Sessions, reason: str
) -> None:
    number = await _return(sessions, "1001")
    async with (
        signed_in(live_server.url, sessions, Role.AGENT) as agent,
        console_unchanged(sessions),
    ):
        page = await agent.post(f"/console/returns/{number}/reject", {"reason": reason})
    assert page.status_code == 422
    assert "Say why the return is rejected" in words(page)
    assert 'id="reject-reason"' in page.text and 'aria-invalid="true"' in page.text


async def test_approving_a_return_already_decided_says_why_and_changes_nothing(
    live_server: LiveServer, sessions: Sessions
) -> None:
    number = await _return(sessions, "1001")
    await _step(sessions, number, "reject")
    async with (
        signed_in(live_server.url, sessions, Role.AGENT) as agent,
        console_unchanged(sessions),
    ):
        page = await agent.post(f"/console/returns/{number}/approve", {"note": "typed"})
    assert page.status_code == 409
    assert "A return that is rejected can't be approved." in words(page)


@pytest.mark.parametrize("role", [Role.ANALYST, Role.INSPECTOR])
async def test_only_agents_and_admins_decide_returns(
    live_server: LiveServer, sessions: Sessions, role: Role
) -> None:
    number = await _return(sessions, "1001")
    async with signed_in(live_server.url, sessions, role) as someone:
        page = await someone.get(f"/console/returns/{number}")
        assert "Reject" not in words(page) and "An agent or an admin approves" in words(page)
        async with console_unchanged(sessions):
            approve = await someone.post(f"/console/returns/{number}/approve", {})
            reject = await someone.post(f"/console/returns/{number}/reject", {"reason": "no"})
    for refused in (approve, reject):
        assert refused.status_code == 403
        assert "you need the admin or agent role" in words(refused)
    assert await _status(sessions, number) == "requested"


async def test_an_agent_resolves_a_flagged_return_with_a_note(
    live_server: LiveServer, sessions: Sessions
) -> None:
    number = await _return(sessions, "1001")
    await _step(sessions, number, "approve")
    await _flag_attention(sessions, number, "The carrier lost track of the parcel.")
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        async with console_unchanged(sessions):
            empty = await agent.post(f"/console/returns/{number}/resolve", {"note": " "})
        done = await agent.post(
            f"/console/returns/{number}/resolve", {"note": "Carrier found it; on its way"}
        )
        page = await agent.get(done.headers["location"])

    assert empty.status_code == 422 and "Say what was done about it" in words(empty)
    assert done.status_code == 303
    assert "Resolved the flag" in words(page)
    assert "Note: Carrier found it; on its way" in words(page)
    assert await _one(sessions, "SELECT attention FROM returns") is None


async def test_receiving_flags_are_shown_and_resolved_one_by_one(
    live_server: LiveServer, sessions: Sessions
) -> None:
    number = await _return(sessions, "1001")
    await _step(sessions, number, "approve", "receive")
    flag = await _receiving_flag(sessions, number)
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        page = await agent.get(f"/console/returns/{number}")
        assert "Unexpected item · found 1 × A blue scarf · open" in words(page)
        assert "resolving the last one clears this flag" in words(page)
        done = await agent.post(
            f"/console/returns/{number}/flags/{flag}/resolve",
            {f"resolution-{flag}": "Scarf sent back to the shopper"},
        )
        after = await agent.get(done.headers["location"])
        missing = await agent.post(
            f"/console/returns/{number}/flags/99999/resolve", {"resolution-99999": "x"}
        )

    assert done.status_code == 303
    assert "No receiving flags are left open" in words(after)
    assert "Resolved" in words(after) and "Scarf sent back to the shopper" in words(after)
    assert await _one(sessions, "SELECT resolution FROM receiving_flags") == (
        "Scarf sent back to the shopper"
    )
    assert await _one(sessions, "SELECT attention FROM returns") is None
    assert missing.status_code == 404


async def test_the_return_stays_flagged_while_a_receiving_flag_is_open(
    live_server: LiveServer, sessions: Sessions
) -> None:
    number = await _return(sessions, "1001")
    await _step(sessions, number, "approve", "receive")
    await _receiving_flag(sessions, number)
    async with (
        signed_in(live_server.url, sessions, Role.AGENT) as agent,
        console_unchanged(sessions),
    ):
        refused = await agent.post(f"/console/returns/{number}/resolve", {"note": "Dealt with it"})

    assert refused.status_code == 409
    assert "Resolve the 1 open flag first: unexpected item: 1 × 'A blue scarf'." in words(refused)
    assert await _one(sessions, "SELECT attention FROM returns") == "Receiving: unexpected item."


async def test_an_inspector_is_offered_the_station_for_a_return_on_its_way(
    live_server: LiveServer, sessions: Sessions
) -> None:
    number = await _return(sessions, "1001")
    await _step(sessions, number, "approve")
    async with signed_in(live_server.url, sessions, Role.INSPECTOR) as inspector:
        page = await inspector.get(f"/console/returns/{number}")
    assert f'href="/console/station/{number}"' in page.text


# --- dead deliveries --------------------------------------------------------------------------


async def test_dead_deliveries_are_listed_and_sent_again(
    live_server: LiveServer, sessions: Sessions
) -> None:
    number = await _return(sessions, "1001")
    first = await _dead_delivery(sessions, number)
    second = await _dead_delivery(sessions, number)
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        listed = await agent.get("/console/deliveries")
        one = await agent.post(f"/console/deliveries/{first}/replay")
        after_one = await agent.get("/console/deliveries")
        twice = await agent.post(f"/console/deliveries/{first}/replay")
        after_twice = await agent.get("/console/deliveries")
        rest = await agent.post("/console/deliveries/replay-all")
        after_all = await agent.get("/console/deliveries")

    said = words(listed)
    assert "return.approved to ann@example.com" in said and "550 mailbox unavailable" in said
    assert one.status_code == 303
    assert f"Delivery {first} (return.approved to ann@example.com) will be sent again" in (
        words(after_one)
    )
    assert twice.status_code == 303 and "only dead deliveries can be replayed" in words(after_twice)
    assert rest.status_code == 303 and "1 dead delivery will be sent again" in words(after_all)
    statuses = await _one(
        sessions,
        "SELECT count(*) FROM deliveries WHERE status = 'pending' AND id IN (:a, :b)",
        a=first,
        b=second,
    )
    assert statuses == 2
    assert "No dead deliveries" in words(after_all)


# --- every form needs the session's token -----------------------------------------------------


async def test_every_console_form_refuses_a_missing_or_wrong_token_and_changes_nothing(
    live_server: LiveServer, sessions: Sessions
) -> None:
    number = await _return(sessions, "1001")
    await _step(sessions, number, "approve", "receive")
    flag = await _receiving_flag(sessions, number)
    delivery = await _dead_delivery(sessions, number)
    forms: list[tuple[str, dict[str, str]]] = [
        (f"/console/returns/{number}/approve", {"note": "ok"}),
        (f"/console/returns/{number}/reject", {"reason": "no"}),
        (f"/console/returns/{number}/resolve", {"note": "done"}),
        (f"/console/returns/{number}/flags/{flag}/resolve", {f"resolution-{flag}": "done"}),
        (f"/console/deliveries/{delivery}/replay", {}),
        ("/console/deliveries/replay-all", {}),
        ("/console/logout", {}),
    ]
    async with signed_in(live_server.url, sessions, Role.ADMIN) as admin:
        for path, fields in forms:
            for sent in ("", "wrong-token", admin.csrf[:-1]):
                async with console_unchanged(sessions):
                    answer = await admin.post(path, fields, csrf=sent)
                assert answer.status_code == 403, (path, sent, answer.status_code)
                assert FORM_EXPIRED in words(answer), path
        # Another session's token is no better.
        async with signed_in(live_server.url, sessions, Role.ADMIN) as other:
            answer = await admin.post(forms[0][0], forms[0][1], csrf=other.csrf)
        assert answer.status_code == 403
        assert (await admin.get("/console")).status_code == 200


# --- on a phone -------------------------------------------------------------------------------


# What a page looks like doesn't depend on the database: SQLite only.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_console_pages_fit_a_phone_screen(
    live_server: LiveServer, sessions: Sessions
) -> None:
    """No page scrolls sideways at 390 px, and the focus is always visible."""
    chromium = _chromium()  # skips the test when there is no browser

    number = await _return(sessions, "1001", name="Ann Example-Averylongsurnamewithoutspaces")
    await _step(sessions, number, "review")
    await _dead_delivery(sessions, number)
    async with signed_in(live_server.url, sessions, Role.ADMIN) as admin:
        cookies = [
            {"name": c.name, "value": c.value, "url": f"{live_server.url}/console"}
            for c in admin.http.cookies.jar
        ]
    async with async_playwright() as play:
        browser = await play.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        await context.add_cookies(cookies)  # type: ignore[arg-type]
        page = await context.new_page()
        for path in (
            "/console",
            "/console/queue/review",
            "/console/search?q=ann",
            f"/console/returns/{number}",
            "/console/deliveries",
        ):
            await page.goto(f"{live_server.url}{path}")
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (path, width)
        await page.goto(f"{live_server.url}/console/returns/{number}")
        await page.keyboard.press("Tab")
        await page.keyboard.press("Tab")
        outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none"
        await browser.close()
