"""Exports of returns and KPIs as CSV and Parquet."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
