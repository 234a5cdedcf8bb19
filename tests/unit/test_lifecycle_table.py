"""The return lifecycle table, checked against the lifecycle drawn in ARCHITECTURE.md.

The expected tables below are written out by hand on purpose: reading them back from MOVES
would only prove that MOVES equals itself.
"""

from __future__ import annotations

from collections import deque

import pytest

from reclaim.returns.states import (
    AMAZON_CODE,
    DONE,
    FAULT,
    MOVES,
    REASON_FROM_AMAZON,
    RELEASED,
    SHOPPER_METHODS,
    TERMINAL,
    TRANSITIONS,
    Action,
    Fault,
    Method,
    Reason,
    Status,
    can,
)

S = Status
ALLOWED_FROM: dict[Action, frozenset[Status]] = {
    Action.SEND_TO_REVIEW: frozenset({S.REQUESTED}),
    Action.APPROVE: frozenset({S.REQUESTED, S.REVIEW}),
    # After approval, only while nothing has been received (a box that brought nothing back).
    Action.REJECT: frozenset({S.REQUESTED, S.REVIEW, S.APPROVED, S.IN_TRANSIT}),
    # Once a parcel is on its way the return can no longer be called off.
    Action.CANCEL: frozenset({S.REQUESTED, S.REVIEW, S.APPROVED}),
    Action.EXPIRE: frozenset({S.APPROVED}),
    Action.MARK_IN_TRANSIT: frozenset({S.APPROVED, S.IN_TRANSIT}),
    # A parcel may reach the dock without a carrier scan, and may arrive in several boxes,
    # the later ones after the first one's lines were graded.
    Action.RECEIVE: frozenset({S.APPROVED, S.IN_TRANSIT, S.RECEIVED, S.INSPECTED}),
    Action.INSPECT: frozenset({S.RECEIVED}),
    # A graded line may be routed while another line waits for its grade.
    Action.DISPOSITION: frozenset({S.RECEIVED, S.INSPECTED}),
    # Approved → completed is the returnless (keep_item) refund.
    Action.COMPLETE: frozenset({S.APPROVED, S.INSPECTED}),
}
# Every status an action may leave the return in, from each status it may start from.
LEADS_TO: dict[Action, dict[Status, frozenset[Status]]] = {
    Action.SEND_TO_REVIEW: {S.REQUESTED: frozenset({S.REVIEW})},
    Action.APPROVE: {S.REQUESTED: frozenset({S.APPROVED}), S.REVIEW: frozenset({S.APPROVED})},
    Action.REJECT: {
        source: frozenset({S.REJECTED})
        for source in (S.REQUESTED, S.REVIEW, S.APPROVED, S.IN_TRANSIT)
    },
    Action.CANCEL: {
        source: frozenset({S.CANCELLED}) for source in (S.REQUESTED, S.REVIEW, S.APPROVED)
    },
    Action.EXPIRE: {S.APPROVED: frozenset({S.EXPIRED})},
    Action.MARK_IN_TRANSIT: {
        S.APPROVED: frozenset({S.IN_TRANSIT}),
        S.IN_TRANSIT: frozenset({S.IN_TRANSIT}),
    },
    # From inspected too: the units a later parcel brings need grades before completion.
    Action.RECEIVE: {
        source: frozenset({S.RECEIVED})
        for source in (S.APPROVED, S.IN_TRANSIT, S.RECEIVED, S.INSPECTED)
    },
    # Inspected once every received line has a grade; until then it stays received.
    Action.INSPECT: {S.RECEIVED: frozenset({S.RECEIVED, S.INSPECTED})},
    # Routing moves no status.
    Action.DISPOSITION: {
        S.RECEIVED: frozenset({S.RECEIVED}),
        S.INSPECTED: frozenset({S.INSPECTED}),
    },
    Action.COMPLETE: {
        S.APPROVED: frozenset({S.COMPLETED}),
        S.INSPECTED: frozenset({S.COMPLETED}),
    },
}
TERMINAL_STATUSES = frozenset({S.REJECTED, S.CANCELLED, S.EXPIRED, S.COMPLETED})

