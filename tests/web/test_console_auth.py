"""Signing in to the staff console, sessions, and what each role may open: over real HTTP, on
SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text

from reclaim.db import transaction
from reclaim.kit import clock
from reclaim.users import staff
from reclaim.users.roles import Role
from tests.web.conftest import LiveServer
from tests.web.console_support import (
    COOKIE,
    FORM_EXPIRED,
    LOGIN_COOKIE,
    PASSWORD,
    Console,
    Sessions,
    console_unchanged,
    csrf_of,
    make_staff,
    signed_in,
    visitor,
    words,
)

REFUSED = "That e-mail address and password don't match an active staff account."
LOGIN_ERROR = re.compile(r'id="login-error">([^<]*)<')


def _login_error(page: httpx.Response) -> str:
    found = LOGIN_ERROR.search(page.text)
    assert found, words(page)
    return found.group(1).replace("&#39;", "'")


def _sent_to_login(answer: httpx.Response) -> dict[str, list[str]]:
    assert answer.status_code == 303, words(answer)
    where = urlsplit(answer.headers["location"])
    assert where.path == "/console/login", answer.headers["location"]
    return parse_qs(where.query)


async def _rows(sessions: Sessions, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    async with sessions() as session:
        return [tuple(row) for row in (await session.execute(text(sql), params)).all()]


# --- signing in -------------------------------------------------------------------------------


async def test_signing_in_opens_a_brand_new_session_and_a_planted_cookie_is_worthless(
    live_server: LiveServer, sessions: Sessions
) -> None:
    account = await make_staff(sessions, Role.AGENT, name="Ann Agent")
    async with visitor(live_server.url) as browser:
        planted = "p" * 43
        browser.http.cookies.set(COOKIE, planted, path="/console")
        form = await browser.get("/console/login")
        before = form.cookies.get(LOGIN_COOKIE)

        answer = await browser.log_in(account.email, account.password)

        assert answer.status_code == 303 and answer.headers["location"] == "/console"
        issued = answer.cookies.get(COOKIE)
        assert issued and issued not in (planted, before)
        queue = await browser.get("/console")
        assert queue.status_code == 200 and "Ann Agent" in words(queue)
    async with visitor(live_server.url) as attacker:
        attacker.http.cookies.set(COOKIE, planted, path="/console")
        _sent_to_login(await attacker.get("/console"))


async def test_signing_in_again_replaces_the_session_the_browser_held(
    live_server: LiveServer, sessions: Sessions
) -> None:
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        first = agent.cookie or ""
        assert agent.account is not None
        # A sign-in form opened in another tab before, sent while the session is live.
        async with visitor(live_server.url) as tab:
            form = await tab.get("/console/login")
        again = await agent.http.post(
            "/console/login",
            data={
                "csrf": csrf_of(form),
                "email": agent.account.email,
                "password": agent.account.password,
            },
            headers={"Cookie": f"{COOKIE}={first}; {LOGIN_COOKIE}={form.cookies[LOGIN_COOKIE]}"},
        )
        second = again.cookies.get(COOKIE)

        assert again.status_code == 303 and second and second != first
        assert (
            await agent.get("/console", headers={"Cookie": f"{COOKIE}={second}"})
        ).status_code == 200
    assert await _rows(sessions, "SELECT count(*) FROM staff_sessions") == [(1,)]
    async with visitor(live_server.url) as old:
        old.http.cookies.set(COOKIE, first, path="/console")
        _sent_to_login(await old.get("/console"))


async def test_the_cookie_is_http_only_same_site_lax_for_the_console_path_only(
    live_server: LiveServer, sessions: Sessions
) -> None:
    account = await make_staff(sessions, Role.ANALYST)
    async with visitor(live_server.url) as browser:
        answer = await browser.log_in(account.email, account.password)
    header = next(v for v in answer.headers.get_list("set-cookie") if v.startswith(f"{COOKIE}="))
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")}
    assert {"httponly", "path", "samesite"} <= attributes
    assert "Path=/console" in header and "SameSite=lax" in header
    assert "secure" not in attributes  # cookie_secure is off in the test server


@pytest.mark.parametrize("server_overrides", [{"cookie_secure": True}])
async def test_the_cookies_are_secure_when_settings_say_so(
    live_server: LiveServer, sessions: Sessions
) -> None:
    account = await make_staff(sessions, Role.ANALYST)
    async with visitor(live_server.url) as browser:
        form = await browser.get("/console/login")
        # The test server speaks plain HTTP, so the client won't send a Secure cookie back itself.
        answer = await browser.http.post(
            "/console/login",
            data={"csrf": csrf_of(form), "email": account.email, "password": account.password},
            headers={"Cookie": f"{LOGIN_COOKIE}={form.cookies[LOGIN_COOKIE]}"},
        )
    assert answer.status_code == 303, words(answer)
    for sent in (form, answer):
        for header in sent.headers.get_list("set-cookie"):
            if "Max-Age=0" not in header:
                assert "Secure" in header, header


async def test_the_cookies_are_secure_on_a_request_that_came_over_https(
    live_server: LiveServer, sessions: Sessions
) -> None:
    account = await make_staff(sessions, Role.ANALYST)
    async with visitor(live_server.url) as browser:
        # What a TLS-terminating proxy in front (trusted: on this host) says.
        browser.http.headers["X-Forwarded-Proto"] = "https"
        form = await browser.get("/console/login")
        answer = await browser.http.post(
            "/console/login",
            data={"csrf": csrf_of(form), "email": account.email, "password": account.password},
            headers={"Cookie": f"{LOGIN_COOKIE}={form.cookies[LOGIN_COOKIE]}"},
        )
    assert answer.status_code == 303, words(answer)
    sent = [header for page in (form, answer) for header in page.headers.get_list("set-cookie")]
    assert {header.split("=")[0] for header in sent} == {LOGIN_COOKIE, COOKIE}
    for header in sent:
        assert header.count("Secure") == 1 or "Max-Age=0" in header, header


async def test_console_pages_may_not_be_framed_by_another_site(
    live_server: LiveServer, sessions: Sessions
) -> None:
    async with visitor(live_server.url) as browser:
        pages = [await browser.get("/console/login")]
    async with signed_in(live_server.url, sessions, Role.ANALYST) as analyst:
        pages += [await analyst.get("/console"), await analyst.get("/console/deliveries")]
    for page in pages:
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["content-security-policy"] == "frame-ancestors 'none'"


async def test_only_a_hash_of_the_session_token_is_stored(
    live_server: LiveServer, sessions: Sessions
) -> None:
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        token = agent.cookie or ""
    stored = await _rows(sessions, "SELECT token_hash, csrf FROM staff_sessions")
    assert stored == [(hashlib.sha256(token.encode()).hexdigest(), agent.csrf)]


async def test_a_wrong_password_an_unknown_email_and_a_disabled_account_get_one_answer(
    live_server: LiveServer, sessions: Sessions
) -> None:
    account = await make_staff(sessions, Role.AGENT)
    gone = await make_staff(sessions, Role.AGENT)
    async with transaction(sessions) as session:
        await staff.disable_user(session, gone.email)
    async with visitor(live_server.url) as browser:
        answers = [
            await browser.log_in(account.email, "not the password at all"),
            await browser.log_in("nobody@staff.test", PASSWORD),
            await browser.log_in(gone.email, gone.password),
        ]
        assert [a.status_code for a in answers] == [400, 400, 400]
        assert {_login_error(a) for a in answers} == {REFUSED}
        assert browser.cookie is None
    assert await _rows(sessions, "SELECT count(*) FROM staff_sessions") == [(0,)]


async def test_the_email_is_matched_whatever_its_case_and_spacing(
    live_server: LiveServer, sessions: Sessions
) -> None:
    account = await make_staff(sessions, Role.AGENT, email="mixed@staff.test")
    async with visitor(live_server.url) as browser:
        answer = await browser.log_in("  Mixed@Staff.TEST ", account.password)
    assert answer.status_code == 303


async def test_an_empty_form_asks_for_both_fields(live_server: LiveServer) -> None:
    async with visitor(live_server.url) as browser:
        answer = await browser.log_in("", "")
    assert answer.status_code == 400
    assert _login_error(answer) == "Enter your e-mail address and password."


@asynccontextmanager
async def at_address(url: str, address: str) -> AsyncIterator[Console]:
    """A browser at its own client address, as the trusted proxy in front says."""
    async with visitor(url) as browser:
        browser.http.headers["X-Forwarded-For"] = address
        yield browser


async def _sign_in_attempts(sessions: Sessions) -> int:
    hits = await _rows(sessions, "SELECT coalesce(sum(hits), 0) FROM rate_limit_windows")
    return int(hits[0][0])


@pytest.mark.parametrize("server_overrides", [{"console_login_limit": 3}])
async def test_failed_sign_ins_are_limited_per_email_address_and_client(
    live_server: LiveServer, sessions: Sessions
) -> None:
    account = await make_staff(sessions, Role.AGENT)
    other = await make_staff(sessions, Role.AGENT)
    async with at_address(live_server.url, "203.0.113.7") as guesser:
        for _ in range(3):
            assert (await guesser.log_in(account.email, "a wrong password!")).status_code == 400
        refused = await guesser.log_in(account.email, account.password)
        assert refused.status_code == 429
        assert "Too many sign-in attempts" in _login_error(refused)
        assert guesser.cookie is None
        # Someone else at the same address still gets in.
        assert (await guesser.log_in(other.email, other.password)).status_code == 303
    # And so does the account's owner, from anywhere else.
    async with at_address(live_server.url, "198.51.100.20") as owner:
        assert (await owner.log_in(account.email, account.password)).status_code == 303


@pytest.mark.parametrize("server_overrides", [{"console_login_limit": 2}])
async def test_no_one_else_s_wrong_guesses_lock_an_account_s_owner_out(
    live_server: LiveServer, sessions: Sessions
) -> None:
    admin = await make_staff(sessions, Role.ADMIN)
    for n in range(6):
        async with at_address(live_server.url, f"203.0.113.{n + 1}") as attacker:
            for _ in range(3):
                answer = await attacker.log_in(admin.email, "a wrong password!")
            assert answer.status_code == 429
    async with at_address(live_server.url, "198.51.100.20") as owner:
        assert (await owner.log_in(admin.email, admin.password)).status_code == 303


@pytest.mark.parametrize("server_overrides", [{"console_login_limit": 1}])
async def test_failed_sign_ins_are_limited_per_client_address(
    live_server: LiveServer, sessions: Sessions
) -> None:
    account = await make_staff(sessions, Role.AGENT)
    async with at_address(live_server.url, "203.0.113.7") as browser:
        # One failure per e-mail address, five per client.
        for n in range(5):
            answer = await browser.log_in(f"guess{n}@staff.test", "a wrong password!")
            assert answer.status_code == 400
        refused = await browser.log_in(account.email, account.password)
    assert refused.status_code == 429
    async with at_address(live_server.url, "203.0.113.8") as elsewhere:
        assert (await elsewhere.log_in(account.email, account.password)).status_code == 303


@pytest.mark.parametrize("server_overrides", [{"console_login_limit": 1}])
async def test_signing_in_successfully_counts_as_no_attempt(
    live_server: LiveServer, sessions: Sessions
) -> None:
    account = await make_staff(sessions, Role.AGENT)
    # More than the five a client may fail: a warehouse signing its shift in.
    for _ in range(7):
        async with visitor(live_server.url) as shift:
            assert (await shift.log_in(account.email, account.password)).status_code == 303
    assert await _sign_in_attempts(sessions) == 0
    async with visitor(live_server.url) as browser:
        assert (await browser.log_in(account.email, "a wrong password!")).status_code == 400
        assert await _sign_in_attempts(sessions) == 2  # this e-mail from here; here in all
        refused = await browser.log_in(account.email, "another wrong one!")
        assert refused.status_code == 429
        assert await _sign_in_attempts(sessions) == 2  # a refusal counts for nothing


async def test_after_signing_in_the_visitor_lands_on_the_page_they_asked_for(
    live_server: LiveServer, sessions: Sessions
) -> None:
    account = await make_staff(sessions, Role.AGENT)
    async with visitor(live_server.url) as browser:
        asked = await browser.get("/console/search?q=ann")
        assert _sent_to_login(asked) == {"next": ["/console/search?q=ann"]}
        page = await browser.get(asked.headers["location"])
        assert 'name="next" value="/console/search?q=ann"' in page.text
        answer = await browser.log_in(account.email, account.password, next="/console/search?q=ann")
        assert answer.headers["location"] == "/console/search?q=ann"


@pytest.mark.parametrize(
    "elsewhere", ["https://evil.example/", "//evil.example/console", "/returns", "/consoles"]
)
async def test_signing_in_never_sends_the_browser_off_the_console(
    live_server: LiveServer, sessions: Sessions, elsewhere: str
) -> None:
    account = await make_staff(sessions, Role.AGENT)
    async with visitor(live_server.url) as browser:
        answer = await browser.log_in(account.email, account.password, next=elsewhere)
    assert answer.headers["location"] == "/console"


async def test_a_signed_in_visit_to_the_sign_in_page_goes_to_the_queue(
    live_server: LiveServer, sessions: Sessions
) -> None:
    async with signed_in(live_server.url, sessions, Role.ANALYST) as analyst:
        answer = await analyst.get("/console/login")
    assert answer.status_code == 303 and answer.headers["location"] == "/console"


# --- signing out and sessions ending ----------------------------------------------------------


async def test_signing_out_ends_the_session_even_for_a_copy_of_the_cookie(
    live_server: LiveServer, sessions: Sessions
) -> None:
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        copied = agent.cookie or ""
        answer = await agent.post("/console/logout")
        assert answer.status_code == 303 and answer.headers["location"] == "/console/login"
        assert agent.cookie is None
        page = await agent.get("/console/login")
        assert "You are signed out" in words(page)
    assert await _rows(sessions, "SELECT count(*) FROM staff_sessions") == [(0,)]
    async with visitor(live_server.url) as replay:
        replay.http.cookies.set(COOKIE, copied, path="/console")
        assert _sent_to_login(await replay.get("/console")) == {
            "next": ["/console"],
            "ended": ["1"],
        }


@pytest.mark.parametrize("server_overrides", [{"console_idle_minutes": 30}])
async def test_a_session_unused_for_the_idle_time_ends(
    live_server: LiveServer, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        later = clock.utcnow() + timedelta(minutes=31)
        monkeypatch.setattr(clock, "utcnow", lambda: later)

        answer = await agent.get("/console")

        assert _sent_to_login(answer)["ended"] == ["1"]
        assert agent.cookie is None  # the lapsed cookie is cleared too
        page = await agent.get(answer.headers["location"])
        assert "Your session has ended" in words(page)
    assert await _rows(sessions, "SELECT count(*) FROM staff_sessions") == [(0,)]


@pytest.mark.parametrize("server_overrides", [{"console_idle_minutes": 30, "console_max_hours": 1}])
async def test_a_busy_session_keeps_going_until_its_lifetime_is_up(
    live_server: LiveServer, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        start = clock.utcnow()
        for minutes in (20, 40, 59):  # each visit well within 30 minutes of the last
            monkeypatch.setattr(clock, "utcnow", lambda m=minutes: start + timedelta(minutes=m))
            assert (await agent.get("/console")).status_code == 200, minutes

        monkeypatch.setattr(clock, "utcnow", lambda: start + timedelta(minutes=61))
        assert _sent_to_login(await agent.get("/console"))["ended"] == ["1"]


async def test_disabling_an_account_signs_it_out_at_once(
    live_server: LiveServer, sessions: Sessions
) -> None:
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        assert agent.account is not None
        async with transaction(sessions) as session:
            await staff.disable_user(session, agent.account.email)
        _sent_to_login(await agent.get("/console"))
        again = await agent.log_in(agent.account.email, agent.account.password)
        assert again.status_code == 400 and _login_error(again) == REFUSED


# --- forms and roles --------------------------------------------------------------------------


@pytest.mark.parametrize("sent", ["", "not-the-token"])
async def test_the_sign_in_form_without_its_token_is_refused_and_counts_nothing(
    live_server: LiveServer, sessions: Sessions, sent: str
) -> None:
    account = await make_staff(sessions, Role.AGENT)
    async with visitor(live_server.url) as browser:
        await browser.get("/console/login")
        async with console_unchanged(sessions):
            fields = {"email": account.email, "password": account.password}
            answer = await browser.http.post(
                "/console/login", data={**fields, **({"csrf": sent} if sent else {})}
            )
        assert answer.status_code == 403 and FORM_EXPIRED in words(answer)
        assert browser.cookie is None
    assert await _rows(sessions, "SELECT count(*) FROM rate_limit_windows") == [(0,)]


async def test_the_sign_in_token_belongs_to_the_browser_it_was_given_to(
    live_server: LiveServer, sessions: Sessions
) -> None:
    account = await make_staff(sessions, Role.AGENT)
    async with visitor(live_server.url) as attacker, visitor(live_server.url) as victim:
        token = csrf_of(await attacker.get("/console/login"))
        await victim.get("/console/login")
        answer = await victim.http.post(
            "/console/login",
            data={"csrf": token, "email": account.email, "password": account.password},
        )
    assert answer.status_code == 403


@pytest.mark.parametrize("sent", ["", "not-the-token"])
async def test_signing_out_without_the_token_is_refused_and_the_session_lives_on(
    live_server: LiveServer, sessions: Sessions, sent: str
) -> None:
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        async with console_unchanged(sessions):
            answer = await agent.post("/console/logout", csrf=sent)
        assert answer.status_code == 403 and FORM_EXPIRED in words(answer)
        assert (await agent.get("/console")).status_code == 200


async def test_a_visitor_is_sent_to_sign_in_from_every_page(live_server: LiveServer) -> None:
    async with visitor(live_server.url) as browser:
        for path in (
            "/console",
            "/console/queue/review",
            "/console/search?q=x",
            "/console/returns/RMA-7KQ3X-M9P2D",
            "/console/deliveries",
        ):
            _sent_to_login(await browser.get(path))
        # A form can't be replayed after signing in, so its way back is the queue.
        posted = await browser.post("/console/returns/RMA-7KQ3X-M9P2D/approve", csrf="x")
        assert _sent_to_login(posted) == {"next": ["/console"]}


async def test_a_role_without_the_permission_gets_a_page_naming_the_roles_that_have_it(
    live_server: LiveServer, sessions: Sessions
) -> None:
    async with signed_in(live_server.url, sessions, Role.ANALYST, name="Andy") as analyst:
        page = await analyst.get("/console/deliveries")
    assert page.status_code == 403
    said = words(page)
    assert "you need the admin or agent role" in said
    assert "signed in as Andy (analyst)" in said


NAV = {
    Role.ADMIN: [
        "Work queue",
        "Station",
        "Inventory",
        "Work orders",
        "Manifests",
        "Batch",
        "Refunds",
        "Deliveries",
        "Analytics",
    ],
    Role.AGENT: [
        "Work queue",
        "Inventory",
        "Work orders",
        "Manifests",
        "Refunds",
        "Deliveries",
        "Analytics",
    ],
    Role.INSPECTOR: ["Work queue", "Station", "Inventory", "Work orders", "Manifests", "Batch"],
    Role.ANALYST: ["Work queue", "Inventory", "Work orders", "Manifests", "Analytics"],
}


@pytest.mark.parametrize("role", list(Role))
async def test_the_menu_offers_only_what_the_role_may_use(
    live_server: LiveServer, sessions: Sessions, role: Role
) -> None:
    async with signed_in(live_server.url, sessions, role) as someone:
        page = await someone.get("/console")
    menu = re.search(r'<nav class="nav"[^>]*>(.*?)</nav>', page.text, re.S)
    assert menu, page.text
    assert re.findall(r">([^<>]+)</a>", menu.group(1)) == NAV[role]


async def test_console_pages_are_never_cached(live_server: LiveServer, sessions: Sessions) -> None:
    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        page: httpx.Response = await agent.get("/console")
    assert page.headers["cache-control"] == "no-store"
