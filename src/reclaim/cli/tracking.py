"""``reclaim tracking import FILE``: a carrier's scans from a CSV file.

Unlike orders, scans are applied row by row: a bad row is reported and skipped, the good ones
still count (each is de-duplicated, so importing the file again is harmless). Rows are
written in chunks, one transaction per chunk.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.cli.common import console, err_console, with_database
from reclaim.config import get_settings
from reclaim.db import transaction
from reclaim.kit.clock import utcnow
from reclaim.logistics import tracking
from reclaim.logistics.carriers import carrier
from reclaim.logistics.tracking_service import Change, Outcome, ScanResult, record_scans
from reclaim.orders.importer import RowError

tracking_app = typer.Typer(help="Carrier tracking events.", no_args_is_help=True)
MAX_ERRORS_SHOWN = 20
CHUNK = 200


def _read(path: Path, chosen: str) -> tracking.ParsedScans:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        return tracking.ParsedScans(
            errors=[RowError(1, f"the file is not UTF-8 text ({exc.reason})")]
        )
    return tracking.parse_csv(text, carrier(chosen).parse_event)


def _list_errors(errors: list[RowError]) -> None:
    for error in errors[:MAX_ERRORS_SHOWN]:
        err_console.print(f"  {error}", soft_wrap=True, markup=False)
    if len(errors) > MAX_ERRORS_SHOWN:
        err_console.print(f"  … and {len(errors) - MAX_ERRORS_SHOWN} more")


@tracking_app.command("import")
def import_tracking(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="CSV: "
            + ", ".join(tracking.CSV_COLUMNS)
            + " (occurred_at in ISO-8601 with a time zone)",
        ),
    ],
) -> None:
    """Record a carrier's scans; bad rows are listed and skipped, the rest applied."""
    chosen = get_settings().carrier
    parsed = _read(file, chosen)
    if parsed.unreadable:
        err_console.print(f"[bold red]{file.name}: nothing could be read; nothing was imported.[/]")
        _list_errors(parsed.errors)
        err_console.print("Fix the file and run the import again.")
        raise typer.Exit(1)

    async def _write(sessions: async_sessionmaker[AsyncSession]) -> list[ScanResult]:
        results: list[ScanResult] = []
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("Recording scans", total=len(parsed.scans))
            for start in range(0, len(parsed.scans), CHUNK):
                chunk = [scan for _, scan in parsed.scans[start : start + CHUNK]]
                async with transaction(sessions) as session:
                    results += await record_scans(
                        session, chunk, "csv", utcnow(), carrier=carrier(chosen).name
                    )
                progress.advance(task, len(chunk))
        return results

    results = with_database(_write)
    unknown = [
        RowError(line, result.message)
        for (line, _), result in zip(parsed.scans, results, strict=True)
        if result.outcome is Outcome.UNKNOWN
    ]
    problems = sorted(parsed.errors + unknown, key=lambda error: error.line)
    if problems:
        err_console.print(f"[bold yellow]{file.name}: {len(problems)} row(s) skipped:[/]")
        _list_errors(problems)
    _summary(parsed, results)


def _summary(parsed: tracking.ParsedScans, results: list[ScanResult]) -> None:
    outcomes = Counter(result.outcome for result in results)
    changes = Counter(change for result in results for change in result.changes)
    table = Table("Rows", "Count", title=f"{parsed.rows} row(s) read")
    for label, number in (
        ("Stored", outcomes[Outcome.STORED] + outcomes[Outcome.IGNORED]),
        ("Duplicates", outcomes[Outcome.DUPLICATE]),
        ("Moved to in transit", changes[Change.IN_TRANSIT]),
        ("Arrived", changes[Change.ARRIVED]),
        ("Exceptions", changes[Change.ATTENTION]),
        ("Stored, no effect (return closed or received)", outcomes[Outcome.IGNORED]),
        ("Unknown tracking numbers", outcomes[Outcome.UNKNOWN]),
        ("Bad rows", len(parsed.errors)),
    ):
        table.add_row(label, str(number))
    console.print(table)
