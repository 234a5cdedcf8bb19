"""Every portal form refuses a post that doesn't carry the token of the page we showed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.web.conftest import LiveServer
from tests.web.portal_support import (
    FORM_EXPIRED,
    PORTAL_POLICY,
    Sessions,
    Shopper,
    csrf_of,
    portal_browser,
    portal_unchanged,
    seed_portal_order,
    session_data,
)

pytestmark = pytest.mark.parametrize("server_overrides", [PORTAL_POLICY])


@pytest.fixture
async def shopper(live_server: LiveServer, client: httpx.AsyncClient) -> AsyncIterator[Shopper]:
    await seed_portal_order(client)
    async with portal_browser(live_server.url) as shopper:
        yield shopper


async def ready(shopper: Shopper) -> dict[str, Any]:
    """A shopper with a return already made and another one ready to confirm, so that every
    form below would change something if it were accepted; the form bodies to try."""
    await shopper.look_up()
    status = await shopper.start_return()
    number = str(status.url).rsplit("/", 1)[-1].split("?")[0]
    await shopper.get("/returns/order")
    await shopper.prepare_return()
    return {
        "/returns/lookup": {"order_number": "1001", "email": "ann@example.com"},
        "/returns/track": {"rma": number, "email": "ann@example.com"},
        "/returns/logout": {},
        "/returns/order": {"pick-1": "1", "qty-1": "1"},
        "/returns/reasons": {"reason-1": "too_large"},
        "/returns/resolution": {"resolution": "store_credit"},
        "/returns/method": {"method": "prepaid_label"},
        "/returns/confirm": {},
        f"/returns/r/{number}/cancel": {},
    }


FORMS = [
    "/returns/lookup",
    "/returns/track",
    "/returns/logout",
    "/returns/order",
    "/returns/reasons",
    "/returns/resolution",
    "/returns/method",
    "/returns/confirm",
    "cancel",
]


@pytest.mark.parametrize("form", FORMS)
async def test_a_form_posted_without_its_token_or_with_a_wrong_one_is_refused(
    shopper: Shopper, sessions: Sessions, live_server: LiveServer, form: str
) -> None:
    bodies = await ready(shopper)
    path = next(p for p in bodies if p == form or p.endswith(f"/{form}"))
    token = csrf_of(shopper.page)  # type: ignore[arg-type]
    session_before = session_data(shopper.cookie)

    async with portal_unchanged(sessions, live_server.settings.files_dir):
        for sent in ({}, {"csrf": ""}, {"csrf": token[:-1]}, {"csrf": "x" * len(token)}):
            answer = await shopper.http.post(path, data={**bodies[path], **sent})
            assert answer.status_code == 403, (sent, answer.text)
            assert FORM_EXPIRED in answer.text
            assert "Go back, reload the page and try again." in answer.text

    # The session is as it was: the confirm page still carries the same return and token.
    assert session_data(shopper.cookie) == session_before
    page = await shopper.get("/returns/confirm")
    assert page.status_code == 200 and csrf_of(page) == token


async def test_a_token_from_another_session_is_refused(
    shopper: Shopper, sessions: Sessions, live_server: LiveServer
) -> None:
    await shopper.look_up()
    await shopper.prepare_return()
    async with portal_browser(live_server.url) as other:
        theirs = csrf_of(await other.look_up())

    async with portal_unchanged(sessions, live_server.settings.files_dir):
        answer = await shopper.http.post("/returns/confirm", data={"csrf": theirs})

    assert answer.status_code == 403


async def test_a_post_without_any_session_is_refused(
    shopper: Shopper, sessions: Sessions, live_server: LiveServer
) -> None:
    async with portal_unchanged(sessions, live_server.settings.files_dir):
        answer = await shopper.http.post(
            "/returns/lookup",
            data={"csrf": "anything", "order_number": "1001", "email": "ann@example.com"},
        )

    assert answer.status_code == 403
    assert (await shopper.http.get("/returns/order")).status_code == 303
