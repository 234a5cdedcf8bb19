"""Random lifecycles of several returns against one order, checked against the database.

Hypothesis drives a state machine: it creates returns against one order and throws every
lifecycle action at them, legal or not, with random lines, quantities, grades and
dispositions. The hand-written reference model in ``lifecycle_model.py`` predicts whether the
service accepts each action. After every step the database is read back with plain SQL and
must agree with the model and keep the invariants: status is the last event's, one outbox
row per event, the order's returned quantities add up and never exceed what was bought,
nothing is received beyond what was requested, and a refused action leaves no trace.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any, ClassVar
from uuid import uuid4

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from hypothesis.stateful import run_state_machine_as_test as run_machine
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.db import create_engine, session_factory, transaction
from reclaim.errors import ReclaimError
from reclaim.returns import service as returns
from reclaim.returns.schemas import DispositionIn, InspectIn, ReceiveIn, ReturnIn
from tests.factories import MANUAL_POLICY, actor, seed_order
from tests.integration.lifecycle_model import (
    ACTIONS,
    DEPTH,
    ENDED,
    ENDINGS,
    MODEL,
    ORDERED,
    REFS,
    RELEASED,
    TOPIC,
    LineModel,
    ReturnModel,
    any_arg,
    apply,
    legal_arg,
    most_of,
    per_line,
    verdict,
)

Sessions = async_sessionmaker[AsyncSession]
ORDER_LINES = [
    {"line_id": ref, "sku": f"SKU-{ref}", "quantity": quantity, "unit_price_minor": 1000}
    for ref, quantity in ORDERED.items()
]

# --- the service, and the database read back ----------------------------------------------


def _lines(arg: dict[str, Any], key: str) -> dict[str, Any]:
    return {"lines": [{"line_id": ref, key: value} for ref, value in arg.items()]}


async def perform(session: AsyncSession, number: str, action: str, arg: Any) -> None:
    who = actor("stateful")
    if action == "receive":
        await returns.receive(
            session, number, ReceiveIn.model_validate(_lines(arg, "quantity")), who
        )
    elif action == "inspect":
        await returns.inspect(session, number, InspectIn.model_validate(_lines(arg, "grade")), who)
    elif action == "disposition":
        data = DispositionIn.model_validate(_lines(arg, "disposition"))
        await returns.disposition(session, number, data, who)
    else:
        await {
            "send_to_review": lambda: returns.send_to_review(session, number, who, "High value"),
            "approve": lambda: returns.approve(session, number, who),
            "approve_returnless": lambda: returns.approve(session, number, who, returnless=True),
            "reject": lambda: returns.reject(session, number, who, arg),
            "cancel": lambda: returns.cancel(session, number, who, "Changed my mind"),
            "expire": lambda: returns.expire(session, number, who),
            "mark_in_transit": lambda: returns.mark_in_transit(
                session, number, who, carrier="local"
            ),
            "complete": lambda: returns.complete(session, number, who),
        }[action]()


async def attempt(sessions: Sessions, step: Any) -> ReclaimError | None:
    """Run one step in its own transaction; the refusal, if the service refused.

    The transaction commits even after a refusal, as a careless edge might: a service that
    wrote before checking would leave that write behind, and the snapshot would show it.
    """
    async with transaction(sessions) as session:
        try:
            await step(session)
        except ReclaimError as refusal:
            return refusal
    return None


_OURS = "JOIN orders o ON o.id = r.order_id WHERE o.external_id = :order"
# Whole rows, every column: a refused action must leave each one as it was.
QUERIES = {
    "returns": f"SELECT r.* FROM returns r {_OURS} ORDER BY r.id",
    "lines": "SELECT r.number, ol.line_ref, rl.* FROM return_lines rl"
    " JOIN returns r ON r.id = rl.return_id JOIN order_lines ol ON ol.id = rl.order_line_id"
    f" {_OURS} ORDER BY rl.id",
    "events": "SELECT r.number, e.* FROM return_events e JOIN returns r ON r.id = e.return_id"
    f" {_OURS} ORDER BY e.id",
    "outbox": "SELECT m.* FROM outbox m WHERE m.aggregate IN"
    f" (SELECT r.number FROM returns r {_OURS}) ORDER BY m.id",
    "order_lines": "SELECT ol.* FROM order_lines ol JOIN orders o ON o.id = ol.order_id"
    " WHERE o.external_id = :order ORDER BY ol.line_ref",
    # And whole tables: nor may it write to any other order's rows.
    "totals": "SELECT (SELECT count(*) FROM returns) AS returns,"
    " (SELECT count(*) FROM return_lines) AS lines, (SELECT count(*) FROM return_events)"
    " AS events, (SELECT count(*) FROM outbox) AS outbox",
}
Snapshot = dict[str, list[dict[str, Any]]]


async def snapshot(sessions: Sessions, order_id: str) -> Snapshot:
    async with transaction(sessions) as session:
        return {
            name: [
                dict(row)
                for row in (await session.execute(text(sql), {"order": order_id})).mappings()
            ]
            for name, sql in QUERIES.items()
        }


# --- the machine --------------------------------------------------------------------------


class LifecycleMachine(RuleBasedStateMachine):
    """One fresh order per example; the database is shared, so every read is by order."""

    runner: ClassVar[asyncio.Runner]
    sessions: ClassVar[Sessions]

    def __init__(self) -> None:
        super().__init__()
        self.order_id = f"SM-{uuid4().hex[:12]}"
        self.returns: list[ReturnModel] = []
        self.run(seed_order(self.sessions, order_id=self.order_id, lines=ORDER_LINES))
        self.db: Snapshot = self.run(snapshot(self.sessions, self.order_id))

    def run(self, coroutine: Any) -> Any:
        return self.runner.run(coroutine)

    def free(self, ref: str) -> int:
        return ORDERED[ref] - sum(ret.holds(ref) for ret in self.returns)

    # Three kinds of step, each about a third of the time, so every kind of check gets run.

    @precondition(lambda self: self.returns)
    @rule(data=st.data())
    def misstep(self, data: st.DataObject) -> None:
        """An action the return's status forbids: the service must refuse it. Returns still
        under way are listed first, as Hypothesis favours the head of a list."""
        ret = data.draw(st.sampled_from(sorted(self.returns, key=lambda r: r.status in ENDED)))
        forbidden = [action for action in ACTIONS if ret.status not in MODEL[action][0]]
        action = data.draw(st.sampled_from(forbidden), label="misstep")
        self.try_move(ret, action, data.draw(any_arg(ret, action), label="arg"))

    @rule(data=st.data())
    def probe(self, data: st.DataObject) -> None:
        """A new return, or an action the status allows, with any argument: what decides is
        the units still free, the state of the lines, and whether the return is returnless."""
        ret, action = data.draw(st.sampled_from([(None, "create"), *self.probes()]), label="probe")
        if ret is None:
            # Up to what was bought: a refusal then comes only from units other returns hold.
            self.create(data.draw(per_line(REFS, lambda ref: st.integers(1, ORDERED[ref]))))
        else:
            self.try_move(ret, action, data.draw(any_arg(ret, action), label="arg"))

    @precondition(lambda self: self.legal_moves())
    @rule(data=st.data())
    def advance(self, data: st.DataObject) -> None:
        """A move the model calls legal, so that short random runs get deep into the lifecycle.
        One in four ends a return when one can end: more would cut most runs short."""
        moves = self.legal_moves()
        endings = [move for move in moves if move[1] in ENDINGS]
        onward = [move for move in moves if move[1] not in ENDINGS]
        # Hypothesis favours the first of a list, so the rarer choice goes last.
        end = data.draw(st.sampled_from([False, False, False, True]), label="end")
        pool = endings if endings and (end or not onward) else onward
        ret, action, strategy = data.draw(st.sampled_from(pool), label="move")
        if ret is None:
            self.create(data.draw(strategy, label="lines"))
        else:
            self.try_move(ret, action, data.draw(strategy, label="arg"))

    def probes(self) -> list[tuple[ReturnModel, str]]:
        # Cancel and expire have nothing left to decide, and would end most returns early.
        return [
            (r, a)
            for r in self.returns
            for a in ACTIONS
            if r.status in MODEL[a][0] and a not in ("cancel", "expire")
        ]

    def legal_moves(self) -> list[tuple[ReturnModel | None, str, st.SearchStrategy[Any]]]:
        """Furthest along first (Hypothesis favours the head of a list); a repeated in-transit
        scan moves nothing on, so it is left to `probe`."""
        moves: list[tuple[ReturnModel | None, str, Any]] = [
            (ret, action, legal_arg(ret, action))
            for action in DEPTH
            for ret in self.returns
            if not (action == "mark_in_transit" and ret.status == "in_transit")
        ]
        free = [ref for ref in REFS if self.free(ref)]
        if free:
            moves.append((None, "create", most_of(free, self.free)))
        return [move for move in moves if move[2] is not None]

    def create(self, wanted: dict[str, int]) -> None:
        legal = all(quantity <= self.free(ref) for ref, quantity in wanted.items())
        lines = [{"line_id": r, "quantity": q, "reason": "too_small"} for r, q in wanted.items()]
        request = ReturnIn.model_validate({"order_id": self.order_id, "lines": lines})
        created: list[str] = []

        async def step(session: AsyncSession) -> None:
            ret = await returns.create_return(
                session, request, actor("stateful"), policy=MANUAL_POLICY
            )
            created.append(ret.number)

        refusal = self.run(attempt(self.sessions, step))
        self.settle("create", wanted, legal, refusal)
        if refusal is None:
            model_lines = {ref: LineModel(quantity) for ref, quantity in wanted.items()}
            self.returns.append(ReturnModel(created[0], model_lines))

    def try_move(self, ret: ReturnModel, action: str, arg: Any) -> None:
        legal = verdict(ret, action, arg)
        refusal = self.run(
            attempt(self.sessions, lambda session: perform(session, ret.number, action, arg))
        )
        self.settle(f"{action} {ret.number} ({ret.status})", arg, legal, refusal)
        if refusal is None:
            apply(ret, action, arg)

    def settle(self, what: str, arg: Any, legal: bool | None, refusal: ReclaimError | None) -> None:
        accepted = refusal is None
        if legal is not None:
            assert accepted == legal, (
                f"{what} with {arg!r}: the model says {'legal' if legal else 'illegal'}, the "
                f"service {'accepted it' if accepted else f'refused it: {refusal}'}"
            )
        before, self.db = self.db, self.run(snapshot(self.sessions, self.order_id))
        if not accepted:
            assert self.db == before, f"{what} was refused ({refusal}) but changed the database"

    @invariant()
    def database_agrees_with_the_model(self) -> None:
        db = self.db
        status = {r["number"]: r["status"] for r in db["returns"]}
        assert {r["number"]: (r["status"], r["method"]) for r in db["returns"]} == {
            ret.number: (ret.status, "keep_item" if ret.returnless else "prepaid_label")
            for ret in self.returns
        }
        fields = ("number", "line_ref", "quantity", "received_quantity", "grade", "disposition")
        assert sorted(tuple(line[f] for f in fields) for line in db["lines"]) == sorted(
            (ret.number, ref, line.quantity, line.received, line.grade, line.disposition)
            for ret in self.returns
            for ref, line in ret.lines.items()
        )
        for ret in self.returns:
            # Settling money is a note on the timeline, not a move: the money tests follow it.
            events = [
                e for e in db["events"] if e["number"] == ret.number and e["action"] != "settled"
            ]
            assert [(e["action"], e["to_status"]) for e in events] == ret.events
            # Each event starts where the one before ended; the return is where the last ends.
            assert [e["from_status"] for e in events] == [
                None,
                *[e["to_status"] for e in events[:-1]],
            ]
            assert events[-1]["to_status"] == status[ret.number]
            # One outbox row per event, in the same order.
            topics = [
                m["topic"]
                for m in db["outbox"]
                if m["aggregate"] == ret.number and m["topic"] != "return.settled"
            ]
            assert topics == [TOPIC[e["action"]] for e in events]

    @invariant()
    def order_lines_hold_exactly_what_live_returns_hold(self) -> None:
        db = self.db
        returns_by_number = {r["number"]: r for r in db["returns"]}
        expected = dict.fromkeys(REFS, 0)
        for line in db["lines"]:
            quantity, received = line["quantity"], line["received_quantity"]
            assert 0 <= received <= quantity, f"{line['number']} line {line['line_ref']}"
            ret = returns_by_number[line["number"]]
            if ret["status"] in RELEASED:
                continue
            keeps_all = ret["status"] != "completed" or ret["method"] == "keep_item"
            expected[line["line_ref"]] += quantity if keeps_all else received
        for order_line in db["order_lines"]:
            ref, returned = order_line["line_ref"], order_line["returned_quantity"]
            assert returned == expected[ref] == ORDERED[ref] - self.free(ref), f"line {ref}"
            assert 0 <= returned <= order_line["quantity"]


SETTINGS = settings(
    max_examples=50,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    # No shrinking: every example replays against the database, so shrinking a failure runs
    # into Hypothesis's five-minute cap. The failing step's message names the return, its
    # state, the action and the argument, and the example database replays it first next time.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


def test_random_lifecycles_keep_the_books_and_refuse_exactly_what_the_model_forbids(
    db_url: str,
) -> None:
    # The service is async and the machine is not: the machine runs every step on one event
    # loop of its own, with its own engine, for the whole run.
    with asyncio.Runner() as runner:
        engine = create_engine(db_url, pool_size=2)
        machine = type(
            "Lifecycle",
            (LifecycleMachine,),
            {"runner": runner, "sessions": session_factory(engine)},
        )
        try:
            run_machine(machine, settings=SETTINGS)
        finally:
            runner.run(engine.dispose())


async def test_a_graded_line_takes_no_more_units_while_other_lines_still_arrive(
    sessions: Sessions,
) -> None:
    # The random runs seldom reach this state (a partial receipt, a second line arriving, and
    # an inspection of only the first), so it is pinned down here.
    await seed_order(sessions, order_id="G-1", lines=ORDER_LINES)
    wanted = [{"line_id": r, "quantity": q, "reason": "defective"} for r, q in (("1", 3), ("2", 2))]
    async with transaction(sessions) as session:
        request = ReturnIn.model_validate({"order_id": "G-1", "lines": wanted})
        created = await returns.create_return(session, request, actor(), policy=MANUAL_POLICY)
    ret = ReturnModel(created.number, {"1": LineModel(3), "2": LineModel(2)})
    for action, arg in [
        ("approve", None),
        ("receive", {"1": 1, "2": 1}),
        ("inspect", {"1": "good"}),
    ]:
        async with transaction(sessions) as session:
            await perform(session, ret.number, action, arg)
        apply(ret, action, arg)
    assert ret.status == "received"
    before = await snapshot(sessions, "G-1")

    refusal = await attempt(sessions, lambda s: perform(s, ret.number, "receive", {"1": 1}))

    assert verdict(ret, "receive", {"1": 1}) is False
    assert refusal is not None and "already graded" in refusal.message
    assert await snapshot(sessions, "G-1") == before


async def test_a_later_parcel_of_another_line_reopens_an_inspected_return(
    sessions: Sessions,
) -> None:
    # Also pinned for the random runs' sake: a line graded and routed, then a second parcel.
    await seed_order(sessions, order_id="G-2", lines=ORDER_LINES)
    wanted = [{"line_id": r, "quantity": q, "reason": "defective"} for r, q in (("1", 3), ("2", 2))]
    async with transaction(sessions) as session:
        request = ReturnIn.model_validate({"order_id": "G-2", "lines": wanted})
        created = await returns.create_return(session, request, actor(), policy=MANUAL_POLICY)
    ret = ReturnModel(created.number, {"1": LineModel(3), "2": LineModel(2)})
    statuses = []
    for action, arg in [
        ("approve", None),
        ("receive", {"1": 3}),
        ("inspect", {"1": "good"}),
        ("disposition", {"1": "restock"}),
        ("receive", {"2": 1}),
        ("complete", None),  # refused: line "2" arrived and has no grade yet
        ("inspect", {"2": "acceptable"}),
        ("disposition", {"2": "liquidate"}),
        ("complete", None),
    ]:
        legal = verdict(ret, action, arg)
        refusal = await attempt(
            sessions, partial(perform, number=ret.number, action=action, arg=arg)
        )
        assert (refusal is None) == legal, f"{action} {arg}: {refusal}"
        if legal:
            apply(ret, action, arg)
        statuses.append(ret.status)

    assert statuses == [
        "approved",
        "received",
        "inspected",
        "inspected",
        "received",
        "received",
        "inspected",
        "inspected",
        "completed",
    ]
    db = await snapshot(sessions, "G-2")
    moves = [(e["action"], e["to_status"]) for e in db["events"] if e["action"] != "settled"]
    assert moves == ret.events
    # One of line "2"'s units never came: completion handed it back to the order.
    held = {line["line_ref"]: line["returned_quantity"] for line in db["order_lines"]}
    assert held == {"1": 3, "2": 1, "3": 0}
