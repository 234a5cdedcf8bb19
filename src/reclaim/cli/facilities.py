"""``reclaim facilities …``: the drop-off points, lockers, stores and warehouses returns go to.

An import file is read and checked whole first, every bad row reported with its line number,
and only a clean file is written, in one transaction: all of it or none of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.cli.common import console, err_console, print_row_errors, with_database
from reclaim.db import transaction
from reclaim.logistics.models import Facility
from reclaim.logistics.schemas import FacilityIn, FacilityKind
from reclaim.logistics.service import upsert_facility
from reclaim.orders.importer import RowError, csv_rows, read_text
from reclaim.returns.states import Method

facilities_app = typer.Typer(
    help="Drop-off points, lockers, stores, warehouses.", no_args_is_help=True
)
CSV_COLUMNS = (
    "code",
    "name",
    "kind",
    "methods",
    "address",
    "postcode",
    "country",
    "lat",
    "lon",
    "opening_hours",
    "active",
)
REQUIRED_CSV = ("code", "name", "kind")
YES, NO = {"1", "true", "yes", "y"}, {"0", "false", "no", "n"}


@dataclass
class ParsedFacilities:
    facilities: list[FacilityIn] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0


def _number(value: str, column: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{column}: {value!r} is not a number") from None


def _row_to_facility(row: dict[str, str]) -> dict[str, Any]:
    empty = [name for name in REQUIRED_CSV if not row.get(name)]
    if empty:
        raise ValueError(f"{', '.join(empty)} must not be empty")
    data: dict[str, Any] = {
        "code": row["code"],
        "name": row["name"],
        "kind": row["kind"].lower(),
        # Semicolons or spaces: a comma would need quoting in a CSV cell.
        "methods": [m for m in re.split(r"[;\s]+", row.get("methods", "").lower()) if m],
        "address": row.get("address", ""),
    }
    for column in ("postcode", "opening_hours"):
        if row.get(column):
            data[column] = row[column]
    if row.get("country"):
        data["country"] = row["country"].upper()
    for column in ("lat", "lon"):
        if row.get(column):
            data[column] = _number(row[column], column)
    if row.get("active"):
        flag = row["active"].lower()
        if flag not in YES | NO:
            raise ValueError(f"active: {row['active']!r} is not yes or no")
        data["active"] = flag in YES
    return data


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(part) for part in err["loc"])
        # A whole column of enum choices reads better with the value that was wrong.
        got = f" (got {err['input']!r})" if where and isinstance(err["input"], str) else ""
        parts.append(f"{where}: {err['msg']}{got}" if where else err["msg"])
    return "; ".join(parts)


def parse_csv(text: str) -> ParsedFacilities:
    """Every row checked; a code given twice is a mistake, not an update."""
    parsed = ParsedFacilities()
    seen: dict[str, int] = {}
    for number, cells in csv_rows(text, REQUIRED_CSV, CSV_COLUMNS, parsed.errors):
        parsed.rows += 1
        if cells is None:
            continue
        try:
            facility = FacilityIn.model_validate(_row_to_facility(cells))
        except ValidationError as exc:
            parsed.errors.append(RowError(number, _explain(exc)))
            continue
        except ValueError as exc:
            parsed.errors.append(RowError(number, str(exc)))
            continue
        if facility.code in seen:
            parsed.errors.append(
                RowError(number, f"facility {facility.code} already on line {seen[facility.code]}")
            )
            continue
        seen[facility.code] = number
        parsed.facilities.append(facility)
    return parsed


def parse_file(path: Path) -> ParsedFacilities:
    text, unreadable = read_text(path)
    return ParsedFacilities(errors=unreadable) if unreadable else parse_csv(text)


@facilities_app.command("import")
def import_facilities(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="CSV: " + ", ".join(CSV_COLUMNS) + " (methods separated by ';' or spaces)",
        ),
    ],
) -> None:
    """Import facilities (created or updated by code). All of the file, or none of it."""
    parsed = parse_file(file)
    if parsed.errors:
        err_console.print(
            f"[bold red]{file.name}: {len(parsed.errors)} bad row(s); nothing was imported.[/]"
        )
        print_row_errors(parsed.errors)
        err_console.print("Fix the rows above and run the import again.")
        raise typer.Exit(1)

    async def _write(sessions: async_sessionmaker[AsyncSession]) -> int:
        created = 0
        async with transaction(sessions) as session:
            for facility in parsed.facilities:
                created += (await upsert_facility(session, facility))[1]
        return created

    created = with_database(_write)
    console.print(
        f"Imported {len(parsed.facilities)} facilit{'y' if len(parsed.facilities) == 1 else 'ies'}"
        f" from {parsed.rows} row(s): {created} new, {len(parsed.facilities) - created} updated."
    )


@facilities_app.command("list")
def list_facilities(
    method: Annotated[Method | None, typer.Option(help="Only those taking this method")] = None,
    kind: Annotated[FacilityKind | None, typer.Option(help="Only this kind")] = None,
) -> None:
    """Every facility, by code."""

    async def _list(sessions: async_sessionmaker[AsyncSession]) -> list[Facility]:
        query = select(Facility).order_by(Facility.code)
        if kind is not None:
            query = query.where(Facility.kind == kind)
        async with transaction(sessions) as session:
            found = list(await session.scalars(query))
        return [f for f in found if method is None or method.value in f.methods]

    found = with_database(_list)
    if not found:
        console.print(
            "No facilities match."
            if method or kind
            else "No facilities yet: add them with 'reclaim facilities import FILE'."
        )
        return
    table = Table("Code", "Name", "Kind", "Methods", "Postcode", "Country", "Hours", "Active")
    for facility in found:
        table.add_row(
            facility.code,
            facility.name,
            facility.kind,
            " ".join(facility.methods),
            facility.postcode or "",
            facility.country or "",
            facility.opening_hours or "",
            "yes" if facility.active else "no",
        )
    console.print(table)
