"""Store credit over the API: a customer's balance and statement, and spending at checkout."""

from __future__ import annotations

from fastapi import APIRouter

from reclaim.api.problems import documented

router = APIRouter(tags=["store credit"], responses=documented(401, 403, 422))
