"""The portal's way in: finding an order, tracking a return, and the limits on guessing."""

from __future__ import annotations

import html
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.web.conftest import LiveServer
from tests.web.portal_support import (
    PORTAL_POLICY,
    Sessions,
    Shopper,
    csrf_of,
    portal_browser,
    rows,
    seed_portal_order,
)
from tests.web.support import post_return

# Windows are fixed and aligned to the clock: a day-long one can't roll over mid-test.
LIMITED = {**PORTAL_POLICY, "lookup_limit": 3, "lookup_window_minutes": 24 * 60}
TOO_MANY = "Too many attempts"
ERROR = re.compile(r'<p class="error" role="alert" id="(?:lookup|track)-error">([^<]+)</p>')


def error_of(page: httpx.Response) -> str:
    found = ERROR.search(page.text)
    assert found, page.text
    return html.unescape(found.group(1))


@pytest.fixture
def server_overrides() -> dict[str, Any]:
    """The built-in policy and no lookup delay; a test parametrizes it to change more."""
    return dict(PORTAL_POLICY)


@pytest.fixture
async def shopper(live_server: LiveServer, client: httpx.AsyncClient) -> AsyncIterator[Shopper]:
    await seed_portal_order(client)
    await seed_portal_order(client, "1002", email="bob@example.com")
    async with portal_browser(live_server.url) as shopper:
        yield shopper


async def lookup(
    shopper: Shopper, order: str, email: str, *, client_ip: str | None = None
) -> httpx.Response:
    """One lookup from a fresh page, as if from ``client_ip`` (the test server trusts a local
    proxy's X-Forwarded-For, the way uvicorn does by default)."""
    page = await shopper.http.get("/returns")
    headers = {"X-Forwarded-For": client_ip} if client_ip else {}
    return await shopper.http.post(
        "/returns/lookup",
        data={"csrf": csrf_of(page), "order_number": order, "email": email},
        headers=headers,
    )


async def test_finding_an_order_opens_its_items_page(shopper: Shopper) -> None:
    found = await shopper.look_up()

    assert found.status_code == 200
    assert str(found.url).endswith("/returns/order")
    assert "Order 1001" in found.text
    assert "Tee (M)" in found.text and "Mug" in found.text


async def test_the_email_is_matched_whatever_its_case_and_surrounding_spaces(
    shopper: Shopper,
) -> None:
    found = await shopper.look_up(" 1001 ", "  ANN@Example.COM ")

    assert str(found.url).endswith("/returns/order"), found.text
    assert "Order 1001" in found.text


@pytest.mark.parametrize("server_overrides", [{**PORTAL_POLICY, "lookup_min_ms": 200}])
async def test_an_unknown_order_and_a_wrong_email_answer_alike_and_no_sooner_than_the_floor(
    shopper: Shopper,
) -> None:
    answers = []
    for order, email in (("9999", "ann@example.com"), ("1001", "bob@example.com")):
        started = time.monotonic()
        page = await lookup(shopper, order, email)
        elapsed = time.monotonic() - started
        answers.append((page.status_code, error_of(page)))
        assert elapsed >= 0.2, f"{order}/{email} answered in {elapsed:.3f}s"

    assert answers[0] == answers[1]
    assert answers[0][0] == 400
    assert "couldn't find an order with that number and e-mail address" in answers[0][1]
    # Neither opened a session.
    assert (await shopper.http.get("/returns/order")).status_code == 303


async def test_another_customers_order_stays_hidden_behind_the_same_message(
    shopper: Shopper,
) -> None:
    wrong = await lookup(shopper, "1002", "ann@example.com")
    unknown = await lookup(shopper, "1003", "ann@example.com")

    assert wrong.status_code == unknown.status_code == 400
    assert error_of(wrong) == error_of(unknown)
    assert "bob@" not in wrong.text and "Mug" not in wrong.text


