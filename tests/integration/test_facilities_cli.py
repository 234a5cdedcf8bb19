"""``reclaim facilities import FILE`` and ``list``; the demo's facilities and addresses."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import Result

from reclaim.simulation.facilities import demo_facilities
from tests.integration.helpers import rows, run_cli, scalar, table_rows

Sessions = async_sessionmaker[AsyncSession]
pytestmark = pytest.mark.usefixtures("cli_env")

HEADER = [
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
]
GOOD_ROWS = [
    ["DROP-SOHO", "Old Compton News", "dropoff", "box_free_dropoff", "22 Old Compton St",
     "W1D 4TN", "GB", "51.51335", "-0.13095", "Mon-Sun 07:00-22:00"],
    ["LOCK-KX", "King's Cross lockers", "locker", "locker;box_free_dropoff", "Euston Road",
     "N1C 4AP", "gb", "51.5309", "-0.1233", "24/7"],
    ["STORE-OX", "Oxford Street store", "store", "in_store box_free_dropoff",
     "300 Oxford Street, London", "W1C 1DX", "GB", "51.5152", "-0.1446", ""],
    ["WH-1", "Returns centre", "warehouse", "", "Park Royal", "NW10 7SU", "GB", "", "", ""],
]  # fmt: skip


def _csv(data_rows: list[list[str]], header: list[str] = HEADER) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(data_rows)
    return out.getvalue()


async def _import(path: Path) -> Result:
    return await run_cli("facilities", "import", str(path))


async def _stored(sessions: Sessions) -> list[tuple[Any, ...]]:
    found = await rows(
        sessions,
        "SELECT code, kind, methods, postcode, country, lat, lon, opening_hours"
        " FROM facilities ORDER BY code",
    )
    # JSON comes back as text from a plain query, on either database.
    return [
        (row[0], row[1], json.loads(row[2]) if isinstance(row[2], str) else row[2], *row[3:])
        for row in found
    ]


async def test_a_good_file_imports_every_facility(sessions: Sessions, tmp_path: Path) -> None:
    path = tmp_path / "facilities.csv"
    path.write_text(_csv(GOOD_ROWS))

    result = await _import(path)

    assert result.exit_code == 0, result.output
    assert "Imported 4 facilities from 4 row(s): 4 new, 0 updated" in result.output
    assert await _stored(sessions) == [
        ("DROP-SOHO", "dropoff", ["box_free_dropoff"], "W1D 4TN", "GB", 51.51335, -0.13095,
         "Mon-Sun 07:00-22:00"),
        ("LOCK-KX", "locker", ["box_free_dropoff", "locker"], "N1C 4AP", "GB", 51.5309, -0.1233,
         "24/7"),
        ("STORE-OX", "store", ["box_free_dropoff", "in_store"], "W1C 1DX", "GB", 51.5152,
         -0.1446, None),
        ("WH-1", "warehouse", [], "NW10 7SU", "GB", None, None, None),
    ]  # fmt: skip

    listed = await run_cli("facilities", "list")
    assert listed.exit_code == 0, listed.output
    assert [row[0] for row in table_rows(listed.output)] == [
        "DROP-SOHO",
        "LOCK-KX",
        "STORE-OX",
        "WH-1",
    ]
    lockers = await run_cli("facilities", "list", "--method", "locker")
    assert [row[:3] for row in table_rows(lockers.output)] == [
        ["LOCK-KX", "King's Cross lockers", "locker"]
    ]


async def test_reimporting_updates_in_place(sessions: Sessions, tmp_path: Path) -> None:
    path = tmp_path / "facilities.csv"
    path.write_text(_csv(GOOD_ROWS))
    assert (await _import(path)).exit_code == 0
    changed = [row.copy() for row in GOOD_ROWS]
    changed[0][3] = "box_free_dropoff; locker"

    path.write_text(_csv(changed))

    result = await _import(path)

    assert result.exit_code == 0, result.output
    assert "0 new, 4 updated" in result.output
    stored = await _stored(sessions)
    assert len(stored) == 4
    assert stored[0][:3] == ("DROP-SOHO", "dropoff", ["box_free_dropoff", "locker"])


def _bad(row: int, column: str, value: str) -> list[str]:
    changed = GOOD_ROWS[row].copy()
    changed[HEADER.index(column)] = value
    return changed


async def test_a_file_with_bad_rows_names_each_and_imports_nothing(
    sessions: Sessions, tmp_path: Path
) -> None:
    first = tmp_path / "first.csv"
    first.write_text(_csv(GOOD_ROWS[:1]))
    assert (await _import(first)).exit_code == 0
    before = await _stored(sessions)
    data_rows = [
        GOOD_ROWS[1],  # line 2: good, and new: must not be written either
        _bad(0, "lat", "north"),  # line 3
        _bad(0, "lat", "95"),  # line 4
        _bad(1, "kind", "castle"),  # line 5
        _bad(1, "methods", "locker;teleport"),  # line 6
        _bad(1, "methods", "keep_item"),  # line 7
        _bad(2, "lat", ""),  # line 8: a longitude without a latitude
        GOOD_ROWS[1],  # line 9: the same code again
        _bad(2, "name", ""),  # line 10
        GOOD_ROWS[2] + ["surplus"],  # line 11
        GOOD_ROWS[3],  # line 12: good
    ]
    path = tmp_path / "facilities.csv"
    path.write_text(_csv(data_rows))

    result = await _import(path)

    assert result.exit_code == 1
    assert "9 bad row(s); nothing was imported" in result.output
    reported = {
        int(line.split(":")[0].split()[-1])
        for line in result.output.splitlines()
        if line.strip().startswith("line ")
    }
    assert reported == {3, 4, 5, 6, 7, 8, 9, 10, 11}
    for words in ("lat: 'north' is not a number", "less than or equal to 90", "kind",
                  "teleport", "keep_item", "both lat and lon", "already on line 2",
                  "name must not be empty", "11 values for 10 columns"):  # fmt: skip
        assert words in result.output, words
    assert await _stored(sessions) == before


@pytest.mark.parametrize(
    ("header", "words"),
    [
        (["code", "name"], "missing column(s) kind"),
        ([*HEADER, "colour"], "unknown column(s) colour"),
    ],
    ids=["missing", "unknown"],
)
async def test_a_wrong_header_is_line_1(
    sessions: Sessions, tmp_path: Path, header: list[str], words: str
) -> None:
    path = tmp_path / "facilities.csv"
    path.write_text(_csv([], header))

    result = await _import(path)

    assert result.exit_code == 1
    assert f"line 1: {words}" in result.output
    assert await _stored(sessions) == []


async def test_an_empty_list_says_how_to_add_facilities() -> None:
    result = await run_cli("facilities", "list")

    assert result.exit_code == 0, result.output
    assert "reclaim facilities import" in result.output


async def test_the_demo_seeds_facilities_and_ships_around_london(sessions: Sessions) -> None:
    result = await run_cli("demo", "--days", "2", "--orders-per-day", "3")

    assert result.exit_code == 0, result.output
    codes = [row[0] for row in await _stored(sessions)]
    assert codes == sorted(facility.code for facility in demo_facilities())
    kinds = {row[1] for row in await _stored(sessions)}
    assert kinds == {"dropoff", "locker", "store", "warehouse"}
    addresses = await rows(
        sessions, "SELECT ship_postcode, ship_country, ship_lat, ship_lon FROM orders"
    )
    assert addresses and await scalar(sessions, "SELECT count(*) FROM orders") == len(addresses)
    for postcode, country, lat, lon in addresses:
        assert country == "GB" and postcode and " " in postcode
        # Greater London, give or take.
        assert 51.3 < lat < 51.7 and -0.5 < lon < 0.3
