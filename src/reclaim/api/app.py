"""The ASGI application: JSON API under ``/api/v1``, its OpenAPI docs at ``/docs``."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reclaim import __version__
from reclaim.analytics.export_routes import router as analytics_export_router
from reclaim.analytics.findings_routes import router as findings_router
from reclaim.analytics.routes import router as analytics_router
from reclaim.api import problems
from reclaim.config import Settings, get_settings
from reclaim.db import create_engine, session_factory, transaction
from reclaim.errors import ReclaimError
from reclaim.files.storage import LocalStorage
from reclaim.kit.clock import utcnow
from reclaim.logistics.label_routes import router as labels_router
from reclaim.logistics.routes import router as facilities_router
from reclaim.logistics.tracking_routes import router as tracking_router
from reclaim.migrate import upgrade_to_head
from reclaim.notifications.routes import router as webhooks_router
from reclaim.orders.routes import router as orders_router
from reclaim.policy.loader import load as load_policy
from reclaim.policy.routes import router as policy_router
from reclaim.policy.service import register as register_policy
from reclaim.prediction.forecast_routes import router as forecast_router
from reclaim.prediction.routes import router as predictions_router
from reclaim.refunds.credit_routes import router as credit_router
from reclaim.refunds.exchange_routes import router as exchanges_router
from reclaim.refunds.routes import router as refunds_router
from reclaim.returns.routes import router as returns_router
from reclaim.warehouse import configured
from reclaim.warehouse.operations_routes import router as operations_router
from reclaim.warehouse.routes import router as warehouse_router
from reclaim.web.console import analytics as console_analytics
from reclaim.web.console import labels as console_labels
from reclaim.web.console import money as console_money
from reclaim.web.console import orders as console_orders
from reclaim.web.console import risk_model as console_risk_model
from reclaim.web.console import routes as console_routes
from reclaim.web.console import station as console_station
from reclaim.web.pages import STATIC_DIR
from reclaim.web.portal import flow as portal_flow
from reclaim.web.portal import routes as portal_routes
from reclaim.web.portal.common import PageError, SessionExpired, error_page, expired_page
from reclaim.web.security import SessionCodec
from reclaim.worker.embedded import embedded_worker

SWAGGER_ASSETS = Path(fastapi_offline.__file__).parent / "static"
# No page of ours may be framed by another site (clickjacking): older browsers read the first,
# newer ones the second.
NO_FRAMING = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
)


class BrowserHeaders:
    """What every response to a browser needs: HTML pages refuse to be framed, and over HTTPS
    every cookie is marked Secure (``cookie_secure`` marks them so on plain HTTP too).

    The scheme is the one uvicorn sets, from X-Forwarded-Proto when a trusted proxy sends it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, _secure(value) if https and name == b"set-cookie" else value)
                    for name, value in message.get("headers", [])
                ]
                names = {name for name, _ in headers}
                kind = dict(headers).get(b"content-type", b"")
                if kind.startswith(b"text/html"):
                    headers += [header for header in NO_FRAMING if header[0] not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _secure(cookie: bytes) -> bytes:
    attributes = {part.strip().split(b"=")[0].lower() for part in cookie.split(b";")[1:]}
    return cookie if b"secure" in attributes else cookie + b"; Secure"


def api_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1")
    router.include_router(orders_router)
    router.include_router(returns_router)
    router.include_router(policy_router)
    router.include_router(facilities_router)
    router.include_router(labels_router)
    router.include_router(tracking_router)
    router.include_router(webhooks_router)
    router.include_router(warehouse_router)
    router.include_router(operations_router)
    router.include_router(refunds_router)
    router.include_router(credit_router)
    router.include_router(exchanges_router)
    router.include_router(analytics_router)
    router.include_router(findings_router)
    router.include_router(analytics_export_router)
    router.include_router(predictions_router)
    router.include_router(forecast_router)

    @router.get("/health", tags=["operations"], summary="Liveness and version")
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # Read now, not at the first request: a bad policy, checklists or recovery file stops
    # start-up, naming each bad rule.
    policy = load_policy(settings.policy_file)
    configured.checklists(settings)
    configured.recovery(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
        await upgrade_to_head(engine)
        app.state.engine = engine
        app.state.sessions = session_factory(engine)
        app.state.read_sessions = session_factory(engine, read_only=True)
        async with transaction(app.state.sessions) as session:
            await register_policy(session, policy, utcnow())
        try:
            async with AsyncExitStack() as stack:
                if settings.embedded_worker:
                    await stack.enter_async_context(
                        embedded_worker(
                            settings, policy, app.state.sessions, app.state.read_sessions
                        )
                    )
                yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="Reclaim",
        version=__version__,
        description="Returns management and reverse logistics. Money is in integer minor units.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.policy = policy
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    app.state.portal_codec = SessionCodec(
        secret or secrets.token_urlsafe(32),
        settings.portal_session_minutes * 60,
        secure=settings.cookie_secure,
    )
    app.state.storage = LocalStorage(settings.files_dir)
    app.add_middleware(BrowserHeaders)
    app.add_exception_handler(ReclaimError, problems.domain_error)
    app.add_exception_handler(RequestValidationError, problems.validation_error)
    app.add_exception_handler(StarletteHTTPException, problems.http_error)
    app.add_exception_handler(Exception, problems.server_error)
    app.add_exception_handler(PageError, error_page)  # type: ignore[arg-type]
    app.add_exception_handler(SessionExpired, lambda request, _exc: expired_page(request))
    app.include_router(api_router())
    app.include_router(portal_routes.router)
    app.include_router(portal_flow.router)
    app.include_router(console_routes.router)
    app.include_router(console_labels.router)
    app.include_router(console_station.router)
    app.include_router(console_money.router)
    app.include_router(console_analytics.router)
    app.include_router(console_orders.router)
    app.include_router(console_risk_model.router)
    app.mount("/static/reclaim", StaticFiles(directory=STATIC_DIR), name="reclaim-static")

    def openapi() -> dict[str, Any]:
        if not app.openapi_schema:
            app.openapi_schema = problems.as_problem_media(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    # Swagger UI 5 (it reads OpenAPI 3.1) is served from an installed package: no CDN.
    app.mount("/static/swagger", StaticFiles(directory=SWAGGER_ASSETS), name="swagger")

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Reclaim API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon.png",
            # Else Swagger UI fetches a badge from validator.swagger.io, sending it our spec's URL.
            swagger_ui_parameters={"validatorUrl": None},
        )

    return app
