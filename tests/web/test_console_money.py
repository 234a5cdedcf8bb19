"""Money in the console: a return's money panel, settling what is due, refunds by hand, the
second agent's approval, declines, retries, and forms that are refused or sent twice; over
real HTTP on SQLite and PostgreSQL, with the database read back to check every effect."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from reclaim.catalog.service import upsert_product
from reclaim.db import transaction
from reclaim.kit.clock import utcnow
from reclaim.kit.money import Money
from reclaim.orders.schemas import ProductIn
from reclaim.refunds import exchanges
from reclaim.refunds import service as refunds
from reclaim.refunds.schemas import ConfirmationIn, ManualRefundIn
from reclaim.users.roles import Role
from tests.factories import MANUAL_POLICY, MANUAL_POLICY_TEXT, actor, order_payload
from tests.web.conftest import LiveServer
from tests.web.console_support import (
    FORM_EXPIRED,
    Console,
    Sessions,
    console_state,
    signed_in,
    words,
)
from tests.web.station_support import (
    PHONE,
    TEE,
    arriving,
    graded,
    one,
    order_lines,
    received,
    rows,
)

ONCE = re.compile(r'name="once" value="([^"]+)"')
# The tee's return: 2 × 25.00 USD; the order also holds a 400.00 USD phone and 4.99 shipping.
ORDER_PAID = 45499
# What a money form could change, besides what console_state already watches.
MONEY_ROWS = {
    "refunds": "SELECT number, status, amount_minor, kind, approved_by, retry_of FROM refunds "
    "ORDER BY id",
    "refund_parts": "SELECT refund_id, payment_id, amount_minor, status FROM refund_parts "
    "ORDER BY id",
    "order_payments": "SELECT id, refunded_minor FROM order_payments ORDER BY id",
    "given_back": "SELECT id, given_back_minor FROM orders ORDER BY id",
    "settled": "SELECT id, settled_at, settled_quantity, settled_minor FROM return_lines "
    "ORDER BY id",
    "credit": "SELECT count(*) FROM credit_transactions",
    "exchanges": "SELECT count(*) FROM exchanges",
    "form_submissions": "SELECT count(*) FROM form_submissions",
}


async def money_state(sessions: Sessions) -> dict[str, Any]:
    state = await console_state(sessions)
    for name, sql in MONEY_ROWS.items():
        state[name] = await rows(sessions, sql)
    return state


@asynccontextmanager
async def money_unchanged(sessions: Sessions) -> AsyncIterator[None]:
    """The block's forms may be refused, but must leave every row as it was."""
    before = await money_state(sessions)
    yield
    after = await money_state(sessions)
    changed = {key: (before[key], after[key]) for key in before if before[key] != after[key]}
    assert not changed, f"a refused money form wrote to the database: {changed}"


_orders = itertools.count(7001)


async def _on_its_way(client: httpx.AsyncClient) -> tuple[str, str]:
    """An approved tee return of a fresh order, on its way: the RMA and the order's number."""
    order_id = str(next(_orders))
    number, _ = await arriving(client, order_id)
    return number, order_id


async def _refund(
    sessions: Sessions, order_id: str, number: str, minor: int, *, by: str = "api:shop"
) -> str:
    """A refund by hand made elsewhere (another agent, the API): its number."""
    data = ManualRefundIn.model_validate(
        {
            "amount_minor": minor,
            "currency": "USD",
            "kind": "manual",
            "reason": "Arrived late",
            "return": number,
        }
    )
    async with transaction(sessions) as session:
        made = await refunds.manual_refund(session, order_id, data, actor(by), MANUAL_POLICY)
        return made.number


async def _fail(sessions: Sessions, refund: str) -> None:
    """The shop's payment system says the refund didn't go through."""
    said = ConfirmationIn.model_validate({"event": "refund.failed", "reason": "Card expired"})
    async with transaction(sessions) as session:
        await refunds.confirm(session, refund, said, actor("api:shop"))


async def _form(console: Console, path: str, action: str) -> dict[str, str]:
    """The CSRF and one-time tokens of the form posting to ``action`` on the page at ``path``."""
    page = await console.get(path)
    assert page.status_code == 200, words(page)
    form = re.search(rf'<form[^>]*action="{re.escape(action)}".*?</form>', page.text, re.S)
    assert form, f"no form to {action} on {path}"
    token = ONCE.search(form.group(0))
    assert token, f"the form to {action} has no one-time token"
    return {"once": token.group(1)}


