"""Root-cause findings and product return rates over the API."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
