"""The day's batch: the units waiting for a disposition, planned under capacity against the
per-unit rule, and applied as one batch that routes every waiting line exactly once."""

from __future__ import annotations

import asyncio
import random
import re
import threading
from collections import Counter
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.config import get_settings
from reclaim.db import transaction
from reclaim.errors import InvalidTransition, ValidationFailed
from reclaim.returns import service as returns_service
from reclaim.returns.states import Disposition, Grade
from reclaim.simulation.merchant import build_merchant
from reclaim.warehouse import batch_service, configured, receiving
from reclaim.warehouse.batch import plan_batch
from reclaim.warehouse.schemas import FlagKind
from tests.factories import actor
from tests.integration.helpers import rows, table_counts, table_rows
from tests.integration.operations_support import (
    PRODUCTS,
    graded_return,
    route,
    run_warehouse_cli,
)

Sessions = async_sessionmaker[AsyncSession]
BATCH_ID = re.compile(r"^B-\d{8}-[0-9A-HJKMNP-TV-Z]{6}$")
# Everything routing writes: a plan must leave all of it as it was.
ROUTING_TABLES = (
    "dispositions",
    "inventory_movements",
    "refurb_work_orders",
    "manifests",
    "manifest_items",
    "return_events",
    "outbox",
)
GRADES = [Grade.NEW, Grade.LIKE_NEW, Grade.VERY_GOOD, Grade.GOOD, Grade.ACCEPTABLE]


def demo_catalogue() -> dict[str, dict[str, Any]]:
    """The demo merchant's products, as its shop sends them."""
    merchant = build_merchant(random.Random(7), customers=20)
    return {
        product.sku: {
            "name": product.name,
            "category": product.category,
            "price_minor": product.price_minor,
            "cost_minor": product.cost_minor,
            "weight_grams": product.weight_grams,
        }
        for product in merchant.products
    }


async def a_days_returns(sessions: Sessions, returns: int = 8, seed: int = 11) -> list[str]:
    """Returns of the demo catalogue, each line received and graded, none routed."""
    rng = random.Random(seed)
    catalogue = demo_catalogue()
    skus = sorted(catalogue)
    numbers = []
    for index in range(returns):
        lines = [
            (rng.choice(skus), rng.randint(1, 3), rng.choice([*GRADES, Grade.UNSELLABLE]))
            for _ in range(rng.randint(1, 4))
        ]
        numbers.append(await graded_return(sessions, f"D{index:03d}", lines, catalogue=catalogue))
    return numbers


async def _plan(sessions: Sessions, capacity: dict[Disposition, int], **kwargs: Any) -> Any:
    async with transaction(sessions) as session:
        pending = await batch_service.batch_units(session, **kwargs)
    return await batch_service.plan_units(pending, capacity), pending


async def _apply(sessions: Sessions, capacity: dict[Disposition, int]) -> Any:
    plan, pending = await _plan(sessions, capacity)
    async with transaction(sessions) as session:
        return await batch_service.apply_plan(session, plan, pending, actor("batch"))


async def _routed(sessions: Sessions) -> list[tuple[Any, ...]]:
    return await rows(
        sessions,
        "SELECT r.number, ol.line_ref, d.channel, d.batch, d.quantity FROM dispositions d "
        "JOIN return_lines rl ON rl.id = d.return_line_id "
        "JOIN returns r ON r.id = rl.return_id "
        "JOIN order_lines ol ON ol.id = rl.order_line_id ORDER BY r.id, rl.id",
    )


