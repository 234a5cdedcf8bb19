"""The station under what a warehouse floor sends it, on both databases: a form posted twice (a
scanner's double Enter, a resubmitted page, two posts racing) is acted on once; numbers that
only look like digits are refused as typing mistakes; and a shop's line id of any characters
still makes a safe download name."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest

from reclaim.db import transaction
from reclaim.kit.clock import utcnow
from reclaim.returns.states import Grade
from reclaim.users.roles import Role
from reclaim.web.console import forms
from reclaim.web.console.station import inline_file
from reclaim.web.models import FormSubmission
from tests.web.conftest import LiveServer
from tests.web.console_support import Console, make_staff, signed_in, words
from tests.web.portal_support import png
from tests.web.station_support import (
    AS_NEW,
    PHONE,
    TEE,
    Sessions,
    arriving,
    graded,
    one,
    received,
    routed,
    rows,
    warehouse_unchanged,
)

STATION = "/console/station"
ONCE = re.compile(r'name="once" value="([^"]+)"')
ALREADY = "Already recorded"


@pytest.fixture
async def inspector(live_server: LiveServer, sessions: Sessions) -> Console:  # type: ignore[misc]
    async with signed_in(live_server.url, sessions, Role.INSPECTOR) as console:
        yield console


def once_in(page: httpx.Response, action: str) -> str:
    """The one-time token of the page's form that posts to ``action``."""
    form = re.search(
        rf'<form[^>]*action="{re.escape(action)}"[^>]*>(.*?)</form>', html.unescape(page.text), re.S
    )
    assert form, f"no form posting to {action} on {page.url}"
    token = ONCE.search(form.group(1))
    assert token, f"the form posting to {action} has no one-time token"
    return token.group(1)


def _location(answer: httpx.Response) -> str:
    assert answer.status_code == 303, words(answer)
    return answer.headers["location"]


async def _said(console: Console, answer: httpx.Response) -> str:
    """What the page a form sent us to says."""
    return words(await console.get(_location(answer)))


def _answers(ref: str) -> dict[str, str]:
    return {f"q-{key}": value for key, value in AS_NEW[ref].items()}


# --- a form sent twice ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "flag"),
    [
        (
            {"qty-1": "1", "unexpected": "yes", "unexpected-found": "SOCK-9"},
            "unexpected_item",
        ),
        ({"qty-1": "0", "weight": "35", "last_parcel": "yes"}, "empty_box"),
    ],
)
async def test_a_parcel_form_sent_twice_is_received_once(
    form: dict[str, str],
    flag: str,
    client: httpx.AsyncClient,
    inspector: Console,
    sessions: Sessions,
) -> None:
    number, _ = await arriving(client)
    where = f"{STATION}/{number}/receive"
    sent = form | {"once": once_in(await inspector.get(f"{STATION}/{number}"), where)}
    first = await inspector.post(where, sent)
    assert _location(first) == f"{STATION}/{number}"
    received_first = await one(sessions, "SELECT received_quantity FROM return_lines")

    async with warehouse_unchanged(sessions):
        again = await inspector.post(where, sent)
    assert _location(again) == f"{STATION}/{number}"
    assert ALREADY in await _said(inspector, again)
    assert await one(sessions, "SELECT count(*) FROM receipts") == 1
    assert await one(sessions, "SELECT received_quantity FROM return_lines") == received_first
    assert await rows(sessions, "SELECT kind FROM receiving_flags") == [(flag,)]


async def test_two_identical_parcel_posts_racing_receive_it_once(
    client: httpx.AsyncClient, inspector: Console, sessions: Sessions
) -> None:
    number, _ = await arriving(client)
    where = f"{STATION}/{number}/receive"
    sent = {
        "qty-1": "1",
        "unexpected": "yes",
        "unexpected-found": "SOCK-9",
        "once": once_in(await inspector.get(f"{STATION}/{number}"), where),
    }
    answers = await asyncio.gather(*(inspector.post(where, sent) for _ in range(2)))
    assert [_location(answer) for answer in answers] == [f"{STATION}/{number}"] * 2
    assert await one(sessions, "SELECT count(*) FROM receipts") == 1
    assert await one(sessions, "SELECT received_quantity FROM return_lines") == 1
    assert await rows(sessions, "SELECT kind FROM receiving_flags") == [("unexpected_item",)]
    assert await one(sessions, "SELECT count(*) FROM form_submissions") == 1


