"""Carrier scans on a real database: stored once, applied once, never moving a return back."""

from __future__ import annotations

import asyncio
import csv
import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.db import transaction
from reclaim.logistics.carriers import Scan
from reclaim.logistics.tracking import checked
from reclaim.logistics.tracking_service import Change, Outcome, ScanResult, record_scans
from reclaim.returns import service as returns
from reclaim.returns.schemas import InspectIn, ReceiveIn
from tests.factories import actor, seed_order, seed_return
from tests.integration.helpers import rows, run_cli, scalar, table_rows

Sessions = async_sessionmaker[AsyncSession]
AT = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)


async def _approved(sessions: Sessions, order_id: str = "1001", **kwargs: Any) -> tuple[str, str]:
    """An approved return and its shipment's tracking number."""
    await seed_order(sessions, order_id=order_id)
    number = await seed_return(sessions, order_id, **kwargs)
    async with transaction(sessions) as session:
        await returns.approve(session, number, actor())
    tracking = await scalar(
        sessions,
        "SELECT s.tracking_number FROM shipments s JOIN returns r ON r.id = s.return_id"
        " WHERE r.number = :number",
        number=number,
    )
    return number, str(tracking)


def _scan(tracking: str, code: str, hours: float = 0, **extra: Any) -> Scan:
    return Scan(tracking, code, AT + timedelta(hours=hours), **extra)


async def _record(sessions: Sessions, *scans: Scan, source: str = "api") -> list[ScanResult]:
    async with transaction(sessions) as session:
        return await record_scans(session, list(scans), source, NOW)


async def _status(sessions: Sessions, number: str) -> str:
    return str(await scalar(sessions, "SELECT status FROM returns WHERE number = :n", n=number))


async def _events(sessions: Sessions, number: str) -> list[tuple[Any, ...]]:
    """The return's timeline after approval: action, from, to, actor."""
    return await rows(
        sessions,
        "SELECT e.action, e.from_status, e.to_status, e.actor FROM return_events e"
        " JOIN returns r ON r.id = e.return_id WHERE r.number = :number"
        " AND e.action NOT IN ('create', 'approve') ORDER BY e.id",
        number=number,
    )


async def _topics(sessions: Sessions, number: str) -> Counter[str]:
    found = await rows(sessions, "SELECT topic FROM outbox WHERE aggregate = :n", n=number)
    return Counter(topic for (topic,) in found)


async def _shipment(sessions: Sessions, tracking: str) -> dict[str, Any]:
    (row,) = await rows(
        sessions,
        "SELECT stage, first_scan_at, delivered_at, last_event_at FROM shipments"
        " WHERE tracking_number = :t",
        t=tracking,
    )
    return dict(zip(("stage", "first_scan_at", "delivered_at", "last_event_at"), row, strict=True))


async def _stored(sessions: Sessions) -> int:
    return int(await scalar(sessions, "SELECT count(*) FROM tracking_events"))