@pytest.mark.parametrize(
    ("order", "email"),
    [
        ("", "ann@example.com"),
        ("1001", ""),
        ("   ", "  "),
        ("1" * 65, "a@b.c"),
        ("10\x0001", "ann@example.com"),  # PostgreSQL refuses U+0000 outright
        ("1001", "ann\x00@example.com"),
    ],
)
async def test_blank_or_overlong_fields_ask_for_both(
    shopper: Shopper, sessions: Sessions, order: str, email: str
) -> None:
    page = await lookup(shopper, order, email)

    assert page.status_code == 400
    assert "Enter your order number and the e-mail address you ordered with." in page.text
    # Not even counted as an attempt.
    assert await rows(sessions, "SELECT key FROM rate_limit_windows") == []


@pytest.mark.parametrize("server_overrides", [LIMITED])
async def test_too_many_lookups_for_one_email_are_refused_even_when_right(
    shopper: Shopper,
) -> None:
    for n in range(3):  # other orders, from other addresses: only the e-mail is shared
        page = await lookup(shopper, f"900{n}", "ann@example.com", client_ip=f"10.0.0.{n + 1}")
        assert page.status_code == 400

    refused = await lookup(shopper, "1001", "ann@example.com", client_ip="10.0.0.9")

    assert refused.status_code == 429
    assert error_of(refused) == (
        "Too many attempts. For your security, please wait 1440 minutes and try again."
    )
    assert (await shopper.http.get("/returns/order")).status_code == 303  # no session
    # Someone else, from elsewhere, is not held up.
    other = await lookup(shopper, "1002", "bob@example.com", client_ip="10.0.0.10")
    assert other.status_code == 303


@pytest.mark.parametrize("server_overrides", [LIMITED])
async def test_too_many_lookups_of_one_order_number_are_refused_even_when_right(
    shopper: Shopper,
) -> None:
    for n in range(3):  # guessing the e-mail of one order, from a different address each time
        page = await lookup(shopper, "1001", f"guess{n}@example.com", client_ip=f"10.0.1.{n + 1}")
        assert page.status_code == 400

    refused = await lookup(shopper, "1001", "ann@example.com", client_ip="10.0.1.9")

    assert refused.status_code == 429
    assert TOO_MANY in error_of(refused)
    other = await lookup(shopper, "1002", "bob@example.com", client_ip="10.0.1.10")
    assert other.status_code == 303


@pytest.mark.parametrize("server_overrides", [LIMITED])
async def test_too_many_lookups_from_one_address_are_refused_even_when_right(
    shopper: Shopper,
) -> None:
    for n in range(3):  # a different order and e-mail each time, from one address
        page = await lookup(shopper, f"800{n}", f"who{n}@example.com", client_ip="10.0.2.1")
        assert page.status_code == 400

    refused = await lookup(shopper, "1001", "ann@example.com", client_ip="10.0.2.1")

    assert refused.status_code == 429
    assert TOO_MANY in error_of(refused)
    elsewhere = await lookup(shopper, "1001", "ann@example.com", client_ip="10.0.2.2")
    assert elsewhere.status_code == 303


@pytest.mark.parametrize("server_overrides", [LIMITED])
async def test_tracking_a_return_counts_against_the_same_email(
    shopper: Shopper, client: httpx.AsyncClient
) -> None:
    number = (await post_return(client))["number"]
    for n in range(3):
        page = await lookup(shopper, f"700{n}", "ann@example.com", client_ip=f"10.0.3.{n + 1}")
        assert page.status_code == 400
    form = await shopper.http.get("/returns")

    refused = await shopper.http.post(
        "/returns/track",
        data={"csrf": csrf_of(form), "rma": number, "email": "ann@example.com"},
        headers={"X-Forwarded-For": "10.0.3.9"},
    )

    assert refused.status_code == 429
    assert TOO_MANY in error_of(refused)


