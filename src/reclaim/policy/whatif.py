"""What a draft policy would have decided: past returns replayed under the live policy and a draft.

Pure: the returns come in as plain values (``policy.service.whatif_cases`` reads them), each is
decided twice with :func:`reclaim.policy.rules.decide` at the moment it was created, and the two
sets of decisions are tallied side by side.

Each return is replayed against what actually happened around it, not against what the draft
would have made happen: if the draft refuses an earlier return, a later one still sees the
units that earlier return held and still counts it among the customer's recent returns. A
replay that followed the draft's own consequences would need the shoppers' behaviour too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from reclaim.policy.facts import Ask, OrderFacts
from reclaim.policy.loader import LoadedPolicy
from reclaim.policy.rules import Decision, Outcome, decide
from reclaim.policy.schema import Policy
from reclaim.returns.states import RELEASED, Method, Status

# Statuses in which a return stopped counting as one of the shopper's returns (as
# ``policy.service.NOT_COUNTED``, repeated here so this module stays free of the database).
UNCOUNTED = frozenset({Status.CANCELLED, Status.REJECTED})


@dataclass(frozen=True, slots=True)
class PastReturn:
    """One of the customer's returns, as the review rule counts it."""

    return_id: int
    created_at: datetime
    # When it was rejected or cancelled and stopped counting; ``None`` while it counts.
    uncounted_at: datetime | None


def past_return(
    return_id: int, created_at: datetime, status: str, updated_at: datetime
) -> PastReturn:
    # Rejected and cancelled are final, so the last change of such a return is when it ended.
    return PastReturn(return_id, created_at, updated_at if status in UNCOUNTED else None)


@dataclass(frozen=True, slots=True)
class Holding:
    """Units of an order line another return held, and how many it kept after letting go."""

    return_id: int
    created_at: datetime
    order_line_id: int
    quantity: int
    # When it released units (rejected, cancelled, expired, or completed with fewer units
    # received than asked) and what it kept from then on; ``None`` while it holds them all.
    released_at: datetime | None
    kept: int


def holding(
    return_id: int,
    created_at: datetime,
    status: str,
    method: str,
    updated_at: datetime,
    order_line_id: int,
    quantity: int,
    received_quantity: int,
) -> Holding:
    """Mirrors how the returns service holds and releases units; each of those moves is a
    return's last, so its ``updated_at`` says when it happened."""
    if status in RELEASED:
        return Holding(return_id, created_at, order_line_id, quantity, updated_at, 0)
    if status == Status.COMPLETED and method != Method.KEEP_ITEM:
        return Holding(
            return_id, created_at, order_line_id, quantity, updated_at, received_quantity
        )
    return Holding(return_id, created_at, order_line_id, quantity, None, quantity)


def held_at(holdings: Iterable[Holding], order_line_id: int, return_id: int, now: datetime) -> int:
    """Units of the line other returns held when return ``return_id`` was created at ``now``."""
    held = 0
    for other in holdings:
        if other.order_line_id != order_line_id or other.return_id == return_id:
            continue
        # Same moment: the one created first (lower id) got there first.
        if (other.created_at, other.return_id) >= (now, return_id):
            continue
        released = other.released_at is not None and other.released_at <= now
        held += other.kept if released else other.quantity
    return held


@dataclass(frozen=True, slots=True)
class Case:
    """One past return, ready to be decided again."""

    return_id: int
    number: str
    created_at: datetime
    # The policy version it was actually decided under.
    recorded_version: str | None
    # The order as it was; ``recent_returns`` is filled in per policy, whose window it depends on.
    facts: OrderFacts
    asks: tuple[Ask, ...]
    # ``None`` when the shopper's choice is unknown (a returnless return only records keep_item).
    method: Method | None
    customer_returns: Sequence[PastReturn] = ()

    def recent_returns(self, days: int) -> int:
        """The customer's other returns the review rule saw, as ``service.recent_returns``."""
        since = self.created_at - timedelta(days=days)
        return sum(
            1
            for past in self.customer_returns
            if past.return_id != self.return_id
            and since <= past.created_at < self.created_at
            and (past.uncounted_at is None or past.uncounted_at > self.created_at)
        )