def _same_moment(value: Any, expected: datetime) -> bool:
    """A timestamp read back with plain SQL: aware on PostgreSQL, text or naive on SQLite."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return bool(value.replace(tzinfo=value.tzinfo or UTC) == expected)


async def test_the_first_scan_moves_an_approved_return_in_transit_exactly_once(
    sessions: Sessions,
) -> None:
    number, tracking = await _approved(sessions)

    first = await _record(sessions, _scan(tracking, "picked_up", location="Soho"))
    later = await _record(
        sessions, _scan(tracking, "in_transit", 5), _scan(tracking, "out_for_delivery", 20)
    )

    assert [(r.outcome, r.changes, r.stage) for r in first] == [
        (Outcome.STORED, (Change.IN_TRANSIT, Change.STAGE), "accepted")
    ]
    assert first[0].return_number == number
    assert [r.changes for r in later] == [(Change.STAGE,), (Change.STAGE,)]
    assert await _status(sessions, number) == "in_transit"
    assert await _events(sessions, number) == [
        ("mark_in_transit", "approved", "in_transit", "carrier:local")
    ]
    assert (await _topics(sessions, number))["return.in_transit"] == 1
    shipment = await _shipment(sessions, tracking)
    assert shipment["stage"] == "out_for_delivery"
    assert _same_moment(shipment["first_scan_at"], AT)
    assert _same_moment(shipment["last_event_at"], AT + timedelta(hours=20))
    assert await _stored(sessions) == 3


@pytest.mark.parametrize(
    "again",
    [
        pytest.param({"event_id": "E-1"}, id="same-event-id"),
        pytest.param({}, id="same-content-without-id"),
    ],
)
async def test_a_scan_reported_twice_is_stored_once_and_acts_once(
    sessions: Sessions, again: dict[str, Any]
) -> None:
    number, tracking = await _approved(sessions)
    scan = _scan(tracking, "accepted", location="Soho", **again)

    first = await _record(sessions, scan)
    # The copy may come by another route, with other words for the same scan.
    copy = Scan(
        tracking.lower(),
        "dropped_off",
        scan.occurred_at.astimezone(UTC) + timedelta(microseconds=300),
        event_id=scan.event_id,
        location="Soho",
    )
    second = await _record(sessions, checked(copy), source="csv")

    assert [r.outcome for r in first + second] == [Outcome.STORED, Outcome.DUPLICATE]
    assert second[0].changes == ()
    assert await _stored(sessions) == 1
    assert await _events(sessions, number) == [
        ("mark_in_transit", "approved", "in_transit", "carrier:local")
    ]


async def test_delivered_before_accepted_ends_delivered_and_in_transit_never_back(
    sessions: Sessions,
) -> None:
    number, tracking = await _approved(sessions)

    delivered = await _record(sessions, _scan(tracking, "delivered", 30, facility_code="WH-1"))
    late = await _record(sessions, _scan(tracking, "accepted"), _scan(tracking, "in_transit", 4))

    assert delivered[0].changes == (Change.IN_TRANSIT, Change.STAGE, Change.ARRIVED)
    assert [(r.outcome, r.changes, r.stage) for r in late] == [
        (Outcome.STORED, (), "delivered"),
        (Outcome.STORED, (), "delivered"),
    ]
    assert await _status(sessions, number) == "in_transit"
    shipment = await _shipment(sessions, tracking)
    assert shipment["stage"] == "delivered"
    assert _same_moment(shipment["delivered_at"], AT + timedelta(hours=30))
    # The earliest scan is when it was handed over, though it was reported last.
    assert _same_moment(shipment["first_scan_at"], AT)
    assert await _events(sessions, number) == [
        ("mark_in_transit", "approved", "in_transit", "carrier:local"),
        ("arrived", "in_transit", "in_transit", "carrier:local"),
    ]
    topics = await _topics(sessions, number)
    assert (topics["return.in_transit"], topics["return.arrived"]) == (1, 1)


async def test_a_carrier_exception_flags_the_return_for_staff_until_they_clear_it(
    sessions: Sessions,
) -> None:
    number, tracking = await _approved(sessions)
    await _record(sessions, _scan(tracking, "accepted"))

    flagged = await _record(
        sessions, _scan(tracking, "damaged", 6, description="Box crushed at the hub")
    )
    await _record(sessions, _scan(tracking, "in_transit", 9))

    assert flagged[0].changes == (Change.ATTENTION,)
    assert await _status(sessions, number) == "in_transit"
    (attention,) = await rows(
        sessions, "SELECT attention, attention_at FROM returns WHERE number = :n", n=number
    )
    assert attention[0] == "Box crushed at the hub"
    assert _same_moment(attention[1], NOW)
    assert ("attention", "in_transit", "in_transit", "carrier:local") in await _events(
        sessions, number
    )
    assert (await _topics(sessions, number))["return.attention"] == 1
    (payload,) = await rows(sessions, "SELECT payload FROM outbox WHERE topic = 'return.attention'")
    assert "Box crushed at the hub" in str(payload[0])


@pytest.mark.parametrize(("closing", "status"), [("cancel", "cancelled"), ("expire", "expired")])
async def test_a_parcel_travelling_for_a_called_off_return_is_flagged_once_for_staff(
    sessions: Sessions, closing: str, status: str
) -> None:
    number, tracking = await _approved(sessions)
    async with transaction(sessions) as session:
        if closing == "cancel":
            await returns.cancel(session, number, actor(), "Changed my mind")
        else:
            await returns.expire(session, number, actor())
    before = await _events(sessions, number)

    # An exception says nothing about the parcel travelling; the first progress scan does.
    result = await _record(
        sessions,
        _scan(tracking, "lost", 1),
        _scan(tracking, "accepted"),
        _scan(tracking, "in_transit", 2),
    )
    later = await _record(sessions, _scan(tracking, "delivered", 30))

    assert [(r.outcome, r.changes) for r in result + later] == [
        (Outcome.IGNORED, ()),
        (Outcome.IGNORED, (Change.STAGE, Change.ATTENTION)),
        (Outcome.IGNORED, (Change.STAGE,)),
        (Outcome.IGNORED, (Change.STAGE,)),
    ]
    assert f"is {status}, but the parcel is on its way back: flagged" in result[1].message
    assert await _stored(sessions) == 4
    assert await _status(sessions, number) == status
    assert await _events(sessions, number) == [
        *before,
        ("attention", status, status, "carrier:local"),
    ]
    topics = await _topics(sessions, number)
    assert (topics["return.attention"], topics["return.arrived"]) == (1, 0)
    (attention,) = await rows(
        sessions, "SELECT attention, attention_at FROM returns WHERE number = :n", n=number
    )
    assert attention[0] == (
        f"The carrier scanned the parcel on 1 Mar 2025 after the return was {status}: "
        "it is on its way back anyway; decide what to do with it."
    )
    assert _same_moment(attention[1], NOW)
    shipment = await _shipment(sessions, tracking)
    assert shipment["stage"] == "delivered"
    assert _same_moment(shipment["first_scan_at"], AT)


@pytest.mark.parametrize("inspected", [False, True], ids=["received", "inspected"])
async def test_scans_after_the_warehouse_has_the_parcel_complete_the_shipment_not_the_return(
    sessions: Sessions, inspected: bool
) -> None:
    number, tracking = await _approved(sessions)
    async with transaction(sessions) as session:
        await returns.receive(
            session,
            number,
            ReceiveIn.model_validate({"lines": [{"line_id": "1", "quantity": 1}]}),
            actor(),
        )
        if inspected:
            await returns.inspect(
                session,
                number,
                InspectIn.model_validate({"lines": [{"line_id": "1", "grade": "new"}]}),
                actor(),
            )
    status = "inspected" if inspected else "received"
    actions = await _events(sessions, number)

    result = await _record(
        sessions,
        _scan(tracking, "delivered", 30),
        _scan(tracking, "accepted"),
        _scan(tracking, "in_transit", 4),
    )

    assert [(r.outcome, r.changes, r.stage) for r in result] == [
        (Outcome.IGNORED, (Change.STAGE,), "delivered"),
        (Outcome.IGNORED, (), "delivered"),
        (Outcome.IGNORED, (), "delivered"),
    ]
    assert "was already received, so the return stays as it is" in result[0].message
    assert await _status(sessions, number) == status
    assert await _events(sessions, number) == actions
    assert (await _topics(sessions, number))["return.arrived"] == 0
    assert await _stored(sessions) == 3
    shipment = await _shipment(sessions, tracking)
    assert shipment["stage"] == "delivered"
    assert _same_moment(shipment["first_scan_at"], AT)
    assert _same_moment(shipment["delivered_at"], AT + timedelta(hours=30))
    assert _same_moment(shipment["last_event_at"], AT + timedelta(hours=30))
    assert await scalar(sessions, "SELECT attention FROM returns") is None


async def test_the_same_event_id_on_two_parcels_is_two_scans(sessions: Sessions) -> None:
    # Carriers often number events per parcel: event 1 of one parcel isn't event 1 of another.
    first, first_tracking = await _approved(sessions, "1001")
    second, second_tracking = await _approved(sessions, "1002")

    result = await _record(
        sessions,
        _scan(first_tracking, "accepted", event_id="1"),
        _scan(second_tracking, "accepted", 1, event_id="1"),
    )

    assert [(r.outcome, r.changes) for r in result] == [
        (Outcome.STORED, (Change.IN_TRANSIT, Change.STAGE)),
        (Outcome.STORED, (Change.IN_TRANSIT, Change.STAGE)),
    ]
    assert await _stored(sessions) == 2
    assert [await _status(sessions, number) for number in (first, second)] == ["in_transit"] * 2


async def test_an_unknown_tracking_number_is_reported_and_nothing_stored(
    sessions: Sessions,
) -> None:
    _, tracking = await _approved(sessions)

    result = await _record(
        sessions, _scan("RC000000000000X", "accepted"), _scan(tracking, "accepted")
    )

    assert [r.outcome for r in result] == [Outcome.UNKNOWN, Outcome.STORED]
    assert "RC000000000000X" in result[0].message
    assert await _stored(sessions) == 1


async def test_twenty_identical_scans_at_once_store_one_event_and_move_once(
    sessions: Sessions,
) -> None:
    number, tracking = await _approved(sessions)
    scan = _scan(tracking, "accepted", event_id="E-RACE")

    results = await asyncio.gather(*(_record(sessions, scan) for _ in range(20)))

    assert Counter(r[0].outcome for r in results) == {Outcome.STORED: 1, Outcome.DUPLICATE: 19}
    assert await _stored(sessions) == 1
    assert await _events(sessions, number) == [
        ("mark_in_transit", "approved", "in_transit", "carrier:local")
    ]
    assert (await _topics(sessions, number))["return.in_transit"] == 1


async def test_different_scans_at_once_leave_the_furthest_stage_and_one_transition(
    sessions: Sessions,
) -> None:
    number, tracking = await _approved(sessions)
    codes = ["accepted", "in_transit", "out_for_delivery", "delivered"] * 3

    await asyncio.gather(
        *(_record(sessions, _scan(tracking, code, hours)) for hours, code in enumerate(codes))
    )

    assert (await _shipment(sessions, tracking))["stage"] == "delivered"
    assert await _stored(sessions) == len(codes)
    actions = Counter(event[0] for event in await _events(sessions, number))
    assert actions == {"mark_in_transit": 1, "arrived": 1}


# --- reclaim tracking import -----------------------------------------------------------------

HEADER = ["tracking_number", "code", "occurred_at", "event_id", "location", "description"]


def _csv(data_rows: list[list[str]], header: list[str] = HEADER) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(data_rows)
    return out.getvalue()


@pytest.mark.usefixtures("cli_env")
async def test_a_carrier_csv_applies_good_rows_and_names_the_rest(
    sessions: Sessions, tmp_path: Path
) -> None:
    first, first_tracking = await _approved(sessions, "1001")
    second, second_tracking = await _approved(sessions, "1002")
    path = tmp_path / "scans.csv"
    path.write_text(
        _csv(
            [
                [first_tracking, "picked_up", "2025-03-01T09:00:00Z", "A1", "Soho", ""],
                [first_tracking, "accepted", "2025-03-01T09:00:00Z", "A1", "Soho", ""],  # dup
                [first_tracking, "delivered", "2025-03-02T10:00:00+01:00", "A2", "", ""],
                [second_tracking, "dropped_off", "2025-03-01T11:00:00", "", "", ""],  # naive
                [second_tracking, "lost", "2025-03-01T12:00:00Z", "", "", "Parcel missing"],
                ["RC999999999999X", "accepted", "2025-03-01T12:00:00Z", "", "", ""],
                [second_tracking, "beamed_up", "2025-03-01T13:00:00Z", "", "", ""],
            ]
        )
    )

    result = await run_cli("tracking", "import", str(path))

    assert result.exit_code == 0, result.output
    assert "line 5: occurred_at: '2025-03-01T11:00:00' has no time zone" in result.output
    assert "line 7: No shipment has tracking number RC999999999999X" in result.output
    assert "line 8: code: 'beamed_up' is not a tracking code" in result.output
    assert dict(row for row in table_rows(result.output) if len(row) == 2) == {
        "Stored": "3",
        "Duplicates": "1",
        "Moved to in transit": "1",
        "Arrived": "1",
        "Flagged for staff": "1",
        "For closed or received returns": "0",
        "Unknown tracking numbers": "1",
        "Bad rows": "2",
    }
    assert await _status(sessions, first) == "in_transit"
    assert await _status(sessions, second) == "approved"  # an exception is no handover
    assert await scalar(sessions, "SELECT attention FROM returns WHERE number = :n", n=second) == (
        "Parcel missing"
    )
    assert await scalar(sessions, "SELECT count(*) FROM tracking_events WHERE source = 'csv'") == 3

    again = await run_cli("tracking", "import", str(path))

    assert again.exit_code == 0, again.output
    assert ["Duplicates", "4"] in table_rows(again.output)
    assert await _stored(sessions) == 3


@pytest.mark.usefixtures("cli_env")
async def test_a_csv_with_a_bad_header_imports_nothing_and_fails(
    sessions: Sessions, tmp_path: Path
) -> None:
    _, tracking = await _approved(sessions)
    path = tmp_path / "scans.csv"
    path.write_text(_csv([[tracking, "accepted", "2025-03-01T09:00Z"]], ["number", "code", "at"]))

    result = await run_cli("tracking", "import", str(path))

    assert result.exit_code == 1
    assert "nothing could be read" in result.output
    assert "missing column(s) tracking_number, occurred_at" in result.output
    assert await _stored(sessions) == 0
