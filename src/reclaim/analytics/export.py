"""Exports of returns and KPIs, as CSV or Parquet, for the current filters.

Returns are one row per return line (``service.export_rows``); KPIs one row per KPI for the
whole selection, and optionally one per KPI and category. CSV is UTF-8 with a header, written a
chunk of rows at a time so a response can stream it; Parquet keeps the columns' types, with
money as integer minor units beside a currency column, and times in UTC.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula, and a
shopper's comment is a cell: in CSV such text is prefixed with an apostrophe so it stays text.
Numbers are written as they are. Parquet is for programs, and holds the values unchanged.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import polars as pl
from sqlalchemy.ext.asyncio import AsyncSession

from reclaim.analytics import definitions, service
from reclaim.analytics.filters import Filters
from reclaim.errors import NotFound
from reclaim.kit.clock import as_utc

# Rows per chunk of CSV: big enough to be cheap, small enough to start a download at once.
CHUNK_ROWS = 500
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class Kind(StrEnum):
    RETURNS = "returns"
    KPIS = "kpis"


class Format(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"

    @property
    def media_type(self) -> str:
        return "text/csv; charset=utf-8" if self is Format.CSV else "application/vnd.apache.parquet"


UTC_TIME = pl.Datetime("us", "UTC")

# service.export_rows' columns, in its order, with their types (docs/analytics.md says what each
# holds). A column it adds must be added here too: a test checks that they agree.
RETURN_SCHEMA: dict[str, pl.DataType] = {
    "return_number": pl.String(),
    "order": pl.String(),
    "customer": pl.String(),
    "line": pl.String(),
    "sku": pl.String(),
    "category": pl.String(),
    "reason": pl.String(),
    "fault": pl.String(),
    "resolution": pl.String(),
    "method": pl.String(),
    "facility": pl.String(),
    "status": pl.String(),
    "quantity": pl.Int64(),
    "received": pl.Int64(),
    "grade": pl.String(),
    "disposition": pl.String(),
    "value_minor": pl.Int64(),
    "refund_minor": pl.Int64(),
    "credit_minor": pl.Int64(),
    "exchange_minor": pl.Int64(),
    "currency": pl.String(),
    "requested_at": UTC_TIME,
    "first_scan_at": UTC_TIME,
    "received_at": UTC_TIME,
    "inspected_at": UTC_TIME,
    "dispositioned_at": UTC_TIME,
    "settled_at": UTC_TIME,
    "cycle_hours": pl.Float64(),
}

KPI_SCHEMA: dict[str, pl.DataType] = {
    # "all" for the whole selection, "category" for one category's row.
    "scope": pl.String(),
    "category": pl.String(),
    "key": pl.String(),
    "title": pl.String(),
    "unit": pl.String(),
    "value": pl.Float64(),
    "numerator": pl.Float64(),
    "denominator": pl.Float64(),
    "display": pl.String(),
    "currency": pl.String(),
    "since": pl.Date(),
    "until": pl.Date(),
    "better": pl.String(),
    "definition": pl.String(),
}


def file_of(name: str) -> tuple[Kind, Format]:
    """``returns.csv`` as (returns, CSV); anything else isn't an export."""
    kind, _, ext = name.partition(".")
    try:
        return Kind(kind), Format(ext)
    except ValueError:
        raise NotFound(
            f"No export {name!r}: there are returns.csv, returns.parquet, kpis.csv and "
            "kpis.parquet.",
            export=name,
        ) from None


def filename(kind: Kind, fmt: Format, filters: Filters) -> str:
    return f"{kind.value}-{filters.since.isoformat()}-to-{filters.until.isoformat()}.{fmt.value}"


# --- rows -----------------------------------------------------------------------------------------


async def kpi_rows(
    session: AsyncSession, filters: Filters, *, by_category: bool = False
) -> list[dict[str, Any]]:
    """Every KPI of the selection; with ``by_category``, every KPI of each category too (those
    rows have a value but no numerator or denominator)."""
    report = await service.report(session, filters)
    common = {"currency": report.currency, "since": filters.since, "until": filters.until}
    rows = []
    for kpi in report.kpis:
        defn = definitions.by_key(kpi.key)
        rows.append(
            {
                "scope": "all",
                "category": filters.category,
                **_described(defn),
                "value": kpi.value,
                "numerator": kpi.numerator,
                "denominator": kpi.denominator,
                "display": kpi.display,
                **common,
            }
        )
    if by_category:
        for row in await service.breakdown(
            session, filters, "category", limit=service.MAX_BREAKDOWN
        ):
            for key, value in row.kpis.items():
                defn = definitions.by_key(key)
                rows.append(
                    {
                        "scope": "category",
                        "category": row.key,
                        **_described(defn),
                        "value": value,
                        "numerator": None,
                        "denominator": None,
                        "display": definitions.format_value(defn, value, report.currency),
                        **common,
                    }
                )
    return rows


def _described(defn: definitions.KpiDefinition) -> dict[str, Any]:
    return {
        "key": defn.key,
        "title": defn.title,
        "unit": defn.unit,
        "better": defn.better,
        "definition": defn.definition,
    }


async def return_rows(session: AsyncSession, filters: Filters) -> list[dict[str, Any]]:
    return await service.export_rows(session, filters)


async def rows_of(
    session: AsyncSession, kind: Kind, filters: Filters, *, by_category: bool = False
) -> list[dict[str, Any]]:
    if kind is Kind.RETURNS:
        return await return_rows(session, filters)
    return await kpi_rows(session, filters, by_category=by_category)


def columns_of(kind: Kind) -> list[str]:
    return list(schema_of(kind))


def schema_of(kind: Kind) -> dict[str, pl.DataType]:
    return RETURN_SCHEMA if kind is Kind.RETURNS else KPI_SCHEMA


# --- writers --------------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_chunks(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    progress: Callable[[int], None] | None = None,
) -> Iterator[str]:
    """The CSV text: the header, then the rows, ``CHUNK_ROWS`` at a time; ``progress`` hears
    how many rows each chunk held."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    waiting = 0
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
        waiting += 1
        if waiting == CHUNK_ROWS:
            yield _drain(buffer)
            if progress:
                progress(waiting)
            waiting = 0
    yield _drain(buffer)
    if progress and waiting:
        progress(waiting)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _typed(value: Any) -> Any:
    # SQLite hands back naive times (UTC by our rule); Parquet's column is UTC either way.
    return as_utc(value) if isinstance(value, datetime) else value


def frame(rows: Sequence[Mapping[str, Any]], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(
        [{column: _typed(row.get(column)) for column in schema} for row in rows],
        schema=dict(schema),
    )


def parquet_bytes(rows: Sequence[Mapping[str, Any]], schema: Mapping[str, pl.DataType]) -> bytes:
    out = io.BytesIO()
    frame(rows, schema).write_parquet(out)
    return out.getvalue()