async def test_a_refused_form_leaves_its_token_for_the_corrected_one(
    client: httpx.AsyncClient, inspector: Console, sessions: Sessions
) -> None:
    number, _ = await arriving(client)
    where = f"{STATION}/{number}/receive"
    token = once_in(await inspector.get(f"{STATION}/{number}"), where)
    async with warehouse_unchanged(sessions):
        refused = await inspector.post(where, {"qty-1": "9", "once": token})
    assert refused.status_code == 422
    assert await one(sessions, "SELECT count(*) FROM form_submissions") == 0

    answer = await inspector.post(where, {"qty-1": "2", "once": token})
    assert f"Received 2 units of {number}." in await _said(inspector, answer)
    assert await one(sessions, "SELECT received_quantity FROM return_lines") == 2


@pytest.mark.parametrize("racing", [False, True])
async def test_a_photo_sent_twice_is_attached_once(
    racing: bool,
    client: httpx.AsyncClient,
    inspector: Console,
    sessions: Sessions,
    live_server: LiveServer,
) -> None:
    number, _ = await arriving(client)
    await received(sessions, number, {TEE: 2})
    inspect = f"{STATION}/{number}/lines/{TEE}/inspect"
    where = f"{STATION}/{number}/lines/{TEE}/photos"
    fields = {"csrf": inspector.csrf, "once": once_in(await inspector.get(inspect), where)}

    async def send() -> httpx.Response:
        photo = {"photo": ("tee.png", png(4, 4), "image/png")}
        return await inspector.http.post(where, data=fields, files=photo)

    if racing:
        answers = list(await asyncio.gather(send(), send()))
    else:
        answers = [await send(), await send()]
        assert ALREADY in await _said(inspector, answers[1])
    assert [_location(answer) for answer in answers] == [inspect] * 2
    assert await one(sessions, "SELECT count(*) FROM return_photos") == 1
    assert len(list(live_server.settings.files_dir.rglob("*.png"))) == 1


async def test_a_grade_confirmed_twice_is_recorded_once_and_both_go_on_to_routing(
    client: httpx.AsyncClient, inspector: Console, sessions: Sessions
) -> None:
    number, _ = await arriving(client)
    await received(sessions, number, {TEE: 2})
    where = f"{STATION}/{number}/lines/{TEE}/inspect"
    suggested = await inspector.post(where, _answers(TEE) | {"step": "suggest"})
    confirm = _answers(TEE) | {"step": "confirm", "grade": "new", "once": once_in(suggested, where)}
    first = await inspector.post(where, confirm)
    assert _location(first) == f"{STATION}/{number}/lines/{TEE}/route"
    again = await inspector.post(where, confirm)
    assert _location(again) == _location(first)
    assert ALREADY in await _said(inspector, again)
    assert await one(sessions, "SELECT count(*) FROM inspections") == 1


async def test_routing_and_completing_sent_twice_happen_once(
    client: httpx.AsyncClient, inspector: Console, sessions: Sessions
) -> None:
    number, _ = await arriving(client)
    await received(sessions, number, {TEE: 2})
    await graded(sessions, number, TEE)
    where = f"{STATION}/{number}/lines/{TEE}/route"
    sent = {"once": once_in(await inspector.get(where), where)}
    first = await inspector.post(where, sent)
    tag = f"{STATION}/{number}/lines/{TEE}/bin-tag"
    assert _location(first) == tag
    async with warehouse_unchanged(sessions):
        again = await inspector.post(where, sent)
    assert _location(again) == tag
    assert await one(sessions, "SELECT count(*) FROM dispositions") == 1

    complete = f"{STATION}/{number}/complete"
    sent = {"once": once_in(await inspector.get(tag), complete)}
    first = await inspector.post(complete, sent)
    assert _location(first) == STATION
    again = await inspector.post(complete, sent)
    assert _location(again) == STATION
    said = await _said(inspector, again)
    assert ALREADY in said and "can't" not in said
    assert await one(sessions, "SELECT status FROM returns") == "completed"


async def test_every_station_form_that_changes_something_carries_its_own_token(
    client: httpx.AsyncClient, inspector: Console, sessions: Sessions
) -> None:
    number, _ = await arriving(client, lines={TEE: 2, PHONE: 1})
    receiving = await inspector.get(f"{STATION}/{number}")
    await received(sessions, number, {TEE: 2, PHONE: 1})
    inspecting = await inspector.get(f"{STATION}/{number}/lines/{TEE}/inspect")
    await graded(sessions, number, TEE)
    await graded(sessions, number, PHONE)
    routing = await inspector.get(f"{STATION}/{number}/lines/{TEE}/route")
    # Receive; the checklist and the photo; the recommendation and the override.
    tokens = [ONCE.findall(page.text) for page in (receiving, inspecting, routing)]
    assert [len(found) for found in tokens] == [1, 2, 2]
    assert len({token for found in tokens for token in found}) == 5


