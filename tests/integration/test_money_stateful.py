"""Random lifecycles of returns with money: refunds, store credit and exchanges, checked against
the database after every step.

Hypothesis draws a merchant's money terms (refund timing, fees, credit bonus and expiry, damage
deductions, instant exchanges, the shopper's tier), an order paid by gift card and card, and
then throws at it returns with random lines, reasons and resolutions, every lifecycle and
warehouse step, settlements asked for, manual refunds (sometimes too big), the shop's
confirmations, approvals, declines and retries, store-credit spends, exchanges shipped, and
time passing for credit to expire: legal or not. The references in ``lifecycle_model.py`` and
``money_model.py`` say what must be accepted and when money is due.

After every step the books are read back with plain SQL (``money_model.Books``) and must
balance: refunds + credit + exchange value counted at the order equal its ``given_back_minor``
and never pass what was paid; each payment's refunds stay within its capture; every credit
transaction's postings sum to zero and every account's balance is its postings; no unit is
settled twice; nothing due is left unpaid unless a person must look first; restocked units
are the units routed to stock; every return event has its one outbox row, and every refund
and exchange move its message; and a refused step leaves no trace.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from uuid import uuid4

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from hypothesis.stateful import run_state_machine_as_test as run_machine
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.catalog.service import upsert_product
from reclaim.db import create_engine, session_factory, transaction
from reclaim.errors import AmountExceeded, ReclaimError
from reclaim.orders.schemas import OrderIn, ProductIn
from reclaim.orders.service import upsert_order
from reclaim.policy.loader import LoadedPolicy, parse
from reclaim.refunds import credit, exchanges, settlement
from reclaim.refunds import service as refunds
from reclaim.refunds.models import CreditTransaction
from reclaim.refunds.schemas import ConfirmationIn, ManualRefundIn
from reclaim.returns import service as returns
from reclaim.returns.schemas import InspectIn, ReturnIn
from reclaim.returns.states import Disposition
from reclaim.warehouse import dispositions, inspection, receiving
from reclaim.warehouse.schemas import ParcelIn
from tests.integration.lifecycle_model import (
    ACTIONS,
    DEPTH,
    ENDINGS,
    MODEL,
    ORDERED,
    REFS,
    RELEASED,
    LineModel,
    ReturnModel,
    any_arg,
    apply,
    legal_arg,
    verdict,
)
from tests.integration.money_model import (
    CURRENCY,
    LOTS,
    QUERIES,
    TERMS,
    VARIANTS,
    Ask,
    Books,
    MoneyReturn,
    Snapshot,
    Terms,
    asks,
    due_lines,
    expected_outcome,
    held,
    order_payload,
    paid_for,
    settled_refs,
)

Sessions = async_sessionmaker[AsyncSession]
AGENTS = ["staff:ann", "staff:bob"]
# Manual refunds above the policy's second_approval_above wait for a second agent.
APPROVAL_ABOVE = 4000


async def attempt(sessions: Sessions, step: Any) -> ReclaimError | None:
    """Run one step in its own transaction; the refusal, if the service refused.

    The transaction commits even after a refusal, as a careless edge might: a service that
    wrote before checking would leave that write behind, and the snapshot would show it."""
    async with transaction(sessions) as session:
        try:
            await step(session)
        except ReclaimError as refusal:
            return refusal
    return None


def _aware(moment: Any) -> datetime:
    """A timestamp read back with plain SQL: a string on SQLite, naive or aware, always UTC."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class MoneyMachine(RuleBasedStateMachine):
    """One fresh order, customer and policy per example; every read is by order or customer."""

    runner: ClassVar[asyncio.Runner]
    sessions: ClassVar[Sessions]

    def __init__(self) -> None:
        super().__init__()
        self.returns: list[MoneyReturn] = []
        self.spent: dict[str, int] = {}  # checkout reference → amount
        self.db: Snapshot = {}

    def run(self, coroutine: Any) -> Any:
        return self.runner.run(coroutine)

    def who(self, name: str = "staff:ann") -> returns.Actor:
        return returns.Actor(name, self.now)

    # --- setting up ---------------------------------------------------------------------

    @initialize(terms=TERMS)
    def open_shop(self, terms: Terms) -> None:
        self.terms = terms
        self.policy: LoadedPolicy = parse(terms.policy_text(), "money test policy")
        self.order_id = f"MM-{uuid4().hex[:10]}"
        self.now = datetime.now().astimezone()

        async def seed(session: AsyncSession) -> tuple[int, int, int]:
            for sku, group, price in VARIANTS.values():
                details = ProductIn(name=sku, category="x", product_group=group, price_minor=price)
                await upsert_product(session, sku, CURRENCY, details, unit_price_minor=price)
            data = OrderIn.model_validate(order_payload(self.order_id, terms.tier))
            await upsert_order(session, data)
            ids = (
                await session.execute(
                    text(
                        "SELECT o.id, o.customer_id, (SELECT coalesce(max(id), 0) FROM outbox)"
                        " FROM orders o WHERE o.external_id = :order"
                    ),
                    {"order": self.order_id},
                )
            ).one()
            return int(ids[0]), int(ids[1]), int(ids[2])

        async def setup() -> tuple[int, int, int]:
            async with transaction(self.sessions) as session:
                return await seed(session)

        self.oid, self.cid, self.start = self.run(setup())
        self.db = self.run(self.snapshot())

    async def snapshot(self) -> Snapshot:
        params = {"oid": self.oid, "cid": self.cid, "start": self.start}
        async with transaction(self.sessions) as session:
            return {
                name: [dict(row) for row in (await session.execute(text(sql), params)).mappings()]
                for name, sql in QUERIES.items()
            }

    # --- what the database says now -------------------------------------------------------

    def room(self) -> int:
        order = self.db["order"][0]
        return int(order["paid_minor"]) - int(order["given_back_minor"])

    def row_of(self, ret: MoneyReturn) -> dict[str, Any]:
        return next(r for r in self.db["returns"] if r["number"] == ret.model.number)

    def settled(self, ret: MoneyReturn) -> set[str]:
        return settled_refs(self.db, ret.model.number)

    def open_flags(self, ret: MoneyReturn) -> list[dict[str, Any]]:
        rid = self.row_of(ret)["id"]
        return [f for f in self.db["flags"] if f["return_id"] == rid and f["resolved_at"] is None]

    def held(self, ret: MoneyReturn) -> bool:
        return held(self.db, ret.model.number)

    def free(self, ref: str) -> int:
        return ORDERED[ref] - sum(
            max(ret.model.holds(ref), paid_for(self.db, ret.model, ref)) for ret in self.returns
        )

    # --- running a step -------------------------------------------------------------------

    def step(
        self,
        what: str,
        work: Any,
        legal: bool | None,
        *,
        refusals: tuple[type[ReclaimError], ...] = (),
        changes: bool = True,
    ) -> bool:
        """Run ``work``, check the service's answer against ``legal`` (None: undecided, though
        a refusal must then be one of ``refusals`` when given), and read the books back."""
        refusal = self.run(attempt(self.sessions, work))
        accepted = refusal is None
        if legal is not None:
            assert accepted == legal, (
                f"{what}: expected {'acceptance' if legal else 'a refusal'}, the service "
                f"{'accepted it' if accepted else f'refused it: {refusal!r}'}"
            )
        elif refusals and refusal is not None:
            assert isinstance(refusal, refusals), f"{what}: refused with {refusal!r}"
        before, self.db = self.db, self.run(self.snapshot())
        if not accepted:
            assert self.db == before, f"{what} was refused ({refusal!r}) but changed the database"
        elif not changes:
            assert self.db == before, f"{what} was a repeat but changed the database"
        return accepted

    # --- returns --------------------------------------------------------------------------

    @precondition(lambda self: len(self.returns) < 8)
    @rule(data=st.data())
    def create(self, data: st.DataObject) -> None:
        free = {ref: self.free(ref) for ref in REFS}
        wanted: list[Ask] = data.draw(asks(free), label="asks")
        legal = all(ask.quantity <= free[ask.ref] for ask in wanted)
        request = ReturnIn.model_validate(
            {"order_id": self.order_id, "lines": [ask.line_in() for ask in wanted]}
        )
        made: list[str] = []

        async def work(session: AsyncSession) -> None:
            ret = await returns.create_return(session, request, self.who(), policy=self.policy)
            made.append(ret.number)

        if not self.step(f"create {wanted}", work, legal):
            return
        status, kept = expected_outcome(self.terms, wanted)
        model = ReturnModel(made[0], {ask.ref: LineModel(ask.quantity) for ask in wanted})
        if status == "review":
            apply(model, "send_to_review", None)
        elif status == "approved":
            apply(model, "approve_returnless" if kept else "approve", None)
        reviewed = status == "review"
        self.returns.append(MoneyReturn(model, {ask.ref: ask for ask in wanted}, reviewed))

    @precondition(lambda self: self.returns)
    @rule(data=st.data())
    def probe(self, data: st.DataObject) -> None:
        """Any lifecycle or warehouse step with any argument, legal or not; returns still
        under way first (Hypothesis favours the head of a list)."""
        live = sorted(self.returns, key=lambda r: r.model.status in {"completed", *RELEASED})
        ret = data.draw(st.sampled_from(live), label="return")
        action = data.draw(st.sampled_from(ACTIONS), label="action")
        self.move(ret, action, data.draw(any_arg(ret.model, action), label="arg"), data)

    @precondition(lambda self: self.legal_moves())
    @rule(data=st.data())
    def advance(self, data: st.DataObject) -> None:
        """A step the lifecycle allows, furthest along first, so that short runs get deep:
        one in four ends a return when one can end."""
        for _ in range(data.draw(st.integers(1, 3), label="moves")):
            moves = self.legal_moves()
            if not moves:
                return
            endings = [move for move in moves if move[1] in ENDINGS]
            onward = [move for move in moves if move[1] not in ENDINGS]
            end = data.draw(st.sampled_from([False, False, False, True]), label="end")
            pool = endings if endings and (end or not onward) else onward
            ret, action, strategy = data.draw(st.sampled_from(pool), label="move")
            self.move(ret, action, data.draw(strategy, label="arg"), data)
            self.the_books_balance()

    def legal_moves(self) -> list[tuple[MoneyReturn, str, st.SearchStrategy[Any]]]:
        moves = [
            (ret, action, legal_arg(ret.model, action))
            for action in DEPTH
            for ret in self.returns
            if not (action == "mark_in_transit" and ret.model.status == "in_transit")
        ]
        return [(ret, action, arg) for ret, action, arg in moves if arg is not None]

    def move(self, ret: MoneyReturn, action: str, arg: Any, data: st.DataObject) -> None:
        model, number, who = ret.model, ret.model.number, self.who()
        # A parcel may say no more are coming (lines still short are flagged missing); a
        # line goes where the engine recommends, or where the inspector chooses.
        last_parcel = action == "receive" and data.draw(st.booleans(), label="last parcel")
        engine = action == "disposition" and data.draw(st.booleans(), label="engine routes")
        legal = verdict(model, action, arg)
        refusals: tuple[type[ReclaimError], ...] = ()
        if action == "disposition" and legal:
            chosen = {self.line_id(ret, ref) for ref in arg}
            flags = self.open_flags(ret)
            if any(f["return_line_id"] in chosen or f["return_line_id"] is None for f in flags):
                legal = False  # a flagged line waits for a person
            elif not engine:
                legal = None  # a channel the engine finds impossible for the unit is refused
        if action == "cancel" and model.status in MODEL["cancel"][0]:
            # Called off only while no money has gone out for it (a returnless return held
            # for lack of room at the order still can be).
            given = {
                line["line_ref"]
                for line in self.db["lines"]
                if line["number"] == number
                and line["settled_at"] is not None
                and line["resolution"] != "exchange"
            }
            shipped = any(
                e["status"] == "shipped" and e["return_id"] == self.row_of(ret)["id"]
                for e in self.db["exchanges"]
            )
            legal = not given and not shipped
        if action == "complete" and legal:
            needs = due_lines(self.terms, ret, self.settled(ret), completing=True)
            if needs and self.held(ret):
                legal = False  # what arrived must be settled first, and it can't be yet
            elif needs:
                legal, refusals = None, (AmountExceeded,)

        async def work(session: AsyncSession) -> None:
            if action == "receive":
                counts = [{"line_id": ref, "quantity": q} for ref, q in arg.items()]
                parcel = ParcelIn.model_validate({"counts": counts, "last_parcel": last_parcel})
                await receiving.receive_parcel(session, number, who, parcel)
            elif action == "inspect":
                lines = [{"line_id": ref, "grade": grade} for ref, grade in arg.items()]
                await inspection.grade_as_given(session, number, InspectIn(lines=lines), who)
            elif action == "disposition":
                locked = await returns.load_for_change(session, number)
                choices = [
                    dispositions.Choice(ref)
                    if engine
                    else dispositions.Choice(ref, Disposition(channel), "Chosen by hand")
                    for ref, channel in arg.items()
                ]
                await dispositions.route(session, locked, choices, who)
            else:
                await {
                    "send_to_review": lambda: returns.send_to_review(session, number, who, "Look"),
                    "approve": lambda: returns.approve(session, number, who),
                    "approve_returnless": lambda: returns.approve(
                        session, number, who, returnless=True
                    ),
                    "reject": lambda: returns.reject(session, number, who, arg),
                    "cancel": lambda: returns.cancel(session, number, who, "Changed my mind"),
                    "expire": lambda: returns.expire(session, number, who),
                    "mark_in_transit": lambda: returns.mark_in_transit(
                        session, number, who, carrier="local"
                    ),
                    "complete": lambda: returns.complete(session, number, who),
                }[action]()

        what = f"{action} {number} ({model.status}) with {arg!r}"
        if self.step(what, work, legal, refusals=refusals):
            if action == "disposition":
                arg = {ref: self.line(ret, ref)["disposition"] for ref in arg}
            apply(model, action, arg)

    def line(self, ret: MoneyReturn, ref: str) -> dict[str, Any]:
        return next(
            line
            for line in self.db["lines"]
            if line["number"] == ret.model.number and line["line_ref"] == ref
        )

    def line_id(self, ret: MoneyReturn, ref: str) -> int | None:
        found = [
            line["id"]
            for line in self.db["lines"]
            if line["number"] == ret.model.number and line["line_ref"] == ref
        ]
        return found[0] if found else None

    def resolve(self, data: st.DataObject) -> None:
        """Staff look at what was flagged: a flag, or the return's attention as a whole."""
        ret = data.draw(st.sampled_from(sorted(self.returns, key=lambda r: not self.held(r))))
        flags = self.open_flags(ret)
        by_flag = data.draw(st.booleans(), label="flag")
        if flags and by_flag:
            flag = flags[0]["id"]
            self.step(
                f"resolve flag {flag} of {ret.model.number}",
                lambda s: receiving.resolve_flag(s, flag, self.who(), "Checked the parcel"),
                True,
            )
            return
        legal = not flags and self.row_of(ret)["attention"] is not None
        self.step(
            f"resolve attention of {ret.model.number}",
            lambda s: receiving.resolve_attention(s, ret.model.number, self.who(), "Looked"),
            legal,
        )

    # --- money ----------------------------------------------------------------------------

    @rule(data=st.data())
    def money(self, data: st.DataObject) -> None:
        """A money step: those that have something to act on, drawn alike."""
        steps = [self.manual_refund, self.spend]
        if self.returns:
            steps += [self.settle_now, self.resolve]
        if self.db["refunds"]:
            steps += [self.decide_refund, self.confirm, self.confirm, self.retry]
        if self.db["exchanges"]:
            steps.append(self.ship_exchange)
        data.draw(st.sampled_from(steps), label="money step")(data)

    # ---------------------------------------------------------------------------

    def settle_now(self, data: st.DataObject) -> None:
        ret = data.draw(st.sampled_from(self.returns), label="return")
        named = data.draw(
            st.none() | st.lists(st.sampled_from(REFS), min_size=1, max_size=2, unique=True),
            label="lines",
        )
        due = {} if self.held(ret) else due_lines(self.terms, ret, self.settled(ret))
        if named is None:
            legal: bool | None = bool(due)
        else:
            legal = all(ref in due for ref in named)
        self.step(
            f"settle {ret.model.number} ({ret.model.status}) lines {named}",
            lambda s: settlement.settle_now(s, ret.model.number, self.who(), named),
            None if legal else False,
            refusals=(AmountExceeded,),
        )

    def manual_refund(self, data: st.DataObject) -> None:
        room = self.room()
        amount = data.draw(
            st.integers(1, 6000) | st.sampled_from([max(room, 1), room + 1]), label="amount"
        )
        kind = data.draw(st.sampled_from(["manual", "goodwill"]), label="kind")
        ret = (
            data.draw(st.none() | st.sampled_from(self.returns), label="return")
            if self.returns
            else None
        )
        given: dict[str, Any] = {
            "amount_minor": amount,
            "currency": CURRENCY,
            "kind": kind,
            "reason": "Scuffed box",
        }
        if ret is not None:
            given["return"] = ret.model.number
        request = ManualRefundIn.model_validate(given)
        made: list[Any] = []

        async def work(session: AsyncSession) -> None:
            made.append(
                await refunds.manual_refund(
                    session, self.order_id, request, self.who(AGENTS[0]), self.policy
                )
            )

        # One agent's refunds by hand on the order over the last day add up toward approval.
        lately = sum(
            f["amount_minor"]
            for f in self.db["refunds"]
            if f["kind"] in ("manual", "goodwill")
            and f["requested_by"] == AGENTS[0]
            and f["status"] in ("pending_approval", "requested", "succeeded")
            and _aware(f["created_at"]) >= self.now - timedelta(days=1)
        )
        if self.step(f"manual refund of {amount} (room {room})", work, amount <= room):
            held = amount + lately > 4000
            assert made[0].status == ("pending_approval" if held else "requested"), made[0].status

    def pick_refund(self, data: st.DataObject, status: str) -> dict[str, Any]:
        """A refund, those in ``status`` first (Hypothesis favours the head of a list)."""
        ordered = sorted(self.db["refunds"], key=lambda f: (f["status"] != status, f["id"]))
        return data.draw(st.sampled_from(ordered), label="refund")

    def decide_refund(self, data: st.DataObject) -> None:
        """A second agent approves or declines a refund held for approval."""
        chosen = self.pick_refund(data, "pending_approval")
        agent = data.draw(st.sampled_from(AGENTS), label="agent")
        number, waiting = chosen["number"], chosen["status"] == "pending_approval"
        if data.draw(st.booleans(), label="approve"):
            legal = waiting and agent != chosen["requested_by"]
            work: Any = lambda s: refunds.approve(s, number, self.who(agent))  # noqa: E731
        else:
            legal, work = waiting, lambda s: refunds.decline(s, number, self.who(agent), "No")
        self.step(f"decide {number} ({chosen['status']}) by {agent}", work, legal)

    def confirm(self, data: st.DataObject) -> None:
        """The shop says what its payment system did: all of it, or payment by payment."""
        chosen = self.pick_refund(data, "requested")
        number = chosen["number"]
        parts = [p for p in self.db["parts"] if p["number"] == number]
        events = ["refund.succeeded", "refund.failed"]
        whole = data.draw(st.sampled_from(events), label="event")
        each = {
            p["position"]: data.draw(st.sampled_from([whole, *events]), label="payment")
            for p in parts
        }
        given: dict[str, Any] = {"event": whole, "reason": "Card expired", "reference": "re_1"}
        if len(set(each.values())) > 1:
            given["payments"] = [{"position": pos, "event": ev} for pos, ev in each.items()]
        outcome = {p["position"]: each[p["position"]].split(".")[1] for p in parts}
        if "payments" not in given:
            outcome = {p["position"]: whole.split(".")[1] for p in parts}
        repeat = chosen["status"] in ("succeeded", "failed") and all(
            p["status"] == outcome[p["position"]] for p in parts
        )
        legal = chosen["status"] == "requested" or repeat
        self.step(
            f"confirm {number} ({chosen['status']}) as {outcome}",
            lambda s: refunds.confirm(s, number, ConfirmationIn.model_validate(given), self.who()),
            legal,
            changes=not repeat,
        )

    def retry(self, data: st.DataObject) -> None:
        chosen = self.pick_refund(data, "failed")
        number = chosen["number"]
        failed = sum(
            p["amount_minor"]
            for p in self.db["parts"]
            if p["number"] == number and p["status"] == "failed"
        )
        retried = any(f["retry_of"] == chosen["id"] for f in self.db["refunds"])
        legal = chosen["status"] == "failed" and not retried and failed <= self.room()
        self.step(
            f"retry {number} ({chosen['status']}, {failed} failed, room {self.room()})",
            lambda s: refunds.retry(s, number, self.who()),
            legal,
        )

    def ship_exchange(self, data: st.DataObject) -> None:
        ordered = sorted(self.db["exchanges"], key=lambda e: e["status"] != "created")
        chosen = data.draw(st.sampled_from(ordered), label="exchange")
        self.step(
            f"ship {chosen['number']} ({chosen['status']})",
            lambda s: exchanges.mark_shipped(s, chosen["number"], "local", "TRK1", self.who()),
            chosen["status"] == "created",
        )

    def spend(self, data: st.DataObject) -> None:
        """The shopper spends store credit at the shop's checkout, now and then retrying."""
        balance, expiring = self.run(self.credit_now())
        amount = data.draw(
            st.integers(1, 3000) | st.sampled_from([max(balance - expiring, 1), balance + 1]),
            label="amount",
        )
        earlier = sorted(self.spent)
        reference = f"chk-{len(self.spent)}"
        again = data.draw(st.booleans(), label="again")
        if earlier and again:
            reference = data.draw(st.sampled_from(earlier), label="reference")
            amount = data.draw(st.sampled_from([self.spent[reference], amount]), label="amount")
        repeat = self.spent.get(reference) == amount
        legal = repeat if reference in self.spent else amount <= balance - expiring

        async def work(session: AsyncSession) -> None:
            customer = await credit.find_customer(session, f"cust-{self.order_id}")
            await credit.spend(
                session,
                customer=customer,
                amount_minor=amount,
                currency=CURRENCY,
                reference=reference,
                actor=self.who("checkout"),
            )

        what = f"spend {amount} as {reference} (balance {balance}, {expiring} expired)"
        if self.step(what, work, legal, changes=not repeat):
            self.spent.setdefault(reference, amount)

    async def credit_now(self) -> tuple[int, int]:
        """The shopper's balance, and how much of it is past its expiry now."""
        async with transaction(self.sessions) as session:
            lots = CreditTransaction.kind.in_(LOTS) & (CreditTransaction.customer_id == self.cid)
            expiring = await session.scalar(
                select(func.coalesce(func.sum(CreditTransaction.remaining_minor), 0)).where(
                    lots, CreditTransaction.expires_at <= self.now
                )
            )
            balance = await session.scalar(
                select(func.coalesce(func.sum(CreditTransaction.remaining_minor), 0)).where(lots)
            )
        return int(balance or 0), int(expiring or 0)

    @rule(days=st.integers(1, 3))
    def time_passes(self, days: int) -> None:
        """Days go by (a few, within the return window) and the expiry sweep runs."""
        if self.now + timedelta(days=days) > datetime.now().astimezone() + timedelta(days=12):
            return
        self.now += timedelta(days=days)
        self.step(
            f"sweep expired credit at {self.now}", lambda s: credit.expire_due(s, self.now), True
        )

    @invariant()
    def the_books_balance(self) -> None:
        if self.db:
            books = Books(
                self.terms,
                {ret.model.number: ret for ret in self.returns},
                self.cid,
                len(self.spent),
            )
            books.check(self.db)


