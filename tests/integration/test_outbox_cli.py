"""``reclaim outbox``: what is pending, delivered and dead, replaying the dead, one delivery's log.

The deliveries are written as the worker leaves them; each command's output is read back and,
for replay, the database too. A refused command changes nothing and exits with 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.db import transaction
from reclaim.kit.clock import as_utc, utcnow
from reclaim.notifications.models import Delivery, DeliveryAttempt
from reclaim.notifications.outbox import enqueue
from tests.integration.helpers import rows, run_cli, table_rows

Sessions = async_sessionmaker[AsyncSession]
pytestmark = pytest.mark.usefixtures("cli_env")


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")


async def _add(
    sessions: Sessions,
    channel: str,
    target: str,
    status: str,
    *,
    topic: str = "return.approved",
    attempts: Sequence[tuple[bool, int | None, str | None]] = (),
    due_in: timedelta = timedelta(0),
    **fields: Any,
) -> int:
    """One delivery of a fresh outbox message, with its attempts (ok, code, error)."""
    now = utcnow()
    async with transaction(sessions) as session:
        message = enqueue(session, topic, "RMA-TEST", {"return": "RMA-TEST"}, now)
        message.dispatched_at = now
        await session.flush()
        delivery = Delivery(
            outbox_id=message.id,
            channel=channel,
            target=target,
            content={"subject": f"About {topic}"} if channel == "email" else {"body": "{}"},
            status=status,
            attempts=len(attempts),
            next_attempt_at=now + due_in,
            last_error=attempts[-1][2] if attempts else None,
            delivered_at=now if status == "delivered" else None,
            created_at=now - timedelta(minutes=5),
            **fields,
        )
        session.add(delivery)
        await session.flush()
        for number, (ok, code, error) in enumerate(attempts, 1):
            session.add(
                DeliveryAttempt(
                    delivery_id=delivery.id,
                    number=number,
                    at=now - timedelta(seconds=60 - number),
                    ok=ok,
                    status_code=code,
                    error=error,
                    duration_ms=12,
                    worker="host:1:abcd",
                )
            )
        return delivery.id


async def _mixed(sessions: Sessions) -> dict[str, int]:
    return {
        "delivered": await _add(
            sessions, "email", "ann@example.com", "delivered", attempts=[(True, None, None)]
        ),
        "bounced": await _add(
            sessions,
            "email",
            "bob@example.com",
            "dead",
            attempts=[(False, 550, "550 5.1.1 No such user here")],
        ),
        "retrying": await _add(
            sessions,
            "webhook",
            "1",
            "pending",
            topic="return.received",
            attempts=[(False, 503, "HTTP 503: busy"), (False, 503, "HTTP 503: busy")],
            due_in=timedelta(minutes=10),
        ),
        "exhausted": await _add(
            sessions,
            "webhook",
            "2",
            "dead",
            topic="return.rejected",
            attempts=[(False, 500, "[bold]HTTP 500[/bold]: boom")] * 3,
        ),
    }


async def _deliveries(sessions: Sessions) -> list[tuple[Any, ...]]:
    return await rows(
        sessions,
        "SELECT id, status, attempts, next_attempt_at, claimed_by, last_error FROM deliveries"
        " ORDER BY id",
    )


async def test_status_counts_deliveries_per_channel_and_status(sessions: Sessions) -> None:
    await _mixed(sessions)
    await _add(sessions, "email", "cy@example.com", "pending", due_in=timedelta(minutes=-1))
    async with transaction(sessions) as session:
        enqueue(session, "return.review", "RMA-TEST", {}, utcnow())

    result = await run_cli("outbox", "status")

    assert result.exit_code == 0, result.output
    assert table_rows(result.output) == [["email", "1", "1", "1"], ["webhook", "1", "0", "1"]]
    assert "┃ Channel ┃ Pending ┃ Delivered ┃ Dead ┃" in result.output
    assert "1 outbox message waits for the worker to fan out." in result.output
    assert "2 pending, due now, oldest waiting 5 min." in result.output
    assert "2 dead: 'reclaim outbox dead' lists them" in result.output


async def test_status_of_an_empty_outbox(sessions: Sessions) -> None:
    result = await run_cli("outbox", "status")

    assert result.exit_code == 0, result.output
    assert "No deliveries yet." in result.output
    assert "Nothing pending." in result.output


async def test_dead_lists_each_dead_delivery_with_its_last_error(sessions: Sessions) -> None:
    ids = await _mixed(sessions)

    result = await run_cli("outbox", "dead")

    assert result.exit_code == 0, result.output
    assert table_rows(result.output) == [
        [
            str(ids["exhausted"]),
            "webhook",
            "2",
            "return.rejected",
            "3",
            "[bold]HTTP 500[/bold]: boom",
        ],
        [
            str(ids["bounced"]),
            "email",
            "bob@example.com",
            "return.approved",
            "1",
            "550 5.1.1 No such user here",
        ],
    ]
    assert "'reclaim outbox replay ID'" in result.output


async def test_dead_says_so_when_nothing_is_dead_and_what_is_pending(sessions: Sessions) -> None:
    await _add(sessions, "email", "ann@example.com", "pending", due_in=timedelta(minutes=10))
    await _add(sessions, "email", "bob@example.com", "delivered")

    result = await run_cli("outbox", "dead")

    assert result.exit_code == 0, result.output
    assert "Nothing is dead. 1 pending, next due in 10 min, oldest waiting 5 min." in result.output


async def test_replay_makes_dead_deliveries_due_now_keeping_their_attempts(
    sessions: Sessions,
) -> None:
    ids = await _mixed(sessions)
    before = {row[0]: row for row in await _deliveries(sessions)}

    result = await run_cli("outbox", "replay", str(ids["bounced"]), str(ids["exhausted"]))

    assert result.exit_code == 0, result.output
    assert "Replayed 2 deliveries: due now" in result.output
    after = {row[0]: row for row in await _deliveries(sessions)}
    for key in ("bounced", "exhausted"):
        delivery_id, status, attempts, due, claimed_by, _error = after[ids[key]]
        assert (status, attempts, claimed_by) == ("pending", before[ids[key]][2], None)
        assert as_utc(_moment(due)) <= utcnow()
    for key in ("delivered", "retrying"):
        assert after[ids[key]] == before[ids[key]]


async def test_replay_all_dead(sessions: Sessions) -> None:
    await _mixed(sessions)

    result = await run_cli("outbox", "replay", "--all-dead")

    assert result.exit_code == 0, result.output
    assert "Replayed 2 deliveries" in result.output
    statuses = sorted(status for _, status, *_ in await _deliveries(sessions))
    assert statuses == ["delivered", "pending", "pending", "pending"]
    again = await run_cli("outbox", "replay", "--all-dead")
    assert again.exit_code == 0 and "Nothing is dead: nothing to replay." in again.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["999999"], "No delivery 999999."),
        (["abc"], "'abc' is not a delivery id"),
        (["1.5"], "'1.5' is not a delivery id"),
        (["{delivered}"], "is delivered, not dead; only dead deliveries can be replayed"),
        (["{retrying}"], "is pending, not dead"),
        # One bad id replays none of them.
        (["{bounced}", "999999"], "No delivery 999999."),
        ([], "Name the deliveries to replay (their ids) or pass --all-dead."),
        (["{bounced}", "--all-dead"], "Name the deliveries to replay"),
    ],
)
async def test_replay_refuses_bad_ids_and_changes_nothing(
    sessions: Sessions, args: list[str], says: str
) -> None:
    ids = await _mixed(sessions)
    before = await _deliveries(sessions)

    result = await run_cli("outbox", "replay", *(arg.format(**ids) for arg in args))

    assert result.exit_code == 1, result.output
    assert says in " ".join(result.output.split())
    assert await _deliveries(sessions) == before


async def test_show_prints_a_delivery_and_every_attempt(sessions: Sessions) -> None:
    ids = await _mixed(sessions)

    result = await run_cli("outbox", "show", str(ids["retrying"]))

    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert f"Delivery {ids['retrying']} webhook → 1 return.received pending" in flat
    assert "Attempts: 2" in flat
    assert "(next due in 10 min)" in flat
    assert "Last error: HTTP 503: busy" in flat
    attempts = table_rows(result.output)
    for row in attempts:
        datetime.strptime(row[1], "%Y-%m-%d %H:%M:%S")
    assert [[row[0], *row[2:]] for row in attempts] == [
        [str(n), "failed", "503", "12 ms", "host:1:abcd", "HTTP 503: busy"] for n in (1, 2)
    ]

    email = await run_cli("outbox", "show", str(ids["delivered"]))
    assert email.exit_code == 0, email.output
    assert "Subject: About return.approved" in email.output
    assert [row[2] for row in table_rows(email.output)] == ["ok"]


async def test_show_of_a_delivery_never_tried(sessions: Sessions) -> None:
    delivery_id = await _add(sessions, "email", "ann@example.com", "pending")

    result = await run_cli("outbox", "show", str(delivery_id))

    assert result.exit_code == 0, result.output
    assert "No attempts yet." in result.output


@pytest.mark.parametrize(
    ("arg", "says"),
    [("424242", "No delivery 424242."), ("x1", "'x1' is not a delivery id")],
)
async def test_show_refuses_unknown_and_malformed_ids(
    sessions: Sessions, arg: str, says: str
) -> None:
    await _mixed(sessions)
    before = await _deliveries(sessions)

    result = await run_cli("outbox", "show", arg)

    assert result.exit_code == 1, result.output
    assert says in result.output
    assert await _deliveries(sessions) == before


def _moment(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