def decide_case(policy: Policy, case: Case) -> Decision:
    facts = replace(case.facts, recent_returns=case.recent_returns(policy.review.recent_days))
    return decide(policy, facts, case.asks, case.method, case.created_at)


@dataclass
class Tally:
    """What one policy decided over the replayed returns. Money is per currency."""

    replayed: int = 0
    eligible: int = 0
    refused: int = 0
    # Problem code → returns refused (at least partly) for it.
    refusals: Counter[str] = field(default_factory=Counter)
    approved: int = 0
    kept: int = 0
    review: int = 0
    manual: int = 0
    charged: int = 0
    refund: Counter[str] = field(default_factory=Counter)
    # Including the bonus: what the shopper can spend.
    store_credit: Counter[str] = field(default_factory=Counter)
    bonus: Counter[str] = field(default_factory=Counter)
    fees: Counter[str] = field(default_factory=Counter)

    def add(self, decision: Decision, currency: str) -> None:
        self.replayed += 1
        if decision.outcome is Outcome.REFUSE:
            self.refused += 1
            self.refusals.update({problem.code for problem in decision.problems})
            return
        self.eligible += 1
        if decision.outcome is Outcome.APPROVE:
            self.approved += 1
        elif decision.outcome is Outcome.REVIEW:
            self.review += 1
        elif decision.outcome is Outcome.MANUAL:
            self.manual += 1
        self.kept += decision.returnless
        quote = decision.quote
        if quote is None:
            return
        self.charged += quote.fees_minor > 0
        # Added even when zero, so every currency seen gets its rows on both sides.
        self.refund[currency] += quote.refund_minor
        self.store_credit[currency] += quote.store_credit_minor
        self.bonus[currency] += quote.bonus_minor
        self.fees[currency] += quote.fees_minor


def _gist(decision: Decision) -> tuple[object, ...]:
    """What a merchant would call a different decision: outcome, timing or any amount."""
    quote = decision.quote
    amounts = (
        (
            quote.refund_minor,
            quote.store_credit_minor,
            quote.exchange_minor,
            quote.fees_minor,
            quote.bonus_minor,
        )
        if quote
        else None
    )
    return (
        decision.outcome,
        decision.returnless,
        decision.refund_timing,
        amounts,
        frozenset(problem.code for problem in decision.problems),
    )


@dataclass
class Comparison:
    """Both policies' tallies over the same returns; fed one case at a time by :meth:`add`."""

    live_policy: LoadedPolicy
    draft_policy: LoadedPolicy
    live: Tally = field(default_factory=Tally)
    draft: Tally = field(default_factory=Tally)
    # Returns the draft decides differently, by (live outcome, draft outcome).
    changed: Counter[tuple[Outcome, Outcome]] = field(default_factory=Counter)
    # Returns recorded under a version other than the live one: the live column then shows
    # what today's policy would have said, not what the shopper was told.
    other_versions: int = 0

    @property
    def differ(self) -> int:
        return sum(self.changed.values())

    @property
    def currencies(self) -> list[str]:
        return sorted(set(self.live.refund) | set(self.draft.refund))

    def add(self, case: Case) -> None:
        before = decide_case(self.live_policy.policy, case)
        after = decide_case(self.draft_policy.policy, case)
        currency = case.facts.currency
        self.live.add(before, currency)
        self.draft.add(after, currency)
        if _gist(before) != _gist(after):
            self.changed[(before.outcome, after.outcome)] += 1
        if case.recorded_version != self.live_policy.version:
            self.other_versions += 1


def compare(cases: Iterable[Case], live: LoadedPolicy, draft: LoadedPolicy) -> Comparison:
    comparison = Comparison(live, draft)
    for case in cases:
        comparison.add(case)
    return comparison