async def test_attempt_counters_hold_no_email_order_number_or_address_in_clear(
    shopper: Shopper, sessions: Sessions
) -> None:
    await lookup(shopper, "1001", "Ann@Example.com", client_ip="10.9.8.7")

    keys = [key for (key,) in await rows(sessions, "SELECT key FROM rate_limit_windows")]

    assert len(keys) == 3
    assert sorted(key.split(":")[0] for key in keys) == ["client", "email", "order"]
    for key in keys:
        assert re.fullmatch(r"(client|email|order):[0-9a-f]{40}", key), key
        for clear in ("ann", "example", "1001", "10.9.8.7"):
            assert clear not in key.lower()


async def test_tracking_with_the_rma_and_email_opens_the_status_page(
    shopper: Shopper, client: httpx.AsyncClient
) -> None:
    number = (await post_return(client))["number"]
    await shopper.get("/returns")

    # Typed the way people do: lower case, spaces, no dashes.
    typed = number.lower().replace("-", " ")
    page = await shopper.submit("/returns/track", {"rma": typed, "email": "ANN@example.com"})

    assert page.status_code == 200
    assert str(page.url).endswith(f"/returns/r/{number}")
    assert f'<span class="rma">{number}</span>' in page.text
    # The session now belongs to that order.
    assert (await shopper.http.get("/returns/order")).status_code == 200


async def test_tracking_with_a_wrong_email_or_unknown_rma_answers_alike(
    shopper: Shopper, client: httpx.AsyncClient
) -> None:
    number = (await post_return(client))["number"]
    page = await shopper.get("/returns")
    token = csrf_of(page)

    wrong = await shopper.http.post(
        "/returns/track", data={"csrf": token, "rma": number, "email": "bob@example.com"}
    )
    unknown = await shopper.http.post(
        "/returns/track",
        data={"csrf": token, "rma": "RMA-22222-22222", "email": "ann@example.com"},
    )

    assert wrong.status_code == unknown.status_code == 400
    assert error_of(wrong) == error_of(unknown)
    assert "couldn't find a return with that number and e-mail address" in error_of(wrong)
    assert (await shopper.http.get(f"/returns/r/{number}")).status_code == 303


@pytest.mark.parametrize(
    ("rma", "email"), [("", "ann@example.com"), ("RMA-123", "ann@example.com"), ("x" * 40, "a@b")]
)
async def test_tracking_with_a_malformed_rma_or_no_email_says_what_to_enter(
    shopper: Shopper, rma: str, email: str
) -> None:
    page = await shopper.get("/returns")

    answer = await shopper.http.post(
        "/returns/track", data={"csrf": csrf_of(page), "rma": rma, "email": email}
    )

    assert answer.status_code == 400
    assert "Enter your RMA number (like RMA-7KQ3X-M9P2D) and your e-mail." in error_of(answer)


async def test_tracking_with_an_rma_but_no_email_says_what_to_enter(shopper: Shopper) -> None:
    page = await shopper.get("/returns")

    answer = await shopper.http.post(
        "/returns/track", data={"csrf": csrf_of(page), "rma": "RMA-22222-22222", "email": " "}
    )

    assert answer.status_code == 400
    assert "Enter your RMA number" in error_of(answer)


@pytest.mark.parametrize(
    "server_overrides",
    [{**PORTAL_POLICY, "lookup_limit": 1, "lookup_window_minutes": 7 * 24 * 60}],
)
async def test_the_refusal_says_how_long_to_wait_as_configured(shopper: Shopper) -> None:
    await lookup(shopper, "9000", "ann@example.com")

    refused = await lookup(shopper, "1001", "ann@example.com")

    assert refused.status_code == 429
    assert "please wait 10080 minutes and try again" in error_of(refused)


async def test_what_was_typed_is_shown_back_as_text_never_as_markup(shopper: Shopper) -> None:
    page = await lookup(shopper, '"><script>alert(1)</script>', "ann@example.com")

    assert page.status_code == 400
    assert "<script>alert(1)" not in page.text
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page.text
