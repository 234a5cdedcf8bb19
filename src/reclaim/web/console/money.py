"""The console's money pages: a return's refunds, credit and exchanges, refunds by hand, and
the second agent's approvals."""

from __future__ import annotations

from fastapi import APIRouter

from reclaim.web.console.auth import HOME, ConsoleRoute

router = APIRouter(prefix=HOME, include_in_schema=False, route_class=ConsoleRoute)
