"""The ASGI application: JSON API under ``/api/v1``, its OpenAPI docs at ``/docs``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from reclaim import __version__
from reclaim.api import problems
from reclaim.config import Settings, get_settings
from reclaim.db import create_engine, session_factory
from reclaim.errors import ReclaimError
from reclaim.migrate import upgrade_to_head
from reclaim.orders.routes import router as orders_router
from reclaim.returns.routes import router as returns_router

SWAGGER_ASSETS = Path(fastapi_offline.__file__).parent / "static"


def api_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1")
    router.include_router(orders_router)
    router.include_router(returns_router)

    @router.get("/health", tags=["operations"], summary="Liveness and version")
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
        await upgrade_to_head(engine)
        app.state.engine = engine
        app.state.sessions = session_factory(engine)
        app.state.read_sessions = session_factory(engine, read_only=True)
        try:
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
    app.add_exception_handler(ReclaimError, problems.domain_error)
    app.add_exception_handler(RequestValidationError, problems.validation_error)
    app.add_exception_handler(StarletteHTTPException, problems.http_error)
    app.add_exception_handler(Exception, problems.server_error)
    app.include_router(api_router())

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