async def test_pending_units_are_graded_lines_not_yet_routed_even_while_a_sibling_waits(
    sessions: Sessions,
) -> None:
    partly_routed = await graded_return(
        sessions, "4001", [("PHONE", 2, Grade.GOOD), ("MUG", 1, Grade.LIKE_NEW)]
    )
    await route(sessions, partly_routed, "2", Disposition.RESTOCK)
    # The mug still waits for its grade; the graded tee may be routed already.
    half_graded = await graded_return(sessions, "4002", [("TEE-M", 1, Grade.NEW), ("MUG", 1, None)])
    waiting = await graded_return(sessions, "4003", [("TABLET", 3, Grade.ACCEPTABLE)])

    async with transaction(sessions) as session:
        pending = await batch_service.pending_units(session)

    assert [(p.unit.key, p.unit.sku, p.unit.grade, p.unit.quantity) for p in pending] == [
        (f"{partly_routed}/1", "PHONE", Grade.GOOD, 2),
        (f"{half_graded}/1", "TEE-M", Grade.NEW, 1),
        (f"{waiting}/1", "TABLET", Grade.ACCEPTABLE, 3),
    ]
    assert pending[0].name == PRODUCTS["PHONE"]["name"]


@pytest.mark.parametrize(
    "capacity",
    [
        {},
        {Disposition.REFURBISH: 1, Disposition.OPEN_BOX: 2},
        {Disposition.REFURBISH: 0, Disposition.OPEN_BOX: 0},
        {Disposition.RESTOCK: 3, Disposition.OPEN_BOX: 1, Disposition.REFURBISH: 2},
    ],
)
async def test_the_plan_recovers_at_least_the_per_unit_rule_and_changes_nothing(
    sessions: Sessions, capacity: dict[Disposition, int]
) -> None:
    await a_days_returns(sessions)
    before = await table_counts(sessions, *ROUTING_TABLES)

    plan, pending = await _plan(sessions, capacity)

    assert len(pending) >= 10
    assert plan.total_net_minor >= plan.baseline_net_minor
    assert set(plan.assignment) == set(plan.baseline) == {p.unit.key for p in pending}
    expected = plan_batch([p.unit for p in pending], capacity, configured.recovery())
    assert plan == expected
    for channel, slots in capacity.items():
        used = sum(p.unit.quantity for p in pending if plan.assignment[p.unit.key] == channel)
        assert used <= slots
    assert await table_counts(sessions, *ROUTING_TABLES) == before


async def test_tight_capacity_makes_the_plan_beat_the_per_unit_rule(sessions: Sessions) -> None:
    # The first phone barely gains from refurbishing; the second gains a lot. The per-unit rule
    # gives the one slot to whichever came first; the plan gives it to the second.
    cheap = dict(PRODUCTS["PHONE"], price_minor=9000, cost_minor=6000)
    catalogue = {**PRODUCTS, "CHEAP-PHONE": cheap}
    await graded_return(
        sessions, "4001", [("CHEAP-PHONE", 1, Grade.ACCEPTABLE)], catalogue=catalogue
    )
    await graded_return(sessions, "4002", [("PHONE", 1, Grade.ACCEPTABLE)], catalogue=catalogue)
    unlimited, _ = await _plan(sessions, {})
    assert set(unlimited.assignment.values()) == {Disposition.REFURBISH}

    plan, pending = await _plan(sessions, {Disposition.REFURBISH: 1})

    assert plan.total_net_minor > plan.baseline_net_minor
    assert plan.assignment[pending[1].unit.key] is Disposition.REFURBISH
    assert plan.baseline[pending[0].unit.key] is Disposition.REFURBISH


async def test_applying_routes_every_pending_line_once_under_one_batch_id(
    sessions: Sessions,
) -> None:
    await a_days_returns(sessions)
    capacity = {Disposition.REFURBISH: 1, Disposition.OPEN_BOX: 2}
    plan, pending = await _plan(sessions, capacity)

    done = await _apply(sessions, capacity)

    assert done.batch is not None and BATCH_ID.match(done.batch)
    assert done.plan == plan
    routed = await _routed(sessions)
    assert [(n, ref, channel, batch) for n, ref, channel, batch, _ in routed] == [
        (p.rma, p.line_ref, plan.assignment[p.unit.key].value, done.batch) for p in pending
    ]
    assert [(r.pending, r.record.channel) for r in done.routed] == [
        (p, plan.assignment[p.unit.key].value) for p in pending
    ]
    again = await _apply(sessions, capacity)
    assert (again.batch, again.routed) == (None, [])
    assert await _routed(sessions) == routed