async def test_old_tokens_are_forgotten(live_server: LiveServer, sessions: Sessions) -> None:
    made = await make_staff(sessions, Role.INSPECTOR)
    staff_id = await one(sessions, "SELECT id FROM staff_users WHERE email = :e", e=made.email)
    now = utcnow()
    async with transaction(sessions) as session:
        for token, days in (("old-token-000000", 9), ("new-token-000000", 1)):
            at = now - timedelta(days=days)
            session.add(
                FormSubmission(token=token, staff_user_id=staff_id, location=STATION, at=at)
            )
    async with transaction(sessions) as session:
        assert await forms.forget_old_submissions(session, now - timedelta(days=8)) == 1
    assert await rows(sessions, "SELECT token FROM form_submissions") == [("new-token-000000",)]


# --- numbers that only look like numbers ---------------------------------------------------------


@pytest.mark.parametrize("typed", ["²", "-1", "99999999999", "١"])
@pytest.mark.parametrize(
    ("field", "what"),
    [("qty-1", "Units of Tee (M)"), ("weight", "The parcel's weight in grams")],
)
async def test_a_number_field_refuses_what_isnt_ascii_digits_and_changes_nothing(
    typed: str,
    field: str,
    what: str,
    client: httpx.AsyncClient,
    inspector: Console,
    sessions: Sessions,
) -> None:
    number, _ = await arriving(client)
    form = {"qty-1": "1", "last_parcel": "yes"} | {field: typed}
    async with warehouse_unchanged(sessions):
        page = await inspector.post(f"{STATION}/{number}/receive", form)
    assert page.status_code == 422, words(page)
    assert f"{what} must be a whole number" in words(page)
    assert 'id="problem"' in page.text  # said next to the form, which keeps what was typed


def test_only_ascii_digits_make_a_whole_number() -> None:
    assert forms.whole_number("0") == 0
    assert forms.whole_number("007") == 7
    assert forms.whole_number("123456789") == 123456789
    for typed in ("", "²", "١", "-1", "+1", "1.0", " 1", "1\n", "1234567890"):
        assert forms.whole_number(typed) is None, typed
    assert forms.whole_number("123456789012345678", digits=18) == 123456789012345678


# --- the bin tag's file name ---------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["線1", 'a"b'])
async def test_the_bin_tag_pdf_is_named_safely_whatever_the_line_id(
    ref: str, client: httpx.AsyncClient, inspector: Console, sessions: Sessions
) -> None:
    number, _ = await arriving(client, tee=ref)
    await received(sessions, number, {ref: 2})
    await graded(sessions, number, ref, like=TEE)
    await routed(sessions, number, ref)
    pdf = await inspector.get(f"{STATION}/{number}/lines/{quote(ref, safe='')}/bin-tag.pdf")
    assert pdf.status_code == 200, words(pdf)
    assert pdf.content.startswith(b"%PDF")
    named = pdf.headers["content-disposition"]
    plain = re.sub(r"[^A-Za-z0-9._-]", "_", f"{number}-{ref}-bin-tag.pdf")
    assert named == (
        f"inline; filename=\"{plain}\"; filename*=UTF-8''"
        f"{quote(f'{number}-{ref}-bin-tag.pdf', safe='')}"
    )


def test_a_file_name_cannot_end_or_add_a_header() -> None:
    named = inline_file('RMA-1-a"b\r\nSet-Cookie: x=1-bin-tag.pdf')
    assert named.isascii() and "\r" not in named and "\n" not in named
    assert named.count('"') == 2
    assert named.startswith('inline; filename="RMA-1-a_b__Set-Cookie__x_1-bin-tag.pdf"; ')


async def test_the_bin_tag_page_shows_a_line_id_of_any_characters(
    client: httpx.AsyncClient, inspector: Console, sessions: Sessions
) -> None:
    number, _ = await arriving(client, tee="線1")
    await received(sessions, number, {"線1": 2})
    await graded(sessions, number, "線1", Grade.GOOD, like=TEE)
    await routed(sessions, number, "線1")
    page = await inspector.get(f"{STATION}/{number}/lines/{quote('線1', safe='')}/bin-tag")
    assert page.status_code == 200
    assert f"{number} · line 線1" in words(page)
