"""The console's analytics dashboards."""

from __future__ import annotations

from fastapi import APIRouter

from reclaim.web.console.auth import ConsoleRoute

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)