async def test_applying_sets_off_each_channel(sessions: Sessions) -> None:
    await graded_return(
        sessions,
        "4001",
        [("PHONE", 1, Grade.ACCEPTABLE), ("TEE-M", 2, Grade.NEW), ("MUG", 1, Grade.UNSELLABLE)],
    )

    done = await _apply(sessions, {})

    channels = {r.pending.unit.sku: r.record.channel for r in done.routed}
    assert channels["TEE-M"] == Disposition.RESTOCK
    assert await rows(sessions, "SELECT sku, quantity, kind FROM inventory_movements") == [
        ("TEE-M", 2, "restock")
    ]
    if channels["PHONE"] == Disposition.REFURBISH:
        assert await table_counts(sessions, "refurb_work_orders") == {"refurb_work_orders": 1}
    assert await rows(sessions, "SELECT sku FROM manifest_items ORDER BY id") == [
        (sku,) for sku, channel in channels.items() if channel in ("recycle", "dispose", "donate")
    ]
    assert await rows(sessions, "SELECT status FROM returns") == [("inspected",)]


async def test_racing_batches_route_each_line_once(sessions: Sessions) -> None:
    await a_days_returns(sessions, returns=6)
    _, pending = await _plan(sessions, {})

    results = await asyncio.gather(
        *(_apply(sessions, {Disposition.REFURBISH: 2}) for _ in range(4))
    )

    routed = await _routed(sessions)
    assert len(routed) == len(pending)
    assert Counter((n, ref) for n, ref, *_ in routed) == Counter(
        (p.rma, p.line_ref) for p in pending
    )
    applied = [result for result in results if result.routed]
    assert len(applied) == 1 and len(applied[0].routed) == len(pending)
    assert {batch for *_, batch, _ in routed} == {applied[0].batch}


async def test_a_batch_and_a_line_routed_by_hand_never_route_it_twice(sessions: Sessions) -> None:
    numbers = await a_days_returns(sessions, returns=5)

    async def by_hand() -> Any:
        try:
            return await route(sessions, numbers[2], "1", Disposition.DISPOSE)
        except InvalidTransition as exc:
            return exc

    by_batch, manual = await asyncio.gather(_apply(sessions, {}), by_hand())

    routed = await _routed(sessions)
    assert len(routed) == len({(n, ref) for n, ref, *_ in routed})
    hand = [row for row in routed if (row[0], row[1]) == (numbers[2], "1")]
    assert len(hand) == 1
    if isinstance(manual, InvalidTransition):
        assert hand[0][3] == by_batch.batch
    else:
        assert hand[0][2:4] == ("dispose", None)


async def test_a_line_changed_after_planning_is_left_as_it_is_and_listed(
    sessions: Sessions,
) -> None:
    numbers = await a_days_returns(sessions, returns=4)
    plan, pending = await _plan(sessions, {})
    await route(sessions, numbers[1], "1", Disposition.DISPOSE)

    async with transaction(sessions) as session:
        done = await batch_service.apply_plan(session, plan, pending, actor("batch"))

    assert [(p.rma, p.line_ref) for p in done.skipped] == [(numbers[1], "1")]
    assert [r.pending for r in done.routed] == [p for p in pending if p not in done.skipped]
    routed = await _routed(sessions)
    assert len(routed) == len(pending)
    assert [row[2:4] for row in routed if row[:2] == (numbers[1], "1")] == [("dispose", None)]


