"""Who is using the console, and what they may do: checked on the server for every page and form.

Every console route depends on :func:`require` (pages) or :func:`require_form` (forms, which
also checks the CSRF token). A visitor who isn't signed in is sent to the sign-in page; someone
whose role lacks the permission gets a page saying which roles have it. Routers built with
``route_class=ConsoleRoute`` answer those refusals, and domain errors, with console pages;
elsewhere the refusals still carry the right status (303 to sign in, 403).
"""

from __future__ import annotations

import hmac
import secrets
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.routing import APIRoute
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from reclaim.api.problems import status_for
from reclaim.config import Settings
from reclaim.db import transaction
from reclaim.errors import NotFound, ReclaimError
from reclaim.kit import clock
from reclaim.returns.service import Actor
from reclaim.users import staff as accounts
from reclaim.users.roles import PERMISSIONS, Permission, Role, allowed
from reclaim.web.pages import templates

HOME = "/console"
LOGIN = "/console/login"
COOKIE = "reclaim_console"
FLASH_COOKIE = "reclaim_console_flash"
FLASH_SECONDS = 120

# What each permission lets a person do, to say so when it is missing.
ABLE_TO: dict[Permission, str] = {
    Permission.VIEW_RETURNS: "see returns and their timelines",
    Permission.DECIDE_REVIEWS: "approve or reject returns",
    Permission.RESOLVE_EXCEPTIONS: "resolve flagged returns",
    Permission.RECEIVE: "receive parcels",
    Permission.INSPECT: "inspect and grade items",
    Permission.DISPOSITION: "decide where items go",
    Permission.PLAN_BATCH: "plan the day's batch",
    Permission.MANAGE_REFURBISHMENT: "manage refurbishment work orders",
    Permission.MANAGE_MANIFESTS: "manage manifests",
    Permission.VIEW_INVENTORY: "see inventory, work orders and manifests",
    Permission.MANAGE_DELIVERIES: "send failed e-mails and webhooks again",
    Permission.ISSUE_REFUNDS: "refund shoppers",
    Permission.APPROVE_REFUNDS: "approve or decline large refunds",
    Permission.VIEW_ANALYTICS: "see returns analytics",
    Permission.MANAGE_USERS: "manage staff accounts",
}


@dataclass(frozen=True, slots=True)
class Staff:
    """The signed-in person, with the CSRF token every form of theirs must send back."""

    id: int
    email: str
    name: str
    role: Role
    csrf: str

    def may(self, permission: Permission) -> bool:
        return allowed(self.role, permission)

    def actor(self) -> Actor:
        """Who acts, as the timeline records it, and now."""
        return Actor(f"staff:{self.email}", clock.utcnow())


@dataclass(frozen=True, slots=True)
class NavLink:
    href: str
    label: str
    permission: Permission


NAV = (
    NavLink(HOME, "Work queue", Permission.VIEW_RETURNS),
    NavLink("/console/station", "Station", Permission.RECEIVE),
    NavLink("/console/inventory", "Inventory", Permission.VIEW_INVENTORY),
    NavLink("/console/work-orders", "Work orders", Permission.VIEW_INVENTORY),
    NavLink("/console/manifests", "Manifests", Permission.VIEW_INVENTORY),
    NavLink("/console/batch", "Batch", Permission.PLAN_BATCH),
    NavLink("/console/refunds", "Refunds", Permission.ISSUE_REFUNDS),
    NavLink("/console/deliveries", "Deliveries", Permission.MANAGE_DELIVERIES),
    NavLink("/console/analytics", "Analytics", Permission.VIEW_ANALYTICS),
)


def session_terms(settings: Settings) -> accounts.SessionTerms:
    return accounts.SessionTerms(
        idle=timedelta(minutes=settings.console_idle_minutes),
        lifetime=timedelta(hours=settings.console_max_hours),
    )


def secret(request: Request) -> str:
    """Signs the sign-in form's token and flash messages: the configured secret key, or one
    of this process's own (forms then work only on the process that showed them)."""
    state = request.app.state
    value: str | None = getattr(state, "console_secret", None)
    if value is None:
        configured = state.settings.secret_key
        value = configured.get_secret_value() if configured else secrets.token_urlsafe(32)
        state.console_secret = value
    return value


# --- refusals ---------------------------------------------------------------------------------


class Refused(StarletteHTTPException, ABC):
    """Stops a console request before its handler runs; :meth:`page` is what to answer."""

    @abstractmethod
    def page(self, request: Request) -> Response: ...


class SignInFirst(Refused):
    def __init__(self, request: Request, *, lapsed: bool) -> None:
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        # A form can't be sent again by a redirect: after signing in, start from the queue.
        query = {"next": wanted if request.method == "GET" else HOME}
        if lapsed:
            query["ended"] = "1"
        self.lapsed = lapsed
        self.location = f"{LOGIN}?{urlencode(query)}"
        super().__init__(303, headers={"Location": self.location})

    def page(self, request: Request) -> Response:
        response = RedirectResponse(self.location, status_code=303)
        if self.lapsed:
            clear_session_cookie(response, request.app.state.settings)
        return response


class NotAllowed(Refused):
    def __init__(self, staff: Staff, permission: Permission) -> None:
        roles = [role.value for role, granted in PERMISSIONS.items() if permission in granted]
        self.staff, self.permission = staff, permission
        self.message = (
            f"To {ABLE_TO[permission]} you need the {' or '.join(roles)} role. You are signed "
            f"in as {staff.name} ({staff.role.value}); ask an admin if you need it."
        )
        super().__init__(403, detail=self.message)

    def page(self, request: Request) -> Response:
        return render(
            request,
            "console/forbidden.html",
            self.staff,
            status_code=403,
            title="You can't do this with your role",
            message=self.message,
        )


