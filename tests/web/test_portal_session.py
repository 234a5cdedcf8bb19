"""The portal session: a signed, expiring cookie that sees one order and nothing else."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.web.conftest import LiveServer
from tests.web.portal_support import (
    COOKIE,
    FORM_EXPIRED,
    PORTAL_POLICY,
    Sessions,
    Shopper,
    csrf_of,
    portal_browser,
    portal_unchanged,
    said,
    seed_portal_order,
    session_cookie,
)
from tests.web.support import post_return

SESSION_ENDED = "Your session ended to keep your order safe."


@pytest.fixture
def server_overrides() -> dict[str, Any]:
    return dict(PORTAL_POLICY)


@pytest.fixture
async def shopper(live_server: LiveServer, client: httpx.AsyncClient) -> AsyncIterator[Shopper]:
    await seed_portal_order(client)
    await seed_portal_order(client, "1002", email="bob@example.com")
    async with portal_browser(live_server.url) as shopper:
        yield shopper


def with_cookie(shopper: Shopper, value: str) -> None:
    shopper.http.cookies.clear()
    shopper.http.cookies.set(COOKIE, value, domain="127.0.0.1", path="/returns")


async def test_the_session_cookie_is_http_only_same_site_and_kept_to_the_portal(
    shopper: Shopper,
) -> None:
    page = await shopper.get("/returns")

    cookie = page.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/returns" in attributes
    assert "max-age=1800" in attributes  # portal_session_minutes = 30
    assert "secure" not in attributes  # plain HTTP in tests; see the next test


@pytest.mark.parametrize(
    "server_overrides", [{**PORTAL_POLICY, "cookie_secure": True, "portal_session_minutes": 5}]
)
async def test_the_session_cookie_is_secure_when_configured(shopper: Shopper) -> None:
    page = await shopper.get("/returns")

    attributes = {part.strip().lower() for part in page.headers["set-cookie"].split(";")[1:]}
    assert "secure" in attributes
    assert "max-age=300" in attributes


async def test_the_session_cookie_is_secure_on_a_request_that_came_over_https(
    shopper: Shopper,
) -> None:
    # What a TLS-terminating proxy in front (trusted: on this host) says.
    shopper.http.headers["X-Forwarded-Proto"] = "https"
    page = await shopper.get("/returns")
    # The client, on plain HTTP, keeps a Secure cookie to itself: hand it over as a browser
    # on HTTPS would.
    found = await shopper.http.post(
        "/returns/lookup",
        data={"csrf": csrf_of(page), "order_number": "1001", "email": "ann@example.com"},
        headers={"Cookie": f"{COOKIE}={page.cookies[COOKIE]}"},
    )

    assert found.status_code == 303, said(found)
    for answer in (page, found):
        cookie = answer.headers["set-cookie"]
        attributes = [part.strip().lower() for part in cookie.split(";")[1:]]
        assert attributes.count("secure") == 1, cookie


async def test_portal_pages_may_not_be_framed_by_another_site(shopper: Shopper) -> None:
    pages = [
        await shopper.get("/returns"),
        await shopper.look_up(),
        await shopper.get("/returns/r/RMA-22222-22222"),
    ]

    assert [page.status_code for page in pages][:2] == [200, 200]
    for page in pages:
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["content-security-policy"] == "frame-ancestors 'none'"


async def test_a_cookie_signed_with_another_key_is_no_session(shopper: Shopper) -> None:
    with_cookie(shopper, session_cookie({"c": "x" * 32, "o": "1001", "d": {}}, secret="guess"))

    page = await shopper.http.get("/returns/order")

    assert page.status_code == 303
    assert page.headers["location"].startswith("/returns")
    assert "Tee (M)" not in page.text


async def test_an_edited_cookie_is_no_session(shopper: Shopper) -> None:
    await shopper.look_up()
    value = shopper.cookie
    assert value is not None
    payload, _, signature = value.partition(".")
    # Flip one character of the payload, then one in the middle of the signature: the
    # last base64 character can carry padding bits, so changing it may not change the bytes.
    middle = len(value) - 5
    for edited in (
        ("A" if payload[1] != "A" else "B").join((payload[:1], payload[2:])) + "." + signature,
        value[:middle] + ("A" if value[middle] != "A" else "B") + value[middle + 1 :],
    ):
        with_cookie(shopper, edited)
        page = await shopper.http.get("/returns/order")
        assert page.status_code == 303, edited
        assert "Tee (M)" not in page.text


async def test_a_lapsed_session_sends_the_shopper_back_to_look_up_with_a_notice(
    shopper: Shopper,
) -> None:
    lapsed = time.time() - 31 * 60  # the session lasts 30 quiet minutes
    with_cookie(shopper, session_cookie({"c": "t" * 32, "o": "1001", "d": {}}, signed_at=lapsed))

    page = await shopper.http.get("/returns/order")

    assert page.status_code == 303
    assert page.headers["location"] == "/returns?expired=1"
    notice = await shopper.http.get(page.headers["location"])
    assert SESSION_ENDED in said(notice)
    # The lapsed session is gone for good: the order page needs a new lookup.
    assert (await shopper.http.get("/returns/order")).status_code == 303


async def test_the_lookup_page_itself_says_a_lapsed_session_ended(shopper: Shopper) -> None:
    lapsed = time.time() - 3600
    with_cookie(shopper, session_cookie({"c": "t" * 32, "o": "1001", "d": {}}, signed_at=lapsed))

    page = await shopper.get("/returns")

    assert page.status_code == 200
    assert SESSION_ENDED in said(page)


async def test_a_session_in_use_stays_alive(shopper: Shopper) -> None:
    recent = time.time() - 29 * 60
    with_cookie(shopper, session_cookie({"c": "t" * 32, "o": "1001", "d": {}}, signed_at=recent))

    page = await shopper.get("/returns/order")

    assert page.status_code == 200
    assert "Order 1001" in page.text
    assert page.headers["set-cookie"].startswith(f"{COOKIE}=")  # re-signed: 30 more minutes


async def test_looking_up_an_order_gives_a_new_form_token(
    shopper: Shopper, sessions: Sessions, live_server: LiveServer
) -> None:
    before = csrf_of(await shopper.get("/returns"))
    found = await shopper.look_up()
    after = csrf_of(found)

    assert before != after
    async with portal_unchanged(sessions, live_server.settings.files_dir):
        stale = await shopper.http.post(
            "/returns/order", data={"csrf": before, "pick-1": "1", "qty-1": "1"}
        )
    assert stale.status_code == 403
    assert FORM_EXPIRED in stale.text


async def test_logging_out_ends_the_session(shopper: Shopper) -> None:
    found = await shopper.look_up()

    out = await shopper.http.post("/returns/logout", data={"csrf": csrf_of(found)})

    assert out.status_code == 303 and out.headers["location"] == "/returns"
    assert (await shopper.http.get("/returns/order")).status_code == 303


async def test_a_session_for_one_order_cannot_see_or_cancel_another_orders_return(
    shopper: Shopper, client: httpx.AsyncClient, sessions: Sessions, live_server: LiveServer
) -> None:
    theirs = (await post_return(client, "1002"))["number"]
    page = await shopper.look_up()  # ann's order 1001

    seen = await shopper.http.get(f"/returns/r/{theirs}")
    qr = await shopper.http.get(f"/returns/r/{theirs}/qr.svg")
    async with portal_unchanged(sessions, live_server.settings.files_dir):
        cancel = await shopper.http.post(
            f"/returns/r/{theirs}/cancel", data={"csrf": csrf_of(page)}
        )

    for answer in (seen, qr, cancel):
        assert answer.status_code == 404
        assert "Return not found" in answer.text
        assert theirs not in answer.text


@pytest.mark.parametrize(
    "number", ["RMA-22222-22222", "RMA-123", "nothing", "RMA-%2E%2E-%2E%2E", "x" * 200]
)
async def test_an_unknown_or_malformed_rma_is_not_found(shopper: Shopper, number: str) -> None:
    await shopper.look_up()

    page = await shopper.http.get(f"/returns/r/{number}")

    assert page.status_code == 404
    assert "Return not found" in page.text


async def test_without_a_session_a_return_page_asks_for_a_lookup(
    shopper: Shopper, client: httpx.AsyncClient
) -> None:
    number = (await post_return(client))["number"]

    for path in (f"/returns/r/{number}", f"/returns/r/{number}/qr.svg", "/returns/order"):
        page = await shopper.http.get(path)
        assert page.status_code == 303, path
        assert page.headers["location"].startswith("/returns?"), path
