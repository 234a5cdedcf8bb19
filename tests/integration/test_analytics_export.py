"""``reclaim analytics export returns|kpis``: CSV and Parquet files of the hand-made history of
``analytics_support``, read back with polars; never over a file without --force."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.analytics import export, rollups, service
from reclaim.analytics.definitions import KEYS
from reclaim.analytics.filters import Filters
from reclaim.db import transaction
from tests.integration.analytics_support import build_history
from tests.integration.helpers import run_cli

Sessions = async_sessionmaker[AsyncSession]
MARCH = ("--since", "2026-03-01", "--until", "2026-03-31")
pytestmark = pytest.mark.usefixtures("cli_env")


@pytest.fixture
async def history(sessions: Sessions) -> None:
    await build_history(sessions)
    await rollups.refresh(sessions)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Where the files go: apart from the test's SQLite database."""
    made = tmp_path / "exports"
    made.mkdir()
    return made


def _files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


async def _export(*args: str) -> str:
    result = await run_cli("analytics", "export", *args)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.usefixtures("history")
async def test_the_export_has_every_column_the_service_gives(sessions: Sessions) -> None:
    async with transaction(sessions) as session:
        rows = await service.export_rows(session, Filters.parse(since="2026-03-01"))
    assert rows and list(rows[0]) == list(export.RETURN_SCHEMA)


@pytest.mark.usefixtures("history")
async def test_returns_as_csv_one_row_per_return_line(folder: Path) -> None:
    out = folder / "returns.csv"
    said = await _export("returns", "--out", str(out), *MARCH)
    assert f"Wrote 9 return lines for 2026-03-01 to 2026-03-31 to {out}." in " ".join(said.split())
    back = pl.read_csv(out, infer_schema=False)
    assert back.columns == list(export.RETURN_SCHEMA)
    assert back.height == 9  # every line asked for in March, the cancelled and expired too
    first = back.row(0, named=True)
    assert (first["return_number"], first["sku"], first["quantity"]) == ("RMA-R1", "TEE", "2")
    assert (first["value_minor"], first["refund_minor"], first["currency"]) == (
        "4000",
        "4000",
        "GBP",
    )
    assert first["requested_at"] == "2026-03-04T08:00:00+00:00"
    assert sorted(set(back["status"])) == [
        "approved",
        "cancelled",
        "completed",
        "expired",
        "inspected",
        "received",
    ]


@pytest.mark.usefixtures("history")
async def test_returns_as_parquet_keep_their_types(folder: Path) -> None:
    out = folder / "returns.parquet"
    await _export("returns", "--format", "parquet", "--out", str(out), *MARCH, "--sku", "MUG")
    back = pl.read_parquet(out)
    assert back.schema == pl.Schema(export.RETURN_SCHEMA)
    assert back["return_number"].to_list() == ["RMA-R1", "RMA-R3", "RMA-R7"]
    assert back["quantity"].to_list() == [1, 1, 2]
    assert back["credit_minor"].to_list() == [1000, 0, 0]
    assert back["received_at"].dt.hour().to_list() == [8, None, 10]


@pytest.mark.usefixtures("history")
async def test_kpis_as_csv_a_row_each_and_by_category_a_row_per_category_too(
    folder: Path,
) -> None:
    out = folder / "kpis.csv"
    await _export("kpis", "--out", str(out), *MARCH, "--by-category")
    back = pl.read_csv(out)
    assert back.columns == list(export.KPI_SCHEMA)
    whole = back.filter(pl.col("scope") == "all")
    assert whole["key"].to_list() == list(KEYS)
    rate = whole.filter(pl.col("key") == "return_rate").row(0, named=True)
    assert (rate["numerator"], rate["denominator"], rate["display"]) == (11.0, 24.0, "45.8%")
    assert rate["value"] == pytest.approx(11 / 24)
    assert (rate["since"], rate["until"], rate["currency"]) == ("2026-03-01", "2026-03-31", "GBP")
    by_category = back.filter(pl.col("scope") == "category")
    assert sorted(set(by_category["category"])) == ["apparel", "home"]
    assert by_category.height == 2 * len(KEYS)


@pytest.mark.usefixtures("history")
async def test_kpis_as_parquet(folder: Path) -> None:
    out = folder / "kpis.parquet"
    await _export("kpis", "--format", "parquet", "--out", str(out), *MARCH)
    back = pl.read_parquet(out)
    assert back.schema == pl.Schema(export.KPI_SCHEMA)
    assert back.height == len(KEYS)
    assert back.filter(pl.col("key") == "cost_per_return")["unit"].to_list() == ["money"]


@pytest.mark.usefixtures("history")
async def test_an_existing_file_is_kept_unless_forced(folder: Path) -> None:
    out = folder / "returns.csv"
    out.write_text("mine\n")
    refused = await run_cli("analytics", "export", "returns", "--out", str(out), *MARCH)
    assert refused.exit_code == 1
    assert "exists; pass --force to replace it" in refused.output
    assert out.read_text() == "mine\n"
    await _export("returns", "--out", str(out), *MARCH, "--force")
    assert out.read_text().startswith("return_number,")
    assert _files(folder) == ["returns.csv"]  # nothing left half-written


async def test_bad_filters_or_a_missing_folder_write_nothing(folder: Path) -> None:
    out = folder / "returns.csv"
    bad = await run_cli("analytics", "export", "returns", "--out", str(out), "--since", "March")
    assert bad.exit_code == 2
    assert "since must be a date as YYYY-MM-DD" in bad.output
    nowhere = folder / "no" / "such" / "folder.csv"
    missing = await run_cli("analytics", "export", "kpis", "--out", str(nowhere))
    assert missing.exit_code == 1
    assert "there is no folder" in " ".join(missing.output.split())
    assert _files(folder) == []


async def test_an_unknown_kind_or_format_is_a_usage_error(folder: Path) -> None:
    out = str(folder / "x")
    assert (await run_cli("analytics", "export", "orders", "--out", out)).exit_code == 2
    wrong = await run_cli("analytics", "export", "kpis", "--format", "xlsx", "--out", out)
    assert wrong.exit_code == 2
    assert _files(folder) == []