class StaleForm(Refused):
    MESSAGE = (
        "For your security a form can only be sent from the page we showed you, and nothing "
        "was changed. Go back, reload the page and try again."
    )

    def __init__(self, staff: Staff | None) -> None:
        self.staff = staff
        super().__init__(403, detail=self.MESSAGE)

    def page(self, request: Request) -> Response:
        return render(
            request,
            "console/forbidden.html",
            self.staff,
            status_code=403,
            title="This form has expired",
            message=self.MESSAGE,
        )


class ConsoleRoute(APIRoute):
    """A console route: refusals and domain errors are answered with console pages, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                return await handle(request)
            except Refused as refused:
                return refused.page(request)
            except ReclaimError as error:
                return error_page(request, error)

        return console_handler


def error_page(request: Request, error: ReclaimError) -> Response:
    staff: Staff | None = getattr(request.state, "staff", None)
    title = "Not found" if isinstance(error, NotFound) else "That didn't work"
    return render(
        request,
        "console/error.html",
        staff,
        status_code=status_for(error),
        title=title,
        message=error.message,
    )


# --- sessions ---------------------------------------------------------------------------------


# Over HTTPS every cookie is marked Secure whatever ``cookie_secure`` says (api.app's
# BrowserHeaders), so the setting matters only where TLS ends at a proxy the app can't see.
def set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=settings.console_max_hours * 3600,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
        path=HOME,
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        COOKIE, path=HOME, httponly=True, secure=settings.cookie_secure, samesite="lax"
    )


@asynccontextmanager
async def reading(request: Request) -> AsyncIterator[AsyncSession]:
    """A read-only transaction for a page: it never waits for a writer."""
    async with transaction(request.app.state.read_sessions) as session:
        yield session


@asynccontextmanager
async def writing(request: Request) -> AsyncIterator[AsyncSession]:
    async with transaction(request.app.state.sessions) as session:
        yield session


async def current_staff(request: Request) -> Staff | None:
    """Who the session cookie signs in, if anyone; a lapsed session is ended on the way."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    state = request.app.state
    async with transaction(state.sessions) as session:
        found = await accounts.resume_session(
            session, token, clock.utcnow(), session_terms(state.settings)
        )
    if found is None:
        return None
    user = found.user
    return Staff(user.id, user.email, user.name, Role(user.role), found.session.csrf)


async def _signed_in(request: Request) -> Staff:
    staff = await current_staff(request)
    if staff is None:
        raise SignInFirst(request, lapsed=COOKIE in request.cookies)
    request.state.staff = staff
    return staff


def require(permission: Permission) -> Callable[[Request], Awaitable[Staff]]:
    """A dependency: the signed-in staff member, if their role has the permission."""

    async def signed_in_with(request: Request) -> Staff:
        staff = await _signed_in(request)
        if not staff.may(permission):
            raise NotAllowed(staff, permission)
        return staff

    return signed_in_with


def csrf_matches(expected: str, sent: object) -> bool:
    return isinstance(sent, str) and hmac.compare_digest(expected.encode(), sent.encode())


def require_form(permission: Permission) -> Callable[[Request], Awaitable[Staff]]:
    """A dependency for forms: as :func:`require`, and the form's ``csrf`` field must be the
    session's token, else a 403 page and nothing done."""
    check = require(permission)

    async def form_from(request: Request) -> Staff:
        staff = await check(request)
        form = await request.form()
        if not csrf_matches(staff.csrf, form.get("csrf")):
            raise StaleForm(staff)
        return staff

    return form_from


# --- pages ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Flash:
    text: str
    error: bool = False


def _flashes(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret(request), salt="reclaim.console.flash")


def flash(request: Request, response: Response, text: str, *, error: bool = False) -> None:
    """A message for the next page this browser opens: what happened, and what's next."""
    response.set_cookie(
        FLASH_COOKIE,
        _flashes(request).dumps({"t": text, "e": error}),
        max_age=FLASH_SECONDS,
        httponly=True,
        secure=request.app.state.settings.cookie_secure,
        samesite="lax",
        path=HOME,
    )


def redirect(request: Request, url: str, text: str, *, error: bool = False) -> Response:
    """After a form: back to a page (303), which then says what happened."""
    response = RedirectResponse(url, status_code=303)
    flash(request, response, text, error=error)
    return response


def _take_flash(request: Request) -> Flash | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = _flashes(request).loads(raw, max_age=FLASH_SECONDS)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("t"), str):
        return None
    return Flash(data["t"], bool(data.get("e")))


def render(
    request: Request, template: str, staff: Staff | None, *, status_code: int = 200, **context: Any
) -> Response:
    """A console page in the console layout (``console/base.html``, blocks ``title`` and
    ``content``), with ``staff``, their ``csrf`` token, the links their role may use (``nav``)
    any message left by the last form (``flash``) and the permissions as ``can``."""
    shown = _take_flash(request)
    response = templates.TemplateResponse(
        request,
        template,
        {
            "csrf": staff.csrf if staff else "",
            "nav": [link for link in NAV if staff and staff.may(link.permission)],
            "here": request.url.path,
            "flash": shown,
            # Templates ask `staff.may(can.X)` to show only the actions the role may take.
            "can": Permission,
            **context,
            "staff": staff,
        },
        status_code=status_code,
    )
    # Staff pages show customers' details: no shared or back-button cache keeps them.
    response.headers["Cache-Control"] = "no-store"
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path=HOME)
    return response
