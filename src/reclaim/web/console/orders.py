"""The console's order page: an order's lines with their return risk, and its returns."""

from __future__ import annotations

from fastapi import APIRouter

from reclaim.web.console.auth import ConsoleRoute

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)