def usd(minor: int) -> str:
    return Money(minor, "USD").format()


def _page(number: str) -> str:
    return f"/console/returns/{number}"


async def _statuses(sessions: Sessions) -> list[tuple[Any, ...]]:
    return await rows(sessions, "SELECT kind, status, amount_minor FROM refunds ORDER BY id")


# --- the panel ----------------------------------------------------------------------------------


async def test_the_panel_says_when_the_money_is_due_and_analysts_only_read_it(
    live_server: LiveServer, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number, _ = await _on_its_way(client)
    async with signed_in(live_server.url, sessions, Role.ANALYST) as analyst:
        page = await analyst.get(_page(number))
    said = words(page)
    assert page.status_code == 200
    assert "Money" in said and "Refund due after inspection" in said
    assert f"Order paid {'454.99 USD'}" in said and "Left 454.99 USD" in said
    assert "An agent or an admin gives refunds." in said
    assert "/refunds" not in page.text and "refund-due" not in page.text
    assert 'href="/console/refunds"' not in page.text  # no Refunds link in their menu


async def test_inspection_refunds_the_line_and_the_panel_shows_the_refund_per_payment(
    live_server: LiveServer, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number, _ = await _on_its_way(client)
    await received(sessions, number, {TEE: 2})
    await graded(sessions, number, TEE)

    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        page = await agent.get(_page(number))
    said = words(page)
    refund = await one(sessions, "SELECT number FROM refunds")
    assert re.search(r"Refunded: 2 units of 2, on \d+ \w+ \d{4}", said), said
    assert f"{refund} · 50.00 USD requested" in said
    assert "Requested from the shop's payment system; it confirms within minutes." in said
    assert "Original 50.00 USD requested" in said  # the order's one payment, its part
    assert "Given back 50.00 USD" in said and "Left 404.99 USD" in said
    assert "Money given back" in said and f"Refund {refund}: 50.00 USD" in said  # timeline
    assert "refund-due" not in page.text  # nothing more is due


class TestWithAStoreCreditBonus:
    @pytest.fixture
    def server_overrides(self, tmp_path: Path) -> dict[str, Any]:
        """The test policy, with a 10% store-credit bonus of at most 25.00."""
        policy = tmp_path / "bonus.toml"
        policy.write_text(
            MANUAL_POLICY_TEXT + '[store_credit]\nbonus_percent = 10\nbonus_cap = "25.00"\n'
        )
        return {"policy_file": policy}

    async def test_the_panel_shows_store_credit_with_its_bonus_and_the_exchange(
        self, live_server: LiveServer, client: httpx.AsyncClient, sessions: Sessions
    ) -> None:
        lines = order_lines()
        lines[0]["product"]["product_group"] = "tee"
        made = await client.post("/api/v1/orders", json=order_payload("8001", lines=lines))
        assert made.status_code == 201, made.text
        async with transaction(sessions) as session:
            details = ProductIn(name="Tee (XL)", category="apparel", product_group="tee")
            await upsert_product(session, "TEE-XL", "USD", details, unit_price_minor=3000)
        started = await client.post(
            "/api/v1/returns",
            json={
                "order_id": "8001",
                "method": "prepaid_label",
                "lines": [
                    {
                        "line_id": TEE,
                        "quantity": 2,
                        "reason": "too_small",
                        "resolution": "exchange",
                        "exchange_sku": "TEE-XL",
                    },
                    {
                        "line_id": PHONE,
                        "quantity": 1,
                        "reason": "no_longer_needed",
                        "resolution": "store_credit",
                    },
                ],
            },
        )
        assert started.status_code == 201, started.text
        number = started.json()["number"]
        assert (await client.post(f"/api/v1/returns/{number}/approve", json={})).status_code == 200
        await received(sessions, number, {TEE: 2, PHONE: 1})
        await graded(sessions, number, TEE)
        await graded(sessions, number, PHONE)
        exchange, value, price = await one(
            sessions, "SELECT number, value_minor, price_minor FROM exchanges"
        )
        issued = await rows(
            sessions, "SELECT kind, amount_minor FROM credit_transactions ORDER BY id"
        )
        assert [kind for kind, _ in issued] == ["issue", "bonus"] and price == 6000
        async with transaction(sessions) as session:
            await exchanges.mark_shipped(session, exchange, "dhl", "JD0001", actor("api:shop"))

        async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
            said = words(await agent.get(_page(number)))
        credit, bonus = (usd(minor) for _, minor in issued)
        assert f"Credit for the items {credit}" in said and f"Bonus {bonus}" in said
        assert "Credited: 1 unit of 1" in said and "Put toward the exchange: 2 units of 2" in said
        assert f"{exchange} shipped" in said and "2 × Tee (XL) TEE-XL at 30.00 USD" in said
        charged = usd(price - value)
        assert (
            f"Worth {usd(value)} toward 60.00 USD: the shop charges the shopper {charged}" in said
        )
        total = usd(sum(minor for _, minor in issued))
        assert f"Store credit: {total}, of which {bonus} bonus" in said  # the timeline
        assert "with dhl, tracking JD0001" in said
        assert "No refunds yet." in said


async def test_an_agent_refunds_what_is_due_once_a_hold_is_lifted(
    live_server: LiveServer, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number, _ = await _on_its_way(client)
    await _hold(sessions, number)
    await received(sessions, number, {TEE: 2})
    await graded(sessions, number, TEE)  # held: nothing is paid
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        held = await agent.get(_page(number))
        assert "Refund held until someone looks" in words(held)
        assert "refund-due" not in held.text
        await _hold(sessions, number, lifted=True)

        due = f"/console/returns/{number}/refund-due"
        token = await _form(agent, _page(number), due)
        assert "Refund due now for 2 units" in words(await agent.get(_page(number)))
        done = await agent.post(due, token)
        assert done.status_code == 303 and done.headers["location"] == _page(number)
        shown = words(await agent.get(_page(number)))
        async with money_unchanged(sessions):
            again = await agent.post(due)

    refund = await one(sessions, "SELECT number FROM refunds")
    assert f"Settled line 1. Refund {refund} of 50.00 USD" in shown
    assert await _statuses(sessions) == [("return", "requested", 5000)]
    # Nothing more is due: the page says why, and nothing was written.
    assert again.status_code == 409
    assert "Nothing was changed" in words(again) and "already settled" in words(again)


async def _hold(sessions: Sessions, number: str, *, lifted: bool = False) -> None:
    async with transaction(sessions) as session:
        await session.execute(
            text("UPDATE returns SET attention = :why, attention_at = :at WHERE number = :n"),
            {
                "why": None if lifted else "Carrier: parcel damaged",
                "at": None if lifted else utcnow(),
                "n": number,
            },
        )


# --- refunds by hand ----------------------------------------------------------------------------


async def test_a_manual_refund_below_the_threshold_is_requested_at_once(
    live_server: LiveServer, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number, _ = await _on_its_way(client)
    action = f"/console/returns/{number}/refunds"
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        form = await _form(agent, _page(number), action)
        fields = {"amount": "12.50", "kind": "goodwill", "reason": "Late delivery"}
        done = await agent.post(action, form | fields)
        page = await agent.get(done.headers["location"])

    assert done.status_code == 303
    refund = await one(sessions, "SELECT number FROM refunds")
    said = words(page)
    assert f"Goodwill refund {refund} of 12.50 USD. Requested from the shop's payment" in said
    assert await rows(
        sessions, "SELECT kind, status, amount_minor, reason, requested_by FROM refunds"
    ) == [("goodwill", "requested", 1250, "Late delivery", f"staff:{agent.account.email}")]
    assert await one(sessions, "SELECT given_back_minor FROM orders") == 1250
    assert await one(sessions, "SELECT count(*) FROM outbox WHERE topic = 'refund.requested'") == 1


async def test_a_manual_refund_above_the_threshold_waits_for_a_second_agent(
    live_server: LiveServer, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number, _ = await _on_its_way(client)
    action = f"/console/returns/{number}/refunds"
    async with (
        signed_in(live_server.url, sessions, Role.AGENT, name="Ann Agent") as ann,
        signed_in(live_server.url, sessions, Role.AGENT, name="Bob Agent") as bob,
    ):
        form = await _form(ann, _page(number), action)
        done = await ann.post(
            action, form | {"amount": "150.00", "kind": "manual", "reason": "Broken screen"}
        )
        said = words(await ann.get(done.headers["location"]))
        refund = await one(sessions, "SELECT number FROM refunds")
        assert await _statuses(sessions) == [("manual", "pending_approval", 15000)]
        assert f"Partial refund {refund} of 150.00 USD." in said
        assert "It waits for a second agent: amounts above 100.00 USD need two people." in said
        assert "Waiting for a second agent: amounts above 100.00 USD need two people." in said

        # Ann sees it waiting, but can't approve her own refund: the page says why.
        mine = await ann.get("/console/refunds")
        assert "You asked for this refund, so a second agent must approve it." in words(mine)
        assert f"/console/refunds/{refund}/approve" not in mine.text
        async with money_unchanged(sessions):
            refused = await ann.post(f"/console/refunds/{refund}/approve")
        assert refused.status_code == 409
        assert f"A second agent must approve refund {refund}" in words(refused)

        # Bob approves: it is asked of the shop's payment system at once.
        approve = f"/console/refunds/{refund}/approve"
        approved = await bob.post(approve, await _form(bob, "/console/refunds", approve))
        after = words(await bob.get(approved.headers["location"]))

    assert approved.status_code == 303 and approved.headers["location"] == "/console/refunds"
    assert f"Approved refund {refund} of 150.00 USD. Requested from" in after
    assert await rows(sessions, "SELECT status, approved_by FROM refunds") == [
        ("requested", f"staff:{bob.account.email}")
    ]
    assert await one(sessions, "SELECT count(*) FROM outbox WHERE topic = 'refund.requested'") == 1
    assert "No refund waits for approval." in after


async def test_declining_a_refund_releases_what_it_counted(
    live_server: LiveServer, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number, order_id = await _on_its_way(client)
    refund = await _refund(sessions, order_id, number, 20000)
    assert await one(sessions, "SELECT given_back_minor FROM orders") == 20000
    decline = f"/console/refunds/{refund}/decline"
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        form = await _form(agent, "/console/refunds", decline)
        async with money_unchanged(sessions):
            refused = await agent.post(decline, form | {"why": "  "})
        assert refused.status_code == 422
        assert "Say why the refund is declined" in words(refused)
        done = await agent.post(decline, form | {"why": "Not our fault"})
        said = words(await agent.get(done.headers["location"]))

    assert done.status_code == 303
    assert f"Declined refund {refund}: nothing is paid" in said
    assert await rows(sessions, "SELECT status, approved_by FROM refunds") == [
        ("declined", f"staff:{agent.account.email}")
    ]
    assert await one(sessions, "SELECT given_back_minor FROM orders") == 0
    assert await one(sessions, "SELECT refunded_minor FROM order_payments") == 0
    assert await one(sessions, "SELECT status FROM refund_parts") == "declined"


async def test_a_failed_refund_is_retried_once_from_the_return_page(
    live_server: LiveServer, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number, order_id = await _on_its_way(client)
    failed = await _refund(sessions, order_id, number, 2500)
    await _fail(sessions, failed)
    retry = f"/console/refunds/{failed}/retry"
    async with signed_in(live_server.url, sessions, Role.ADMIN) as admin:
        before = await admin.get(_page(number))
        assert "Failed: nothing reached the shopper. Try it again" in words(before)
        assert "Card expired" in words(before)
        form = await _form(admin, _page(number), retry)
        done = await admin.post(retry, form | {"from": "return"})
        after = await admin.get(done.headers["location"])
        listed = await admin.get("/console/refunds")
        async with money_unchanged(sessions):
            again = await admin.post(retry, {"from": "return"})

    assert done.status_code == 303 and done.headers["location"] == _page(number)
    again_number = await one(sessions, "SELECT number FROM refunds WHERE kind = 'retry'")
    assert f"Trying again as refund {again_number} of 25.00 USD." in words(after)
    assert "It has been tried again." in words(after) and retry not in after.text
    assert retry not in listed.text  # no longer among the failed ones to retry
    assert await _statuses(sessions) == [("manual", "failed", 2500), ("retry", "requested", 2500)]
    assert again.status_code == 409 and "Nothing was changed" in words(again)


# --- refused and repeated forms -----------------------------------------------------------------


async def test_a_refund_form_without_its_csrf_token_changes_nothing(
    live_server: LiveServer, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number, order_id = await _on_its_way(client)
    held = await _refund(sessions, order_id, number, 15000)
    fields = {"amount": "5.00", "kind": "manual", "reason": "Sorry"}
    async with signed_in(live_server.url, sessions, Role.ADMIN) as admin, money_unchanged(sessions):
        for path, form in (
            (f"/console/returns/{number}/refunds", fields),
            (f"/console/returns/{number}/refund-due", {}),
            (f"/console/refunds/{held}/approve", {}),
            (f"/console/refunds/{held}/decline", {"why": "No"}),
            (f"/console/refunds/{held}/retry", {}),
        ):
            for token in ("", "forged"):
                refused = await admin.post(path, form, csrf=token)
                assert refused.status_code == 403, path
                assert FORM_EXPIRED in words(refused), path


async def test_a_refund_form_sent_twice_refunds_once(
    live_server: LiveServer, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number, _ = await _on_its_way(client)
    action = f"/console/returns/{number}/refunds"
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        form = await _form(agent, _page(number), action)
        fields = form | {"amount": "20.00", "kind": "manual", "reason": "Scratched"}
        answers = await asyncio.gather(*(agent.post(action, fields) for _ in range(4)))
        assert all(answer.status_code == 303 for answer in answers)
        assert {answer.headers["location"] for answer in answers} == {_page(number)}
    assert await _statuses(sessions) == [("manual", "requested", 2000)]
    assert await one(sessions, "SELECT given_back_minor FROM orders") == 2000


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        ("-5", "above zero"),
        ("0", "above zero"),
        ("0.00", "above zero"),
        ("1.234", "more decimals than USD allows"),
        ("abc", "is not an amount"),
        ("12,50", "is not an amount"),
        ("99999999999999999", "too large"),
        ("100000000001", "too large"),
        ("", "Type the amount to refund in USD"),
        ("454.99", "is more than that"),  # 1.00 of the order's 454.99 is already given back
    ],
)
async def test_a_bad_amount_shows_the_form_again_with_the_reason(
    amount: str,
    reason: str,
    live_server: LiveServer,
    client: httpx.AsyncClient,
    sessions: Sessions,
) -> None:
    number, order_id = await _on_its_way(client)
    await _refund(sessions, order_id, number, 100)  # 1.00 already given back
    action = f"/console/returns/{number}/refunds"
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        form = await _form(agent, _page(number), action)
        async with money_unchanged(sessions):
            refused = await agent.post(
                action, form | {"amount": amount, "kind": "manual", "reason": "Sorry"}
            )
    said = words(refused)
    assert refused.status_code in (409, 422), said
    assert "Nothing was changed" in said and reason in said
    assert f'value="{amount}"' in refused.text and 'aria-invalid="true"' in refused.text


async def test_a_refund_without_a_reason_or_kind_is_refused(
    live_server: LiveServer, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number, _ = await _on_its_way(client)
    action = f"/console/returns/{number}/refunds"
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent, money_unchanged(sessions):
        no_reason = await agent.post(action, {"amount": "5", "kind": "manual", "reason": " "})
        no_kind = await agent.post(action, {"amount": "5", "kind": "cash", "reason": "Sorry"})
        unknown = await agent.post("/console/returns/RMA-00000-00000/refunds", {"amount": "5"})
    assert no_reason.status_code == 422 and "Say why you refund" in words(no_reason)
    assert no_kind.status_code == 422 and "partial or a goodwill refund" in words(no_kind)
    assert unknown.status_code == 404


async def test_inspectors_and_analysts_may_not_refund(
    live_server: LiveServer, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number, _ = await _on_its_way(client)
    for role in (Role.INSPECTOR, Role.ANALYST):
        async with signed_in(live_server.url, sessions, role) as person, money_unchanged(sessions):
            page = await person.get("/console/refunds")
            refused = await person.post(
                f"/console/returns/{number}/refunds",
                {"amount": "5.00", "kind": "manual", "reason": "Sorry"},
            )
        assert page.status_code == 403
        assert "To refund shoppers you need the admin or agent role." in words(page)
        assert refused.status_code == 403


# --- the refunds page ---------------------------------------------------------------------------


async def test_the_refunds_page_lists_the_latest_a_page_at_a_time(
    live_server: LiveServer, client: httpx.AsyncClient, sessions: Sessions
) -> None:
    number, order_id = await _on_its_way(client)
    made = [await _refund(sessions, order_id, number, 100 + n) for n in range(32)]
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        first = await agent.get("/console/refunds")
        older = re.search(r'href="/console/refunds\?after=([^"]+)"', first.text)
        assert older, "no link to older refunds"
        second = await agent.get(f"/console/refunds?after={older.group(1)}")
        bad = await agent.get("/console/refunds?after=RF-NOTONE")

    def listed(page: httpx.Response) -> list[str]:
        latest = re.search(r'<section[^>]*id="latest".*?</section>', page.text, re.S)
        assert latest
        return re.findall(r'<th scope="row">(RF-[0-9A-Z]+)</th>', latest.group(0))

    assert listed(first) + listed(second) == made[::-1]
    assert len(listed(first)) == 30
    assert bad.status_code == 422
