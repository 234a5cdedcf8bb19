"""Exchanges over the API: what was sent in place of the returned items, and its shipping."""

from __future__ import annotations

from fastapi import APIRouter

from reclaim.api.problems import documented

router = APIRouter(prefix="/exchanges", tags=["exchanges"], responses=documented(401, 403, 422))
