"""What every portal page shares: the session cookie, CSRF, rendering and error pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import RedirectResponse, Response

from reclaim.config import Settings
from reclaim.db import transaction
from reclaim.files.storage import FileStorage
from reclaim.policy.loader import LoadedPolicy
from reclaim.web.pages import templates
from reclaim.web.security import COOKIE, PortalSession, SessionCodec, csrf_ok

HOME = "/returns"


class PageError(Exception):
    """Stop and show a page: a refused form, an expired session, something not found."""

    def __init__(self, status: int, title: str, message: str, *, retry: str | None = None) -> None:
        super().__init__(message)
        self.status, self.title, self.message, self.retry = status, title, message, retry


class SessionExpired(Exception):
    pass


class Portal:
    """The request's view of the portal: its cookie session and the app's shared parts."""

    def __init__(self, request: Request) -> None:
        state = request.app.state
        self.request = request
        self.settings: Settings = state.settings
        self.policy: LoadedPolicy = state.policy
        self.codec: SessionCodec = state.portal_codec
        self.storage: FileStorage = state.storage
        self._sessions: async_sessionmaker[AsyncSession] = state.sessions
        self._read_sessions: async_sessionmaker[AsyncSession] = state.read_sessions
        self.session: PortalSession = self.codec.load(request.cookies.get(COOKIE))

    @asynccontextmanager
    async def db(self, *, write: bool = False) -> AsyncIterator[AsyncSession]:
        async with transaction(self._sessions if write else self._read_sessions) as session:
            yield session

    def order_id(self) -> str:
        """The order this session was opened for; a lapsed or missing session starts over."""
        if self.session.order_id is None:
            raise SessionExpired
        return self.session.order_id

    async def check_csrf(self) -> dict[str, Any]:
        form = await self.request.form()
        sent = form.get("csrf")
        if not csrf_ok(self.session, sent if isinstance(sent, str) else None):
            raise PageError(
                403,
                "This form has expired",
                "For your security the form can only be sent from the page we showed you. "
                "Go back, reload the page and try again.",
                retry=HOME,
            )
        return {key: form.getlist(key) for key in form}

    def render(self, name: str, context: dict[str, Any], status: int = 200) -> Response:
        response = templates.TemplateResponse(
            self.request,
            name,
            {"csrf": self.session.csrf, "session": self.session, **context},
            status_code=status,
        )
        self.codec.save(response, self.session)
        return response

    def redirect(self, url: str) -> Response:
        response = RedirectResponse(url, status_code=303)
        self.codec.save(response, self.session)
        return response


def first(form: dict[str, Any], key: str, default: str = "") -> str:
    values = form.get(key) or []
    value = values[0] if values else default
    return value if isinstance(value, str) else default


def error_page(request: Request, exc: PageError) -> Response:
    portal = Portal(request)
    return portal.render(
        "portal/error.html",
        {"title": exc.title, "message": exc.message, "retry": exc.retry},
        exc.status,
    )


def expired_page(request: Request) -> Response:
    portal = Portal(request)
    portal.session.rotate(None)
    return portal.redirect(f"{HOME}?expired=1")