CUSTOMER_FAULT = {
    Reason.UNSPECIFIED,
    Reason.NO_LONGER_NEEDED,
    Reason.ORDERED_BY_MISTAKE,
    Reason.BETTER_PRICE,
    Reason.TOO_SMALL,
    Reason.TOO_LARGE,
    Reason.STYLE_NOT_AS_EXPECTED,
}
MERCHANT_FAULT = {
    Reason.DEFECTIVE,
    Reason.NOT_AS_DESCRIBED,
    Reason.WRONG_ITEM,
    Reason.MISSING_PARTS,
    Reason.QUALITY_NOT_AS_EXPECTED,
}
CARRIER_FAULT = {Reason.DAMAGED_IN_TRANSIT, Reason.ARRIVED_TOO_LATE}
REVIEW_FAULT = {Reason.UNAUTHORIZED_PURCHASE}

ACTION_STATUS_PAIRS = [(action, status) for action in ALLOWED_FROM for status in Status]


def _pair_id(pair: object) -> str:
    action, status = pair  # type: ignore[misc]
    return f"{action.value}-from-{status.value}"


# --- every (action, status) pair -------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "status"), ACTION_STATUS_PAIRS, ids=[_pair_id(p) for p in ACTION_STATUS_PAIRS]
)
def test_an_action_is_allowed_exactly_from_the_statuses_the_lifecycle_names(
    action: Action, status: Status
) -> None:
    assert can(action, status) is (status in ALLOWED_FROM[action])


@pytest.mark.parametrize(
    ("action", "status"), ACTION_STATUS_PAIRS, ids=[_pair_id(p) for p in ACTION_STATUS_PAIRS]
)
def test_can_agrees_with_the_moves_table(action: Action, status: Status) -> None:
    assert can(action, status) is (status in MOVES[action].sources)


def test_every_action_except_create_has_a_move() -> None:
    # Creating a return has no "from" status, so it is the one action without a move.
    assert set(MOVES) == set(Action) - {Action.CREATE}


def test_no_existing_return_can_be_created_again() -> None:
    assert not any(can(Action.CREATE, status) for status in Status)


# --- named cases a reader looks for first ----------------------------------------------------


def test_a_received_return_cannot_be_approved() -> None:
    assert not can(Action.APPROVE, Status.RECEIVED)


def test_a_return_in_transit_cannot_be_cancelled() -> None:
    assert not can(Action.CANCEL, Status.IN_TRANSIT)


def test_a_return_in_transit_cannot_expire() -> None:
    assert not can(Action.EXPIRE, Status.IN_TRANSIT)


def test_an_approved_return_can_complete_without_coming_back() -> None:
    assert can(Action.COMPLETE, Status.APPROVED)
    assert Status.COMPLETED in TRANSITIONS[Status.APPROVED]


def test_a_received_return_cannot_complete_before_inspection() -> None:
    assert not can(Action.COMPLETE, Status.RECEIVED)


def test_a_requested_return_cannot_be_received_before_approval() -> None:
    assert not can(Action.RECEIVE, Status.REQUESTED)
    assert not can(Action.RECEIVE, Status.REVIEW)


def test_a_disposition_needs_a_received_return() -> None:
    assert not any(can(Action.DISPOSITION, status) for status in (S.APPROVED, S.IN_TRANSIT))


def test_a_graded_line_may_be_routed_while_another_still_waits_for_its_grade() -> None:
    assert can(Action.DISPOSITION, Status.RECEIVED)
    assert MOVES[Action.DISPOSITION].leads(Status.RECEIVED) == {Status.RECEIVED}


def test_a_later_parcel_takes_an_inspected_return_back_to_received() -> None:
    assert can(Action.RECEIVE, Status.INSPECTED)
    assert Status.RECEIVED in TRANSITIONS[Status.INSPECTED]


def test_a_box_that_brought_nothing_back_can_be_rejected_before_anything_is_received() -> None:
    assert can(Action.REJECT, Status.APPROVED) and can(Action.REJECT, Status.IN_TRANSIT)


def test_a_return_with_units_received_cannot_be_rejected() -> None:
    assert not can(Action.REJECT, Status.RECEIVED)
    assert not can(Action.REJECT, Status.INSPECTED)


# --- the transition table --------------------------------------------------------------------


def test_every_status_has_a_row_in_the_transition_table() -> None:
    assert set(TRANSITIONS) == set(Status)


MOVE_SOURCES = [
    (action, source) for action, move in MOVES.items() for source in sorted(move.sources)
]


@pytest.mark.parametrize(
    ("action", "source"), MOVE_SOURCES, ids=[_pair_id(p) for p in MOVE_SOURCES]
)
def test_every_move_leads_where_the_lifecycle_says(action: Action, source: Status) -> None:
    assert MOVES[action].leads(source) == LEADS_TO[action][source]


