"""Server-rendered pages: one Jinja2 environment, our own static files, friendly formatting."""

from __future__ import annotations

from datetime import datetime
from importlib.resources import files
from pathlib import Path

from fastapi.templating import Jinja2Templates

from reclaim.kit.money import Money

TEMPLATES_DIR = Path(str(files("reclaim.web") / "templates"))
STATIC_DIR = Path(str(files("reclaim.web") / "static"))


def _money(minor: int, currency: str) -> str:
    return Money(int(minor), currency).format()


def _day(moment: datetime | None) -> str:
    return f"{moment.day} {moment:%b %Y}" if moment else ""


def _when(moment: datetime | None) -> str:
    return f"{moment.day} {moment:%b %Y, %H:%M}" if moment else ""


def _words(value: str) -> str:
    return str(value).replace("_", " ")


templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.filters.update(money=_money, day=_day, when=_when, words=_words)
