"""Refunds over the API: settle a return now, refund by hand, and the shop's confirmations."""

from __future__ import annotations

from fastapi import APIRouter

from reclaim.api.problems import documented

router = APIRouter(tags=["refunds"], responses=documented(401, 403, 422))