SETTINGS = settings(
    max_examples=10,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    # No shrinking: every example replays against the database, and shrinking a failure runs
    # into Hypothesis's five-minute cap. The failing step's message names the return, its
    # state, the action and the amounts; the example database replays it first next time.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


def test_random_lifecycles_with_money_keep_the_books_balanced(db_url: str) -> None:
    # The services are async and the machine is not: it runs every step on one event loop of
    # its own, with its own engine, for the whole run.
    with asyncio.Runner() as runner:
        engine = create_engine(db_url, pool_size=2)
        machine = type(
            "Money", (MoneyMachine,), {"runner": runner, "sessions": session_factory(engine)}
        )
        try:
            run_machine(machine, settings=SETTINGS)
        finally:
            runner.run(engine.dispose())


# The random runs seldom build the two states below (units paid ahead of the parcel, then
# freed for another return), so they are pinned down here.
PAY_AT_FIRST_SCAN = Terms("at_first_scan", True, 0, "0", 0, False, False, False, None, "standard")


async def _three_tees_paid_at_the_scan(sessions: Sessions, order_id: str) -> tuple[str, Any]:
    """An approved return of all three tees, scanned by the carrier: paid in full at once."""
    policy = parse(PAY_AT_FIRST_SCAN.policy_text(), "pay at first scan")
    async with transaction(sessions) as session:
        await upsert_order(session, OrderIn.model_validate(order_payload(order_id, "standard")))
    wanted = [Ask("1", 3, "too_small", "refund", False, False).line_in()]
    request = ReturnIn.model_validate({"order_id": order_id, "lines": wanted})
    async with transaction(sessions) as session:
        number = (await returns.create_return(session, request, _now(), policy=policy)).number
    async with transaction(sessions) as session:
        await returns.mark_in_transit(session, number, _now(), carrier="local")
    return number, policy


def _now() -> returns.Actor:
    return returns.Actor("staff:ann", datetime.now().astimezone())


async def _settled_units(sessions: Sessions, order_id: str) -> tuple[int, int]:
    """Units of order line "1" settled over all its returns, and what the order gave back."""
    async with transaction(sessions) as session:
        row = (
            await session.execute(
                text(
                    "SELECT (SELECT coalesce(sum(rl.settled_quantity), 0) FROM return_lines rl"
                    " JOIN order_lines ol ON ol.id = rl.order_line_id"
                    " WHERE ol.order_id = o.id AND ol.line_ref = '1'), o.given_back_minor"
                    " FROM orders o WHERE o.external_id = :order"
                ),
                {"order": order_id},
            )
        ).one()
    return int(row[0]), int(row[1])


async def _return_them_again(sessions: Sessions, order_id: str, policy: LoadedPolicy) -> None:
    """Whatever units of line "1" the order counts as returnable, returned and scanned."""
    async with transaction(sessions) as session:
        free = await session.scalar(
            text(
                "SELECT ol.quantity - ol.returned_quantity FROM order_lines ol"
                " JOIN orders o ON o.id = ol.order_id"
                " WHERE o.external_id = :order AND ol.line_ref = '1'"
            ),
            {"order": order_id},
        )
    if not free:
        return
    wanted = [Ask("1", int(free), "too_small", "refund", False, False).line_in()]
    request = ReturnIn.model_validate({"order_id": order_id, "lines": wanted})
    async with transaction(sessions) as session:
        number = (await returns.create_return(session, request, _now(), policy=policy)).number
    async with transaction(sessions) as session:
        await returns.mark_in_transit(session, number, _now(), carrier="local")


async def test_units_paid_at_the_scan_are_not_paid_again_when_the_parcel_comes_short(
    sessions: Sessions,
) -> None:
    number, policy = await _three_tees_paid_at_the_scan(sessions, "SHORT-1")
    one = ParcelIn.model_validate(
        {"counts": [{"line_id": "1", "quantity": 1}], "last_parcel": False}
    )
    async with transaction(sessions) as session:
        await receiving.receive_parcel(session, number, _now(), one)
    async with transaction(sessions) as session:
        data = InspectIn.model_validate({"lines": [{"line_id": "1", "grade": "new"}]})
        await inspection.grade_as_given(session, number, data, _now())
    async with transaction(sessions) as session:
        locked = await returns.load_for_change(session, number)
        await dispositions.route(session, locked, [dispositions.Choice("1")], _now())
    async with transaction(sessions) as session:
        await returns.complete(session, number, _now())

    await _return_them_again(sessions, "SHORT-1", policy)

    units, given_back = await _settled_units(sessions, "SHORT-1")
    assert units <= ORDERED["1"], f"{units} of 3 tees settled, {given_back} given back"


async def test_a_rejected_return_that_was_paid_at_the_scan_frees_no_paid_units(
    sessions: Sessions,
) -> None:
    number, policy = await _three_tees_paid_at_the_scan(sessions, "EMPTY-1")
    async with transaction(sessions) as session:
        await returns.reject(session, number, _now(), "The box came back empty")

    await _return_them_again(sessions, "EMPTY-1", policy)

    units, given_back = await _settled_units(sessions, "EMPTY-1")
    assert units <= ORDERED["1"], f"{units} of 3 tees settled, {given_back} given back"
