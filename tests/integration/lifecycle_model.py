"""A reference model of the return lifecycle, for the stateful test, written by hand.

It is written from the lifecycle in ARCHITECTURE.md and deliberately not derived from
``reclaim.returns.states``: a mistake there would otherwise agree with itself. It says which
actions are legal (`verdict`), what they do (`apply`), and how to draw arguments for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

# The order every example plays with: 3 + 2 + 1 units, so returns soon compete for units.
ORDERED = {"1": 3, "2": 2, "3": 1}
REFS = sorted(ORDERED)
GRADES = ["new", "like_new", "very_good", "good", "acceptable", "unsellable"]
DISPOSITIONS = ["restock", "open_box", "refurbish", "return_to_vendor", "liquidate", "recycle"]

# action: (the statuses it may start from, the status it leads to). Line-level and returnless
# conditions are in `verdict`; where inspect leads is decided by the lines, and a disposition
# leaves the status as it was (see `apply`).
MODEL: dict[str, tuple[set[str], str]] = {
    "send_to_review": ({"requested"}, "review"),
    "approve": ({"requested", "review"}, "approved"),
    "approve_returnless": ({"requested", "review"}, "approved"),
    # Once approved, only while nothing was received: a box that brought nothing back.
    "reject": ({"requested", "review", "approved", "in_transit"}, "rejected"),
    "cancel": ({"requested", "review", "approved"}, "cancelled"),
    "expire": ({"approved"}, "expired"),
    "mark_in_transit": ({"approved", "in_transit"}, "in_transit"),
    # A later parcel takes an inspected return back to received: what it brings needs grades.
    "receive": ({"approved", "in_transit", "received", "inspected"}, "received"),
    "inspect": ({"received"}, "inspected or received"),
    # Graded lines may be routed while other lines still wait for their grades.
    "disposition": ({"received", "inspected"}, "unchanged"),
    "complete": ({"approved", "inspected"}, "completed"),
}
# The outbox topic each recorded action writes.
TOPIC = {
    "create": "return.requested", "send_to_review": "return.review",
    "approve": "return.approved", "reject": "return.rejected", "cancel": "return.cancelled",
    "expire": "return.expired", "mark_in_transit": "return.in_transit",
    "receive": "return.received", "inspect": "return.inspected",
    "disposition": "return.dispositioned", "complete": "return.completed",
}  # fmt: skip
RELEASED = {"rejected", "cancelled", "expired"}
ENDINGS = {"reject", "cancel", "expire"}
ACTIONS = sorted(MODEL)
ENDED = {*RELEASED, "completed"}
# The order `advance` offers moves in (Hypothesis favours the head of a list): finishing
# moves first, so returns get to the end; shipping before receiving, and receiving before
# inspecting, so returns pass through in transit and lines are often graded while others
# are still arriving.
DEPTH = ["complete", "disposition", "mark_in_transit", "receive", "inspect", "approve"]
DEPTH += ["approve_returnless", "send_to_review", "expire", "cancel", "reject"]


@dataclass
class LineModel:
    quantity: int
    received: int = 0
    grade: str | None = None
    disposition: str | None = None


@dataclass
class ReturnModel:
    number: str
    lines: dict[str, LineModel]
    status: str = "requested"
    returnless: bool = False
    events: list[tuple[str, str]] = field(default_factory=lambda: [("create", "requested")])

    def holds(self, ref: str) -> int:
        """Units of order line ``ref`` this return keeps from being returned again."""
        line = self.lines.get(ref)
        if line is None or self.status in RELEASED:
            return 0
        if self.status == "completed" and not self.returnless:
            return line.received  # what never arrived went back to the order
        return line.quantity


def verdict(ret: ReturnModel, action: str, arg: Any) -> bool | None:
    """Whether the lifecycle allows ``action``; None where the specification is undecided."""
    if ret.status not in MODEL[action][0]:
        return False
    if action == "expire" and ret.returnless:
        return None  # nothing is due back; see UNDECIDED in test_return_lifecycle.py
    # Nothing comes back from a returnless return, so there is no parcel to reject either;
    # it was refunded at approval, so it can't be cancelled and its units returned again.
    if action in ("mark_in_transit", "receive", "reject", "cancel") and ret.returnless:
        return False
    if action == "reject":
        return bool(arg)  # the shopper is told why, so a reason is required
    if action == "complete":
        if ret.status == "approved":
            return ret.returnless
        return all(line.disposition for line in ret.lines.values() if line.received)
    lines = ret.lines
    if action == "receive":
        return all(
            ref in lines
            and lines[ref].grade is None
            and lines[ref].received + quantity <= lines[ref].quantity
            for ref, quantity in arg.items()
        )
    if action == "inspect":
        return all(ref in lines and lines[ref].received and not lines[ref].grade for ref in arg)
    if action == "disposition":
        return all(ref in lines and lines[ref].grade and not lines[ref].disposition for ref in arg)
    return True


def apply(ret: ReturnModel, action: str, arg: Any) -> None:
    if action in ("receive", "inspect", "disposition"):
        for ref, value in arg.items():
            line = ret.lines[ref]
            if action == "receive":
                line.received += value
            elif action == "inspect":
                line.grade = value
            else:
                line.disposition = value
    if action == "inspect":
        arrived = [line for line in ret.lines.values() if line.received]
        ret.status = "inspected" if all(line.grade for line in arrived) else "received"
    elif action != "disposition":
        ret.status = MODEL[action][1]
    ret.returnless = ret.returnless or action == "approve_returnless"
    ret.events.append(("approve" if action == "approve_returnless" else action, ret.status))


# --- arguments: any the API lets through (`misstep`, `probe`), or legal ones (`advance`) ---


def per_line(refs: list[str], value: Any) -> st.SearchStrategy[dict[str, Any]]:
    """A non-empty dict over some of ``refs``; ``value(ref)`` is each line's strategy."""
    chosen = st.lists(st.sampled_from(refs), min_size=1, max_size=len(refs), unique=True)
    return chosen.flatmap(lambda picked: st.fixed_dictionaries({r: value(r) for r in picked}))


