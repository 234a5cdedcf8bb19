"""The inbound forecast on a real database: what each facility received, by day, and the
forecast and command built on it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.db import transaction
from reclaim.errors import NotFound, ValidationFailed
from reclaim.kit.clock import utcnow
from reclaim.logistics.schemas import FacilityIn
from reclaim.logistics.service import upsert_facility
from reclaim.prediction.forecast_service import (
    UNASSIGNED,
    FacilityHistory,
    forecast_inbound,
    histories,
)
from reclaim.returns import service as returns
from reclaim.returns.schemas import ReceiveIn, ReturnIn
from tests.factories import MANUAL_POLICY, actor, seed_order
from tests.integration.helpers import run_cli, table_rows

Sessions = async_sessionmaker[AsyncSession]
# Returns are asked for now and received in the weeks after; the forecast starts after them.
TODAY = utcnow().date() + timedelta(days=60)
FACILITIES = [("WH-N", "North warehouse"), ("WH-S", "South warehouse")]
# (facility, days before TODAY it was received (None: never), units): two at WH-N on one day.
RECEIVED: list[tuple[str | None, int | None, int]] = [
    ("WH-N", 10, 1),
    ("WH-N", 10, 2),
    ("WH-N", 8, 3),
    ("WH-N", 3, 1),
    ("WH-S", 5, 2),
    (None, 2, 1),
    # Not history: on or after the first forecast day, on its way, or over a year before.
    ("WH-N", 0, 3),
    ("WH-S", None, 1),
    ("WH-S", 366, 1),
]


async def receive_returns(sessions: Sessions) -> None:
    for code, name in FACILITIES:
        data = FacilityIn.model_validate(
            {"code": code, "name": name, "kind": "warehouse", "methods": ["box_free_dropoff"]}
        )
        async with transaction(sessions) as session:
            await upsert_facility(session, data)
    for n, (code, days_before, units) in enumerate(RECEIVED):
        order = f"F-{n}"
        await seed_order(sessions, order_id=order, quantity=3)
        payload = {
            "order_id": order,
            "method": "prepaid_label" if code is None else "box_free_dropoff",
            "lines": [{"line_id": "1", "quantity": units, "reason": "too_small"}],
            **({"facility": code} if code else {}),
        }
        async with transaction(sessions) as session:
            ret = await returns.create_return(
                session, ReturnIn.model_validate(payload), actor(), policy=MANUAL_POLICY
            )
            await returns.approve(session, ret.number, actor())
        if days_before is None:
            continue
        # Late in the UTC day: the day it counts on is the UTC one.
        at = datetime.combine(TODAY - timedelta(days=days_before), time(23, 30), UTC)
        counted = ReceiveIn.model_validate({"lines": [{"line_id": "1", "quantity": units}]})
        async with transaction(sessions) as session:
            await returns.receive(session, ret.number, counted, actor("dock", at))


async def read(sessions: Sessions, **kwargs: object) -> list[FacilityHistory]:
    async with transaction(sessions) as session:
        return await histories(session, TODAY, **kwargs)  # type: ignore[arg-type]


async def test_each_facility_history_counts_returns_and_units_per_day(sessions: Sessions) -> None:
    await receive_returns(sessions)

    found = await read(sessions)

    assert [(one.facility, one.name) for one in found] == [
        ("WH-N", "North warehouse"),
        ("WH-S", "South warehouse"),
        (UNASSIGNED, "Straight to the warehouse"),
    ]
    north, south, unassigned = (one.history for one in found)
    assert north.first_day == TODAY - timedelta(days=10)
    assert north.returns.tolist() == [2, 0, 1, 0, 0, 0, 0, 1, 0, 0]
    assert north.units.tolist() == [3, 0, 3, 0, 0, 0, 0, 1, 0, 0]
    assert south.first_day == TODAY - timedelta(days=5)
    assert south.units.tolist() == [2, 0, 0, 0, 0]
    assert unassigned.returns.tolist() == [1, 0]


async def test_one_facility_or_the_unassigned_returns_alone(sessions: Sessions) -> None:
    await receive_returns(sessions)

    assert [one.facility for one in await read(sessions, facility="WH-S")] == ["WH-S"]
    assert [one.facility for one in await read(sessions, facility=UNASSIGNED)] == [UNASSIGNED]
    with pytest.raises(NotFound, match="NOPE"):
        await read(sessions, facility="NOPE")


async def test_the_forecast_starts_today_for_each_facility(sessions: Sessions) -> None:
    await receive_returns(sessions)

    async with transaction(sessions) as session:
        found = await forecast_inbound(session, TODAY, 14)

    assert [one.facility for one in found] == ["WH-N", "WH-S", UNASSIGNED]
    north = found[0]
    assert [day.day for day in north.days] == [TODAY + timedelta(days=i) for i in range(14)]
    assert [day.day for day in north.units] == [day.day for day in north.days]
    assert north.history_days == 10
    # Ten days are too few for weekdays: 4 returns of 7 units over 10 days, flat, noted.
    assert north.note is not None and "Not enough history" in north.note
    assert north.days[0].expected == pytest.approx(0.4)
    assert north.units[0].expected == pytest.approx(0.7)
    assert north.backtest.windows == 0 and north.backtest.mape_model is None


async def test_no_returns_received_means_no_forecasts(sessions: Sessions) -> None:
    async with transaction(sessions) as session:
        assert await forecast_inbound(session, TODAY) == []


@pytest.mark.parametrize(
    ("today", "horizon", "message"),
    [
        (TODAY, 0, "horizon"),
        (TODAY, 92, "horizon"),
        (date(1, 1, 1), 28, "start between"),
    ],
)
async def test_a_bad_horizon_or_start_is_refused(
    sessions: Sessions, today: date, horizon: int, message: str
) -> None:
    async with transaction(sessions) as session:
        with pytest.raises(ValidationFailed, match=message):
            await forecast_inbound(session, today, horizon)


async def test_the_command_prints_weeks_days_and_the_backtest(
    sessions: Sessions, cli_env: str
) -> None:
    await receive_returns(sessions)

    result = await run_cli("model", "forecast", "--today", TODAY.isoformat(), "--daily")

    assert result.exit_code == 0, result.output
    assert "WH-N North warehouse" in result.output
    assert "unassigned Returns with no facility" in result.output
    assert "Not enough history (10 days)" in result.output
    assert "not enough history yet to test" in result.output
    rows = table_rows(result.output)
    first = f"{TODAY:%a %d %b}"
    # WH-N's weeks (0.4 returns a day), then its first day.
    assert rows[0] == [f"{first} – {TODAY + timedelta(days=6):%a %d %b}", "3", "5"]
    assert rows[4][:2] == [first, "0.4"]


async def test_the_command_for_one_facility_and_for_none(sessions: Sessions, cli_env: str) -> None:
    await receive_returns(sessions)

    one = await run_cli("model", "forecast", "--facility", "WH-S", "--today", TODAY.isoformat())
    unknown = await run_cli("model", "forecast", "--facility", "NOPE")
    quiet = await run_cli("model", "forecast", "--today", "2001-01-01")

    assert one.exit_code == 0, one.output
    assert "WH-S South warehouse" in one.output and "WH-N" not in one.output
    assert unknown.exit_code == 1 and "No facility 'NOPE'" in unknown.output
    assert quiet.exit_code == 0 and "nothing to forecast" in quiet.output
