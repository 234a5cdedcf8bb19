"""Signing in and out of the console.

The sign-in form carries a token tied to a cookie of its own (the session doesn't exist yet),
so another site can't sign a browser in as someone else. Signing in always opens a brand-new
session: a session id planted in the browser beforehand is worthless after it.

Failed sign-ins are limited per client address, and per e-mail address from that client; a
sign-in that works counts for nothing. So a guesser can't lock an account's owner out from
elsewhere, and a warehouse signing its whole shift in from one address isn't refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import RedirectResponse, Response

from reclaim.config import Settings
from reclaim.db import transaction
from reclaim.errors import Unauthorized
from reclaim.kit import clock
from reclaim.users import staff as accounts
from reclaim.web import ratelimit
from reclaim.web.console.auth import (
    COOKIE,
    HOME,
    LOGIN,
    ConsoleRoute,
    StaleForm,
    clear_session_cookie,
    csrf_matches,
    current_staff,
    redirect,
    render,
    secret,
    session_terms,
    set_session_cookie,
)
from reclaim.web.models import RateLimitWindow

# Mounted under /console by the console router.
router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)

FORM_COOKIE = "reclaim_console_login"
FORM_HOURS = 12
# An office or a warehouse signs many people in from one address.
CLIENT_SHARE = 5
MISSING = "Enter your e-mail address and password."
TOO_MANY = "Too many sign-in attempts. For your security, wait {wait} and try again."
ENDED = "Your session has ended: it was unused for a while, or signed out. Sign in to carry on."


def safe_next(value: object) -> str:
    """Where to go after signing in: a console page of ours, never another site."""
    if (
        isinstance(value, str)
        and len(value) <= 2000
        and value.startswith(HOME)
        and value[len(HOME) : len(HOME) + 1] in ("", "/", "?")
        and value.isprintable()
        and "\\" not in value
    ):
        return value
    return HOME


def _form_token(request: Request, nonce: str) -> str:
    return hmac.new(secret(request).encode(), f"login:{nonce}".encode(), hashlib.sha256).hexdigest()


def _nonce(request: Request) -> str:
    held = request.cookies.get(FORM_COOKIE, "")
    # Kept while valid, so two sign-in tabs both work.
    if (
        20 <= len(held) <= 64
        and held.isascii()
        and held.replace("-", "").replace("_", "").isalnum()
    ):
        return held
    return secrets.token_urlsafe(32)


def _page(
    request: Request, *, status: int = 200, error: str | None = None, **context: Any
) -> Response:
    nonce = _nonce(request)
    settings: Settings = request.app.state.settings
    response = render(
        request,
        "console/login.html",
        None,
        status_code=status,
        csrf=_form_token(request, nonce),
        error=error,
        **{"email": "", "next": HOME, "notice": None, **context},
    )
    response.set_cookie(
        FORM_COOKIE,
        nonce,
        max_age=FORM_HOURS * 3600,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
        path=LOGIN,
    )
    return response


@router.get("/login")
async def login_page(request: Request) -> Response:
    wanted = safe_next(request.query_params.get("next"))
    if await current_staff(request) is not None:
        return RedirectResponse(wanted, status_code=303)
    ended = request.query_params.get("ended") == "1"
    return _page(request, next=wanted, notice=ENDED if ended else None)


class _OverLimit(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Counted:
    """An attempt counted as failed until it succeeds: the counters it went on, and their
    window."""

    keys: tuple[str, ...]
    window_start: datetime


async def _count_attempt(request: Request, email: str) -> Counted | None:
    """Count this attempt as a failure before the password is checked, so racing guesses
    can't all slip under the limit; a success takes it off again (:func:`_uncount`).

    None, and nothing counted, when this client has failed too often this window, with this
    e-mail address or in all. Only the client's own failures count against it: others' wrong
    guesses at an address never lock its owner out."""
    settings: Settings = request.app.state.settings
    client = request.client.host if request.client else "unknown"
    window = timedelta(minutes=settings.console_login_window_minutes)
    now = clock.utcnow()
    limits = {
        ratelimit.limit_key("console-email-client", f"{email}\n{client}"): (
            settings.console_login_limit
        ),
        ratelimit.limit_key("console-client", client): settings.console_login_limit * CLIENT_SHARE,
    }
    try:
        async with transaction(request.app.state.sessions) as session:
            # One key at a time for their own limits, in one order with _uncount's: racing
            # attempts and successes never deadlock.
            within = [
                await ratelimit.hit(session, [key], now, window, limit)
                for key, limit in sorted(limits.items())
            ]
            if not all(within):
                raise _OverLimit  # rolled back: a refused attempt counts for nothing
    except _OverLimit:
        return None
    return Counted(tuple(sorted(limits)), ratelimit.window_start(now, window))


async def _uncount(session: AsyncSession, counted: Counted) -> None:
    for key in counted.keys:
        await session.execute(
            update(RateLimitWindow)
            .where(
                RateLimitWindow.key == key,
                RateLimitWindow.window_start == counted.window_start,
                RateLimitWindow.hits > 0,
            )
            .values(hits=RateLimitWindow.hits - 1)
        )


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    nonce = request.cookies.get(FORM_COOKIE)
    if not nonce or not csrf_matches(_form_token(request, nonce), form.get("csrf")):
        raise StaleForm(None)
    email, password, wanted = form.get("email"), form.get("password"), safe_next(form.get("next"))
    if not isinstance(email, str) or not isinstance(password, str):
        return _page(request, status=400, error=MISSING, next=wanted)
    email = email.strip()
    shown = {"email": email[:320], "next": wanted}
    if not email or not password or len(email) > 320 or "\x00" in email:
        return _page(request, status=400, error=MISSING, **shown)
    settings: Settings = request.app.state.settings
    counted = await _count_attempt(request, email)
    if counted is None:
        minutes = settings.console_login_window_minutes
        wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
        return _page(request, status=429, error=TOO_MANY.format(wait=wait), **shown)
    now = clock.utcnow()
    try:
        async with transaction(request.app.state.sessions) as session:
            user = await accounts.authenticate(session, email, password, now)
            opened = await accounts.open_session(
                session, user, now, session_terms(settings), replacing=request.cookies.get(COOKIE)
            )
            await _uncount(session, counted)
    except Unauthorized as refused:
        return _page(request, status=400, error=refused.message, **shown)
    response = RedirectResponse(wanted, status_code=303)
    set_session_cookie(response, settings, opened.token)
    response.delete_cookie(FORM_COOKIE, path=LOGIN)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    staff = await current_staff(request)
    if staff is not None:
        form = await request.form()
        if not csrf_matches(staff.csrf, form.get("csrf")):
            raise StaleForm(staff)
        async with transaction(request.app.state.sessions) as session:
            await accounts.end_session(session, request.cookies.get(COOKIE, ""))
    response = redirect(request, LOGIN, "You are signed out. Sign in again to carry on.")
    clear_session_cookie(response, request.app.state.settings)
    return response
