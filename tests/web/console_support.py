"""Staff in the console, over real HTTP: accounts in the test's database, signed-in clients.

    async with signed_in(live_server.url, sessions, Role.AGENT) as agent:
        page = await agent.get("/console")
        done = await agent.post("/console/returns/RMA-…/approve", {"note": "ok"})

``signed_in`` makes a staff account of that role in the live server's database (the
``sessions`` fixture points at it), signs a fresh client in through the sign-in form, and
yields a :class:`Console`: the client with the session's CSRF token, which ``post`` adds to
every form. ``visitor`` is a client that never signed in. Each account costs one argon2 hash
(about a tenth of a second), so a test makes only the accounts it needs.
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.db import transaction
from reclaim.users import staff
from reclaim.users.roles import Role
from tests.web.support import snapshot

Sessions = async_sessionmaker[AsyncSession]
COOKIE = "reclaim_console"
LOGIN_COOKIE = "reclaim_console_login"
PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
FORM_EXPIRED = "This form has expired"


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, f"no CSRF token on {page.url} ({page.status_code})"
    return found.group(1)


def words(page: httpx.Response) -> str:
    """What the page says, as a reader sees it: tags dropped, entities decoded, spaces folded."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())


@dataclass(frozen=True, slots=True)
class Account:
    email: str
    password: str
    role: Role
    name: str


async def make_staff(
    sessions: Sessions,
    role: Role,
    *,
    email: str | None = None,
    password: str = PASSWORD,
    name: str | None = None,
) -> Account:
    """A staff account in the database (the e-mail is unique unless given)."""
    address = email or f"{role.value}-{secrets.token_hex(3)}@staff.test"
    shown = name or f"{role.value.title()} Tester"
    async with transaction(sessions) as session:
        await staff.create_user(
            session, email=address, name=shown, role=role.value, password=password
        )
    return Account(address, password, role, shown)


class Console:
    """A browser signed in to the console: its cookies, and the session's CSRF token."""

    def __init__(self, http: httpx.AsyncClient, account: Account | None) -> None:
        self.http = http
        self.account = account
        self.csrf = ""

    @property
    def cookie(self) -> str | None:
        return self.http.cookies.get(COOKIE)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.get(path, **kwargs)

    async def post(
        self,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        csrf: str | None = None,
        follow: bool = False,
    ) -> httpx.Response:
        """Send a form as the console's pages do: with the session's CSRF token, unless
        ``csrf`` says otherwise ("" leaves the field out)."""
        token = self.csrf if csrf is None else csrf
        fields = {**({"csrf": token} if token else {}), **(data or {})}
        return await self.http.post(path, data=fields, follow_redirects=follow)

    async def log_in(self, email: str, password: str, *, next: str | None = None) -> httpx.Response:
        """Fill in and send the sign-in form; the answer is not followed."""
        form = await self.http.get("/console/login")
        assert form.status_code == 200, form.text
        fields = {"csrf": csrf_of(form), "email": email, "password": password}
        if next is not None:
            fields["next"] = next
        return await self.http.post("/console/login", data=fields)

    async def sign_in(self) -> str:
        """Sign in as the account and learn the session's CSRF token from the queue page."""
        assert self.account is not None
        answer = await self.log_in(self.account.email, self.account.password)
        assert answer.status_code == 303, words(answer)
        queue = await self.http.get("/console")
        assert queue.status_code == 200, words(queue)
        self.csrf = csrf_of(queue)
        return self.csrf


@asynccontextmanager
async def visitor(base_url: str) -> AsyncIterator[Console]:
    """A browser that has not signed in."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        yield Console(http, None)


@asynccontextmanager
async def signed_in(
    base_url: str, sessions: Sessions, role: Role, **account: Any
) -> AsyncIterator[Console]:
    """A new staff account of the role (``account``: make_staff's options), signed in."""
    made = await make_staff(sessions, role, **account)
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        console = Console(http, made)
        await console.sign_in()
        yield console


async def console_state(sessions: Sessions) -> dict[str, Any]:
    """Everything a console form could change: the domain's rows, accounts and sessions,
    attention flags, receiving flags and deliveries."""
    state = await snapshot(sessions)
    queries = {
        "staff_users": "SELECT email, role, active, password_hash FROM staff_users ORDER BY id",
        "staff_sessions": "SELECT token_hash, user_id FROM staff_sessions ORDER BY id",
        "attention": "SELECT number, attention FROM returns ORDER BY id",
        "receiving_flags": "SELECT id, resolved_at, resolution FROM receiving_flags ORDER BY id",
        "deliveries": "SELECT id, status, next_attempt_at FROM deliveries ORDER BY id",
        "shipments": "SELECT count(*) FROM shipments",
    }
    async with sessions() as session:
        for name, sql in queries.items():
            state[name] = [tuple(row) for row in (await session.execute(text(sql))).all()]
    return state


@asynccontextmanager
async def console_unchanged(sessions: Sessions) -> AsyncIterator[None]:
    """The block's requests may be refused, but must leave the database as it was."""
    before = await console_state(sessions)
    yield
    after = await console_state(sessions)
    changed = {key: (before[key], after[key]) for key in before if before[key] != after[key]}
    assert not changed, f"a refused console request wrote to the database: {changed}"