async def test_the_solve_holds_no_lock_and_leaves_the_event_loop_free(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    numbers = await a_days_returns(sessions, returns=3)
    solving, finish = threading.Event(), threading.Event()

    def slow_plan(*args: Any) -> Any:
        solving.set()
        assert finish.wait(timeout=20), "the line was never routed during the solve"
        return plan_batch(*args)

    monkeypatch.setattr(batch_service, "plan_batch", slow_plan)
    planning = asyncio.create_task(_apply(sessions, {}))
    assert await asyncio.to_thread(solving.wait, 20)

    # Meanwhile this loop runs, and a write commits without waiting for the batch.
    await asyncio.wait_for(route(sessions, numbers[0], "1", Disposition.DISPOSE), 10)
    finish.set()
    done = await planning

    assert [(p.rma, p.line_ref) for p in done.skipped] == [(numbers[0], "1")]
    assert done.batch is not None and done.routed


async def test_more_lines_than_one_batch_plans_are_refused(sessions: Sessions) -> None:
    await a_days_returns(sessions)
    async with transaction(sessions) as session:
        waiting = len(await batch_service.pending_units(session))

        with pytest.raises(ValidationFailed, match=f"at most {waiting - 1} lines at once"):
            await batch_service.batch_units(session, max_lines=waiting - 1)
        assert len(await batch_service.batch_units(session, max_lines=waiting)) == waiting


async def test_a_line_held_by_an_open_flag_is_not_pending(sessions: Sessions) -> None:
    held = await graded_return(sessions, "4001", [("PHONE", 1, Grade.GOOD), ("MUG", 1, Grade.NEW)])
    whole = await graded_return(sessions, "4002", [("TEE-M", 1, Grade.NEW)])
    free = await graded_return(sessions, "4003", [("TABLET", 1, Grade.GOOD)])
    async with transaction(sessions) as session:
        for number, line in ((held, 0), (whole, None)):
            ret = await returns_service.load_for_change(session, number)
            on = {"return_line_id": ret.lines[line].id} if line is not None else {}
            flag = receiving.new_flag(ret, FlagKind.WRONG_ITEM, actor(), detail="test", **on)
            await receiving.raise_flags(session, ret, [flag], actor(), during="Inspection")

    async with transaction(sessions) as session:
        pending = await batch_service.pending_units(session)

    assert [p.unit.key for p in pending] == [f"{held}/2", f"{free}/1"]


async def test_a_batch_is_planned_in_one_currency(sessions: Sessions) -> None:
    euro = {"KETTLE": dict(PRODUCTS["MUG"], name="Kettle", price_minor=4000)}
    await graded_return(sessions, "4001", [("MUG", 1, Grade.NEW)])
    await graded_return(
        sessions, "4002", [("KETTLE", 1, Grade.NEW)], catalogue=euro, currency="EUR"
    )

    with pytest.raises(ValidationFailed, match="one currency"):
        await _plan(sessions, {})
    plan, pending = await _plan(sessions, {}, currency="eur")

    assert [p.unit.sku for p in pending] == ["KETTLE"]
    assert list(plan.assignment.values()) == [Disposition.RESTOCK]


@pytest.mark.usefixtures("cli_env")
async def test_the_cli_prints_the_plan_against_the_rule_and_applies_it(
    sessions: Sessions,
) -> None:
    await a_days_returns(sessions, returns=4)
    plan, pending = await _plan(sessions, {Disposition.REFURBISH: 1, Disposition.OPEN_BOX: 1})

    shown = await run_warehouse_cli("plan", "--refurbish-slots", "1", "--open-box-slots", "1")
    applied = await run_warehouse_cli(
        "plan", "--refurbish-slots", "1", "--open-box-slots", "1", "--apply"
    )
    nothing = await run_warehouse_cli("plan", "--apply")

    assert shown.exit_code == 0, shown.output
    table = table_rows(shown.output)
    assert [row[0] for row in table] == [p.unit.key for p in pending]
    assert "Per-unit rule recovers" in shown.output and "gain" in shown.output
    assert applied.exit_code == 0, applied.output
    assert f"Routed {len(pending)} lines as batch B-" in applied.output
    assert len(await _routed(sessions)) == len(pending)
    assert "No units are waiting for a disposition." in nothing.output
    assert plan.total_net_minor >= plan.baseline_net_minor


@pytest.mark.usefixtures("cli_env")
async def test_the_cli_refuses_more_lines_than_one_batch_plans(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    await a_days_returns(sessions, returns=2)
    monkeypatch.setenv("RECLAIM_BATCH_MAX_LINES", "1")
    get_settings.cache_clear()

    refused = await run_warehouse_cli("plan", "--apply")

    assert refused.exit_code == 1
    assert "A batch plans at most 1 line at once" in refused.output
    assert await _routed(sessions) == []
