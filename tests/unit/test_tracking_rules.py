"""Tracking codes, their ranks, dedupe keys, what a scan does to a shipment, and the CSV format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reclaim.logistics import tracking
from reclaim.logistics.carriers import LocalCarrier, Scan
from reclaim.logistics.tracking import CREATED, RANK, BadScan, Code

AT = datetime(2025, 3, 1, 14, 5, 7, tzinfo=UTC)
TRACKING = "RC1234567890123"
PROGRESS = [Code.ACCEPTED, Code.IN_TRANSIT, Code.OUT_FOR_DELIVERY, Code.DELIVERED]


def _scan(code: str = "accepted", **changes: object) -> Scan:
    fields: dict[str, object] = {"tracking_number": TRACKING, "code": code, "occurred_at": AT}
    fields.update(changes)
    return Scan(**fields)  # type: ignore[arg-type]


# --- codes and ranks -------------------------------------------------------------------------


def test_progress_codes_rank_in_the_order_a_parcel_travels() -> None:
    assert [RANK[code] for code in PROGRESS] == [1, 2, 3, 4]
    assert tracking.rank(CREATED) == 0
    assert Code.EXCEPTION not in RANK
    assert tracking.rank("exception") == 0


@pytest.mark.parametrize(
    ("given_code", "canonical"),
    [
        ("accepted", Code.ACCEPTED),
        ("ACCEPTED", Code.ACCEPTED),
        ("picked_up", Code.ACCEPTED),
        ("Picked-Up", Code.ACCEPTED),
        ("dropped off", Code.ACCEPTED),
        (" Dropped_Off ", Code.ACCEPTED),
        ("in-transit", Code.IN_TRANSIT),
        ("Out for delivery", Code.OUT_FOR_DELIVERY),
        ("Delivered", Code.DELIVERED),
        ("damaged", Code.EXCEPTION),
        ("Exception", Code.EXCEPTION),
    ],
)
def test_codes_and_common_aliases_are_understood_whatever_their_case(
    given_code: str, canonical: Code
) -> None:
    assert tracking.canonical_code(given_code) is canonical


def test_an_unknown_code_is_refused_naming_the_codes_to_use() -> None:
    with pytest.raises(BadScan) as caught:
        tracking.canonical_code("teleported")
    assert caught.value.field == "code"
    assert "accepted, in_transit, out_for_delivery, delivered, exception" in caught.value.message


# --- effect ----------------------------------------------------------------------------------


def test_the_first_progress_scan_is_the_first_scan_and_moves_the_stage() -> None:
    step = tracking.effect(CREATED, _scan("picked_up"))
    assert step == tracking.Effect(
        stage="accepted", advanced=True, first_scan=True, delivered=False, exception=False
    )


def test_delivered_first_is_both_the_first_scan_and_the_arrival() -> None:
    step = tracking.effect(CREATED, _scan("delivered"))
    assert (step.stage, step.first_scan, step.delivered) == ("delivered", True, True)


def test_a_late_lower_scan_never_moves_the_stage_back() -> None:
    step = tracking.effect("delivered", _scan("accepted"))
    assert step == tracking.Effect(
        stage="delivered", advanced=False, first_scan=False, delivered=False, exception=False
    )


def test_a_second_delivery_scan_is_not_a_second_arrival() -> None:
    assert not tracking.effect("delivered", _scan("delivered")).delivered


def test_an_exception_has_no_rank_and_moves_nothing() -> None:
    for stage in (CREATED, "in_transit"):
        step = tracking.effect(stage, _scan("lost"))
        assert (step.stage, step.advanced, step.first_scan, step.exception) == (
            stage,
            False,
            False,
            True,
        )


@given(st.lists(st.sampled_from(list(Code)), max_size=12))
def test_whatever_order_scans_arrive_in_the_stage_is_the_furthest_reached(
    codes: list[Code],
) -> None:
    stage, first_scans, arrivals = CREATED, 0, 0
    for code in codes:
        step = tracking.effect(stage, _scan(code.value))
        assert tracking.rank(step.stage) >= tracking.rank(stage)  # never back
        stage = step.stage
        first_scans += step.first_scan
        arrivals += step.delivered
    reached = [RANK[code] for code in codes if code in RANK]
    assert tracking.rank(stage) == max(reached, default=0)
    assert first_scans == (1 if reached else 0)
    assert arrivals == (1 if Code.DELIVERED in codes else 0)


# --- dedupe keys -----------------------------------------------------------------------------


def test_a_carrier_event_id_is_the_key_whatever_else_the_copy_says() -> None:
    key = tracking.dedupe_key(_scan(event_id="E-77"), "local")
    copy = _scan("in_transit", event_id="E-77", occurred_at=AT + timedelta(hours=1))

    assert tracking.dedupe_key(copy, "local") == key
    assert key.startswith("id:") and len(key) <= 128


@pytest.mark.parametrize(
    ("other", "carrier"),
    [
        pytest.param({"tracking_number": "RC0000000000001"}, "local", id="other-parcel"),
        pytest.param({}, "acme", id="other-carrier"),
        pytest.param({"event_id": "E-78"}, "local", id="other-event"),
    ],
)
def test_the_same_event_id_of_another_parcel_or_carrier_has_another_key(
    other: dict[str, object], carrier: str
) -> None:
    # Carriers often number events per parcel: event 1 of one parcel isn't event 1 of another.
    key = tracking.dedupe_key(_scan(event_id="E-77"), "local")

    assert tracking.dedupe_key(_scan(**{"event_id": "E-77", **other}), carrier) != key


def test_without_an_event_id_the_same_scan_has_the_same_key_however_written() -> None:
    key = tracking.dedupe_key(_scan("accepted", location="Soho"), "local")
    plus_one = timezone(timedelta(hours=1))
    same = _scan(
        "picked_up",
        location="Soho",
        occurred_at=AT.astimezone(plus_one).replace(microsecond=420),
    )
    assert tracking.dedupe_key(same, "local") == key
    assert key.startswith("sha256:") and len(key) <= 128


@pytest.mark.parametrize(
    "other",
    [
        {"code": "in_transit"},
        {"occurred_at": AT + timedelta(seconds=1)},
        {"location": "Leeds"},
        {"tracking_number": "RC0000000000001"},
    ],
)
def test_a_scan_differing_in_what_or_when_or_where_has_another_key(
    other: dict[str, object],
) -> None:
    base = _scan("accepted", location="Soho")
    assert tracking.dedupe_key(_scan(**{"location": "Soho", **other}), "local") != (
        tracking.dedupe_key(base, "local")
    )


@given(
    st.text(min_size=1, max_size=20),
    st.sampled_from(list(Code)),
    st.datetimes(timezones=st.just(UTC)),
    st.none() | st.text(max_size=30),
)
def test_dedupe_keys_are_stable_and_fit_the_column(
    number: str, code: Code, at: datetime, location: str | None
) -> None:
    scan = Scan(number, code.value, at, location=location)
    assert tracking.dedupe_key(scan, "local") == tracking.dedupe_key(scan, "local")
    assert len(tracking.dedupe_key(scan, "local")) <= 128


# --- checking a scan -------------------------------------------------------------------------


def test_a_checked_scan_has_a_canonical_code_utc_time_and_tidy_text() -> None:
    scan = tracking.checked(
        _scan(
            " Picked_Up ",
            tracking_number=" rc1234567890123 ",
            occurred_at="2025-03-01T15:05:07+01:00",
            event_id=42,
            location="  Soho ",
            description="",
        )
    )
    assert scan == Scan(TRACKING, "accepted", AT, event_id="42", location="Soho")
    assert scan.occurred_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"occurred_at": "2025-03-01T14:05:07"}, "occurred_at", "no time zone"),
        ({"occurred_at": datetime(2025, 3, 1)}, "occurred_at", "no time zone"),
        ({"occurred_at": "yesterday"}, "occurred_at", "not an ISO-8601 time"),
        ({"occurred_at": 1740837907}, "occurred_at", "ISO-8601"),
        ({"occurred_at": "0001-01-01T00:00+01:00"}, "occurred_at", "out of range"),
        ({"code": "teleported"}, "code", "not a tracking code"),
        ({"code": ""}, "code", "must not be empty"),
        ({"tracking_number": "  "}, "tracking_number", "must not be empty"),
        ({"location": "x" * 201}, "location", "longer than 200"),
        ({"event_id": "e" * 81}, "event_id", "longer than 80"),
        ({"description": "lost\x00"}, "description", "NUL"),
        ({"facility_code": ["WH-1"]}, "facility_code", "must be text"),
    ],
)
def test_a_bad_field_is_refused_by_name(changes: dict[str, object], field: str, says: str) -> None:
    with pytest.raises(BadScan) as caught:
        tracking.checked(_scan(**changes))
    assert caught.value.field == field
    assert says in caught.value.message


# --- the CSV format --------------------------------------------------------------------------

HEADER = "tracking_number,code,occurred_at,event_id,location,facility_code,description"


def _parse(*rows: str, header: str = HEADER) -> tracking.ParsedScans:
    return tracking.parse_csv("\n".join([header, *rows]) + "\n", LocalCarrier().parse_event)


def test_good_rows_become_checked_scans_with_their_line_numbers() -> None:
    parsed = _parse(
        f"{TRACKING},picked_up,2025-03-01T14:05:07Z,E1,Soho,,",
        f'{TRACKING},exception,2025-03-02T09:00:00+00:00,,,WH-1,"Box damaged, resealed"',
    )
    assert parsed.errors == []
    assert parsed.rows == 2
    assert [(line, scan.code, scan.event_id) for line, scan in parsed.scans] == [
        (2, "accepted", "E1"),
        (3, "exception", None),
    ]
    assert parsed.scans[1][1].description == "Box damaged, resealed"
    assert parsed.scans[1][1].facility_code == "WH-1"


def test_only_the_required_columns_are_needed() -> None:
    parsed = _parse(
        f"{TRACKING},delivered,2025-03-01T14:05Z", header="tracking_number,code,occurred_at"
    )
    assert [scan.code for _, scan in parsed.scans] == ["delivered"]


def test_bad_rows_are_named_by_line_and_the_rest_kept() -> None:
    parsed = _parse(
        f"{TRACKING},accepted,2025-03-01T14:05:07",
        f"{TRACKING},accepted,2025-03-01T14:05:07Z",
        f"{TRACKING},beamed,2025-03-01T14:05:07Z",
        ",accepted,2025-03-01T14:05:07Z",
        f"{TRACKING},accepted,2025-03-01T14:05:07Z,E,Soho,,too,many",
    )
    assert [line for line, _ in parsed.scans] == [3]
    assert [(error.line, error.message.split(":")[0]) for error in parsed.errors] == [
        (2, "occurred_at"),
        (4, "code"),
        (5, "tracking_number"),
        (6, "8 values for 7 columns; quote values that contain commas"),
    ]
    assert "no time zone" in str(parsed.errors[0])
    assert not parsed.unreadable


def test_a_bad_header_makes_the_file_unreadable() -> None:
    parsed = _parse(f"{TRACKING},accepted,2025-03-01T14:05Z", header="number,code,when")
    assert parsed.unreadable
    assert parsed.scans == []
    assert parsed.errors[0].line == 1
    assert "missing column(s) tracking_number, occurred_at" in parsed.errors[0].message


@given(st.text(max_size=200))
def test_any_text_parses_into_scans_and_errors_without_crashing(text: str) -> None:
    parsed = tracking.parse_csv(HEADER + "\n" + text, LocalCarrier().parse_event)
    for _, scan in parsed.scans:
        assert scan.occurred_at.tzinfo is UTC
        assert scan.code in {code.value for code in Code}
