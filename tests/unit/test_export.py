"""The export writers: CSV a chunk at a time with a header, Parquet with typed columns, both read
back with polars; and what names an export and its filters."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
import pytest

from reclaim.analytics import export
from reclaim.analytics.export import Format, Kind
from reclaim.analytics.filters import Filters
from reclaim.errors import NotFound, ValidationFailed

SCHEMA: dict[str, pl.DataType] = {
    "number": pl.String(),
    "quantity": pl.Int64(),
    "value_minor": pl.Int64(),
    "currency": pl.String(),
    "at": export.UTC_TIME,
    "hours": pl.Float64(),
    "day": pl.Date(),
}
ROWS: list[dict[str, Any]] = [
    {
        "number": "RMA-1",
        "quantity": 2,
        "value_minor": 4000,
        "currency": "GBP",
        "at": datetime(2026, 3, 4, 8, 0, tzinfo=UTC),
        "hours": 96.5,
        "day": date(2026, 3, 4),
    },
    # What SQLite hands back: a naive time, which is UTC by the project's rule; and gaps.
    {
        "number": "RMA-2",
        "quantity": 1,
        "value_minor": -150,
        "currency": "GBP",
        "at": datetime(2026, 3, 5, 12, 30),
        "hours": None,
        "day": None,
    },
]


def csv_text(rows: list[dict[str, Any]], columns: list[str]) -> str:
    return "".join(export.csv_chunks(rows, columns))


def test_csv_has_a_header_and_reads_back_with_its_values() -> None:
    text = csv_text(ROWS, list(SCHEMA))
    assert text.splitlines()[0] == "number,quantity,value_minor,currency,at,hours,day"
    back = pl.read_csv(io.StringIO(text), try_parse_dates=False)
    assert back.columns == list(SCHEMA)
    assert back["number"].to_list() == ["RMA-1", "RMA-2"]
    assert back["value_minor"].to_list() == [4000, -150]  # money stays integer minor units
    assert back["at"].to_list() == ["2026-03-04T08:00:00+00:00", "2026-03-05T12:30:00+00:00"]
    assert back["hours"].to_list() == [96.5, None]
    assert back["day"].to_list() == ["2026-03-04", None]


def test_csv_is_utf8_text_with_quotes_where_a_value_needs_them() -> None:
    rows = [{"number": 'Tasse "Café", grande\nbleue', "quantity": 1}]
    text = csv_text(rows, ["number", "quantity"])
    back = pl.read_csv(io.BytesIO(text.encode("utf-8")))
    assert back["number"].to_list() == ['Tasse "Café", grande\nbleue']


@pytest.mark.parametrize("typed", ['=HYPERLINK("x")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_text_a_spreadsheet_would_run_as_a_formula_stays_text(typed: str) -> None:
    text = csv_text([{"number": typed, "quantity": -3}], ["number", "quantity"])
    back = pl.read_csv(io.StringIO(text), infer_schema=False)
    assert back["number"].to_list() == ["'" + typed]
    assert back["quantity"].to_list() == ["-3"]  # numbers are written as they are


def test_csv_comes_in_chunks_and_says_how_far_it_got() -> None:
    rows = [{"number": f"RMA-{i}", "quantity": i} for i in range(export.CHUNK_ROWS * 2 + 7)]
    heard: list[int] = []
    chunks = list(export.csv_chunks(rows, ["number", "quantity"], progress=heard.append))
    assert len(chunks) == 3
    assert heard == [export.CHUNK_ROWS, export.CHUNK_ROWS, 7]
    assert "".join(chunks).count("\n") == len(rows) + 1


def test_no_rows_is_a_header_alone() -> None:
    assert csv_text([], ["number", "quantity"]) == "number,quantity\r\n"
    back = pl.read_parquet(io.BytesIO(export.parquet_bytes([], SCHEMA)))
    assert back.height == 0 and back.schema == pl.Schema(SCHEMA)


def test_parquet_keeps_every_column_typed_and_times_in_utc() -> None:
    back = pl.read_parquet(io.BytesIO(export.parquet_bytes(ROWS, SCHEMA)))
    assert back.schema == pl.Schema(SCHEMA)
    assert back["value_minor"].to_list() == [4000, -150]
    assert back["at"].to_list() == [
        datetime(2026, 3, 4, 8, 0, tzinfo=UTC),
        datetime(2026, 3, 5, 12, 30, tzinfo=UTC),
    ]
    assert back["hours"].to_list() == [96.5, None]
    assert back["day"].to_list() == [date(2026, 3, 4), None]


def test_parquet_holds_text_unchanged() -> None:
    rows = [{"number": "=1+1", "quantity": 1}]
    schema = {"number": pl.String(), "quantity": pl.Int64()}
    back = pl.read_parquet(io.BytesIO(export.parquet_bytes(rows, schema)))
    assert back["number"].to_list() == ["=1+1"]


def test_a_column_the_schema_lacks_is_left_out_and_a_missing_one_is_empty() -> None:
    rows = [{"number": "RMA-1", "extra": "x"}]
    back = pl.read_parquet(
        io.BytesIO(export.parquet_bytes(rows, {"number": pl.String(), "quantity": pl.Int64()}))
    )
    assert back.columns == ["number", "quantity"]
    assert back["quantity"].to_list() == [None]


def test_the_kpi_and_return_schemas_keep_money_as_integers_beside_a_currency() -> None:
    schema = export.RETURN_SCHEMA
    money = [name for name in schema if name.endswith("_minor")]
    assert money and all(schema[name] == pl.Int64() for name in money)
    assert schema["currency"] == pl.String()
    assert export.KPI_SCHEMA["value"] == pl.Float64()
    assert export.KPI_SCHEMA["currency"] == pl.String()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("returns.csv", (Kind.RETURNS, Format.CSV)),
        ("returns.parquet", (Kind.RETURNS, Format.PARQUET)),
        ("kpis.csv", (Kind.KPIS, Format.CSV)),
        ("kpis.parquet", (Kind.KPIS, Format.PARQUET)),
    ],
)
def test_an_export_is_named_by_what_and_how(name: str, expected: tuple[Kind, Format]) -> None:
    assert export.file_of(name) == expected


@pytest.mark.parametrize("name", ["returns", "returns.xlsx", "orders.csv", "kpis.csv.gz", ""])
def test_any_other_name_is_no_export(name: str) -> None:
    with pytest.raises(NotFound):
        export.file_of(name)


def test_the_file_name_says_what_and_which_days() -> None:
    filters = Filters.parse(since="2011-06-01", until="2011-08-31")
    assert export.filename(Kind.RETURNS, Format.PARQUET, filters) == (
        "returns-2011-06-01-to-2011-08-31.parquet"
    )
    assert Format.CSV.media_type == "text/csv; charset=utf-8"


def test_filters_refuse_a_control_character_naming_the_field() -> None:
    with pytest.raises(ValidationFailed) as refused:
        Filters.parse(since="2011-06-01", until="2011-06-30", category="mugs\x00")
    assert refused.value.details["field"] == "category"
    assert Filters.parse(since="2011-06-01", until="2011-06-30", category="mugs").category == (
        "mugs"
    )
