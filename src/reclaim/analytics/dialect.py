"""The few SQL expressions SQLite and PostgreSQL spell differently, for the rollups' queries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Date, Float
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class day_of(FunctionElement[Any]):  # noqa: N801 - reads like the SQL function it renders
    """The UTC calendar day of a timestamp."""

    type = Date()
    inherit_cache = True


@compiles(day_of, "sqlite")
def _day_sqlite(element: day_of, compiler: SQLCompiler, **kw: Any) -> str:
    # Timestamps are stored as UTC text, "YYYY-MM-DD HH:MM:SS.ffffff".
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(day_of, "postgresql")
def _day_postgresql(element: day_of, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(timezone('UTC', {compiler.process(element.clauses, **kw)}) AS DATE)"


class hours_between(FunctionElement[Any]):  # noqa: N801
    """Hours from the first timestamp to the second, to the second."""

    type = Float()
    inherit_cache = True


def _pair(element: hours_between, compiler: SQLCompiler, **kw: Any) -> tuple[str, str]:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return start, end


@compiles(hours_between, "sqlite")
def _hours_sqlite(element: hours_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _pair(element, compiler, **kw)
    # julianday's float carries a little noise; whole seconds make equal spans compare equal.
    return f"(ROUND((julianday({end}) - julianday({start})) * 86400.0) / 3600.0)"


@compiles(hours_between, "postgresql")
def _hours_postgresql(element: hours_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _pair(element, compiler, **kw)
    return f"(CAST(EXTRACT(EPOCH FROM ({end} - {start})) AS DOUBLE PRECISION) / 3600.0)"


def insert_for(session: AsyncSession) -> Any:
    """The dialect's ``insert``, which knows ``ON CONFLICT``."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def is_sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"
