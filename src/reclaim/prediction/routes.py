"""Return-risk scores for the shop's checkout."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