def most_of(refs: list[str], free: Any) -> st.SearchStrategy[dict[str, int]]:
    """Most of what is free, as a new return: Hypothesis favours short lists and small
    numbers, so the lines left out and the units held back are what gets drawn."""

    def units(ref: str) -> st.SearchStrategy[int]:
        return st.integers(0, free(ref) - 1).map(lambda held_back: free(ref) - held_back)

    left_out = st.lists(st.sampled_from(refs), max_size=len(refs) - 1, unique=True)
    return left_out.flatmap(
        lambda out: st.fixed_dictionaries({r: units(r) for r in refs if r not in out})
    )


def any_arg(ret: ReturnModel, action: str) -> st.SearchStrategy[Any]:
    """Any argument the API would let through, often just past what the return allows."""
    if action == "receive":
        # On the return's own lines: one unit, all that is still due, or one more than that.
        def due(ref: str) -> st.SearchStrategy[int]:
            line = ret.lines.get(ref)
            if line is None:
                return st.integers(1, ORDERED[ref])
            rest = line.quantity - line.received
            return st.sampled_from(sorted({1, max(rest, 1), rest + 1}))

        return per_line(REFS, due)
    if action == "inspect":
        return per_line(REFS, lambda _: st.sampled_from(GRADES))
    if action == "disposition":
        return per_line(REFS, lambda _: st.sampled_from(DISPOSITIONS))
    # Nothing else takes an argument; a rejection without a reason must be refused (a reason
    # comes with `advance`).
    return st.none()


def legal_arg(ret: ReturnModel, action: str) -> st.SearchStrategy[Any] | None:
    """Arguments the model accepts for ``action`` on ``ret``, or None if there are none."""
    lines = ret.lines
    by_action = {
        "receive": (
            [r for r, line in lines.items() if not line.grade and line.received < line.quantity],
            # One unit at a time more often than not (the head of a list is favoured).
            lambda r: st.sampled_from(range(1, lines[r].quantity - lines[r].received + 1)),
        ),
        "inspect": (
            [r for r, line in lines.items() if line.received and not line.grade],
            lambda _: st.sampled_from(GRADES),
        ),
        "disposition": (
            [r for r, line in lines.items() if line.grade and not line.disposition],
            lambda _: st.sampled_from(DISPOSITIONS),
        ),
    }
    if action in by_action:
        refs, value = by_action[action]
        # An empty argument passes every line check, leaving the return-level ones.
        return per_line(refs, value) if refs and verdict(ret, action, {}) else None
    why = "Outside policy" if action == "reject" else None
    return st.just(why) if verdict(ret, action, why) else None