@pytest.mark.parametrize(
    ("action", "source"), MOVE_SOURCES, ids=[_pair_id(p) for p in MOVE_SOURCES]
)
def test_every_move_lands_inside_the_transitions_of_its_source(
    action: Action, source: Status
) -> None:
    assert MOVES[action].leads(source) <= TRANSITIONS[source]


def test_every_transition_is_taken_by_some_action() -> None:
    # An edge no action can take is dead weight that hides mistakes in the table.
    taken = {
        (source, target)
        for move in MOVES.values()
        for source in move.sources
        for target in move.leads(source)
    }
    edges = {(source, target) for source, targets in TRANSITIONS.items() for target in targets}
    assert edges == taken


def test_every_status_is_reachable_from_requested() -> None:
    seen, todo = {Status.REQUESTED}, deque([Status.REQUESTED])
    while todo:
        for nxt in TRANSITIONS[todo.popleft()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    assert seen == set(Status)


@pytest.mark.parametrize("status", sorted(set(Status) - TERMINAL_STATUSES), ids=str)
def test_every_live_status_can_still_reach_an_end(status: Status) -> None:
    seen, todo = {status}, deque([status])
    while todo:
        for nxt in TRANSITIONS[todo.popleft()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    assert seen & TERMINAL_STATUSES


# --- terminal statuses -----------------------------------------------------------------------


def test_the_terminal_statuses_are_rejected_cancelled_expired_and_completed() -> None:
    assert TERMINAL == TERMINAL_STATUSES


TERMINAL_PAIRS = [(action, status) for action in Action for status in sorted(TERMINAL_STATUSES)]


@pytest.mark.parametrize(
    ("action", "status"), TERMINAL_PAIRS, ids=[_pair_id(p) for p in TERMINAL_PAIRS]
)
def test_a_terminal_status_allows_no_action(action: Action, status: Status) -> None:
    assert TRANSITIONS[status] == frozenset()
    if action in MOVES:
        assert not can(action, status)


def test_only_returns_that_never_came_back_release_their_units() -> None:
    # A completed return keeps its units counted as returned; the other endings give them back.
    assert {Status.REJECTED, Status.CANCELLED, Status.EXPIRED} == RELEASED


def test_every_action_reads_as_a_sentence() -> None:
    assert set(DONE) == set(Action)
    assert all(DONE[action] for action in Action)


# --- reasons, faults and marketplace codes ---------------------------------------------------


@pytest.mark.parametrize("reason", list(Reason), ids=str)
def test_every_reason_has_a_fault(reason: Reason) -> None:
    assert isinstance(FAULT[reason], Fault)


@pytest.mark.parametrize(
    ("reasons", "fault"),
    [
        (CUSTOMER_FAULT, Fault.CUSTOMER),
        (MERCHANT_FAULT, Fault.MERCHANT),
        (CARRIER_FAULT, Fault.CARRIER),
        (REVIEW_FAULT, Fault.REVIEW),
    ],
    ids=["customer", "merchant", "carrier", "review"],
)
def test_each_reason_is_blamed_on_the_party_the_domain_names(
    reasons: set[Reason], fault: Fault
) -> None:
    assert {reason for reason in Reason if FAULT[reason] is fault} == reasons


@pytest.mark.parametrize("reason", list(Reason), ids=str)
def test_every_reason_has_an_amazon_code(reason: Reason) -> None:
    assert AMAZON_CODE[reason]


def test_amazon_codes_are_distinct() -> None:
    assert len(set(AMAZON_CODE.values())) == len(Reason)


@pytest.mark.parametrize("reason", list(Reason), ids=str)
def test_an_amazon_code_reads_back_as_the_same_reason(reason: Reason) -> None:
    assert REASON_FROM_AMAZON[AMAZON_CODE[reason]] is reason


def test_reading_amazon_codes_knows_no_code_we_cannot_write() -> None:
    assert set(REASON_FROM_AMAZON) == set(AMAZON_CODE.values())


# --- methods ---------------------------------------------------------------------------------


def test_a_shopper_cannot_choose_to_keep_the_item() -> None:
    assert Method.KEEP_ITEM not in SHOPPER_METHODS


def test_a_shopper_can_choose_every_way_of_sending_back() -> None:
    assert {
        Method.PREPAID_LABEL,
        Method.BOX_FREE_DROPOFF,
        Method.LOCKER,
        Method.IN_STORE,
        Method.SCHEDULED_PICKUP,
    } == SHOPPER_METHODS
