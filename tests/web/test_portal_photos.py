"""Photos of a damaged, faulty or wrong item: checked, kept only when the step is accepted."""

from __future__ import annotations

import hashlib
import math
import random
import string
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.web.conftest import LiveServer
from tests.web.portal_support import (
    JPEG,
    PORTAL_POLICY,
    Sessions,
    Shopper,
    csrf_of,
    png,
    portal_browser,
    portal_unchanged,
    rows,
    said,
    seed_portal_order,
    session_data,
    stored_files,
)

Files = list[tuple[str, tuple[str, bytes, str]]]


@pytest.fixture
def server_overrides() -> dict[str, Any]:
    return dict(PORTAL_POLICY)


@pytest.fixture
async def shopper(live_server: LiveServer, client: httpx.AsyncClient) -> AsyncIterator[Shopper]:
    await seed_portal_order(client)
    async with portal_browser(live_server.url) as shopper:
        await shopper.look_up()
        yield shopper


async def choose(shopper: Shopper, *refs: str) -> None:
    page = await shopper.submit("/returns/order", {f"pick-{ref}": "1" for ref in refs})
    assert str(page.url).endswith("/returns/reasons"), page.text


def photos(ref: str, *files: tuple[str, bytes, str]) -> Files:
    return [(f"photos-{ref}", file) for file in files]


async def refused(
    shopper: Shopper,
    live_server: LiveServer,
    sessions: Sessions,
    data: dict[str, str],
    files: Files,
) -> str:
    """Send the reasons with photos; insist the step is refused and nothing is stored."""
    async with portal_unchanged(sessions, live_server.settings.files_dir):
        page = await shopper.submit("/returns/reasons", data, files)
    assert page.status_code == 400, page.text
    assert stored_files(live_server.settings.files_dir) == []
    assert "asks" not in session_data(shopper.cookie)["d"]
    return said(page)


async def test_a_text_file_named_like_a_photo_is_refused(
    shopper: Shopper, live_server: LiveServer, sessions: Sessions
) -> None:
    await choose(shopper, "1")

    text = await refused(
        shopper,
        live_server,
        sessions,
        {"reason-1": "damaged_in_transit"},
        photos("1", ("damage.jpg", b"this is not a photo at all", "image/jpeg")),
    )

    assert "damage.jpg isn't a photo we can use: send a JPEG, PNG, WebP or HEIC." in text


async def test_an_empty_file_named_like_a_photo_is_refused(
    shopper: Shopper, live_server: LiveServer, sessions: Sessions
) -> None:
    await choose(shopper, "1")

    text = await refused(
        shopper,
        live_server,
        sessions,
        {"reason-1": "defective"},
        photos("1", ("empty.png", b"", "image/png")),
    )

    assert "empty.png is empty." in text


@pytest.mark.parametrize("server_overrides", [{**PORTAL_POLICY, "max_photo_bytes": 1024}])
async def test_a_photo_over_the_size_limit_is_refused_with_both_sizes(
    shopper: Shopper, live_server: LiveServer, sessions: Sessions
) -> None:
    await choose(shopper, "1")
    big = png(padding=3000)

    text = await refused(
        shopper,
        live_server,
        sessions,
        {"reason-1": "damaged_in_transit"},
        photos("1", ("big.png", big, "image/png")),
    )

    # The sizes are readable at any limit (not "0.0 MB, up to 0 MB"), and the file's own
    # size is its whole size, not the part read before giving up on it.
    kb = math.ceil(len(big) / 1024 * 10) / 10
    assert f"big.png is {kb:g} KB; photos can be up to 1 KB." in text


async def test_more_photos_than_allowed_are_refused(
    shopper: Shopper, live_server: LiveServer, sessions: Sessions
) -> None:
    await choose(shopper, "1")

    text = await refused(
        shopper,
        live_server,
        sessions,
        {"reason-1": "damaged_in_transit"},
        photos("1", *[(f"p{n}.png", png(), "image/png") for n in range(4)]),
    )

    assert "Send up to 3 photos per item." in text


async def test_photos_for_a_reason_that_needs_none_are_refused(
    shopper: Shopper, live_server: LiveServer, sessions: Sessions
) -> None:
    await choose(shopper, "1")

    text = await refused(
        shopper,
        live_server,
        sessions,
        {"reason-1": "too_small"},
        photos("1", ("tee.png", png(), "image/png")),
    )

    assert "Photos are only needed for damaged, faulty or wrong items." in text


async def test_a_good_photo_is_not_kept_when_another_photo_is_refused(
    shopper: Shopper, live_server: LiveServer, sessions: Sessions
) -> None:
    await choose(shopper, "1")

    text = await refused(
        shopper,
        live_server,
        sessions,
        {"reason-1": "damaged_in_transit"},
        photos("1", ("good.png", png(), "image/png"), ("bad.jpg", b"GIF89a...", "image/jpeg")),
    )

    assert "bad.jpg isn't a photo we can use" in text


async def test_a_good_photo_is_not_kept_when_another_item_is_refused(
    shopper: Shopper, live_server: LiveServer, sessions: Sessions
) -> None:
    await choose(shopper, "1", "2")

    text = await refused(
        shopper,
        live_server,
        sessions,
        {"reason-1": "damaged_in_transit"},  # and no reason for the mug
        photos("1", ("good.png", png(), "image/png")),
    )

    assert "Tell us why you're returning this item." in text


async def test_an_empty_file_field_is_no_photo_and_no_error(
    shopper: Shopper, live_server: LiveServer, sessions: Sessions
) -> None:
    await choose(shopper, "1")

    page = await shopper.submit(
        "/returns/reasons",
        {"reason-1": "too_small"},
        photos("1", ("", b"", "application/octet-stream")),
    )

    assert str(page.url).endswith("/returns/resolution"), page.text
    assert session_data(shopper.cookie)["d"]["asks"]["1"]["photos"] == []
    assert stored_files(live_server.settings.files_dir) == []


async def test_photos_of_a_damaged_item_are_kept_and_attached_to_its_return_line(
    shopper: Shopper, live_server: LiveServer, sessions: Sessions
) -> None:
    await choose(shopper, "1")
    picture = png(4, 3)

    page = await shopper.submit(
        "/returns/reasons",
        {"reason-1": "damaged_in_transit", "comment-1": "Torn seam"},
        # Named by the shopper's phone, with whatever type the browser guessed.
        photos(
            "1",
            ("IMG_0001.PNG", picture, "application/octet-stream"),
            ("side view.jpeg", JPEG, "image/jpeg"),
        ),
    )
    assert str(page.url).endswith("/returns/resolution"), page.text
    await shopper.submit("/returns/resolution", {"resolution": "refund"})
    await shopper.submit("/returns/method", {"method": "prepaid_label"})
    confirm = await shopper.get("/returns/confirm")
    assert "2 photo(s)" in confirm.text
    status = await shopper.submit("/returns/confirm", {})

    assert "Your return is confirmed" in status.text
    assert "2 photo(s)" in status.text
    kept = await rows(
        sessions,
        "SELECT p.storage_key, p.content_type, p.size_bytes, p.sha256, ol.line_ref "
        "FROM return_photos p JOIN return_lines rl ON rl.id = p.return_line_id "
        "JOIN order_lines ol ON ol.id = rl.order_line_id ORDER BY p.id",
    )
    assert [(row[1], row[2], row[4]) for row in kept] == [
        ("image/png", len(picture), "1"),
        ("image/jpeg", len(JPEG), "1"),
    ]
    root = live_server.settings.files_dir
    for (key, _type, _size, sha, _ref), data in zip(kept, (picture, JPEG), strict=True):
        # Stored under a name we made (never the shopper's), with the type the bytes showed.
        assert key.startswith("photos/") and key.endswith((".png", ".jpg"))
        assert "IMG_0001" not in key and "side view" not in key
        assert (root / key).read_bytes() == data
        assert sha == hashlib.sha256(data).hexdigest()
    assert len(stored_files(root)) == 2


async def test_photos_sent_once_stay_when_the_reasons_are_sent_again(
    shopper: Shopper, live_server: LiveServer, sessions: Sessions
) -> None:
    await choose(shopper, "1")
    await shopper.submit(
        "/returns/reasons",
        {"reason-1": "defective"},
        photos("1", ("fault.png", png(), "image/png")),
    )
    await shopper.get("/returns/reasons")
    assert "1 photo(s) already added." in shopper.page.text  # type: ignore[union-attr]

    page = await shopper.submit("/returns/reasons", {"reason-1": "defective", "comment-1": "x"})

    assert str(page.url).endswith("/returns/resolution")
    assert len(session_data(shopper.cookie)["d"]["asks"]["1"]["photos"]) == 1


def prose(n: int, seed: int) -> str:
    """n characters of text that doesn't compress away, like a real comment."""
    rnd = random.Random(seed)
    text = " ".join(
        "".join(rnd.choice(string.ascii_lowercase) for _ in range(rnd.randint(2, 9)))
        for _ in range(n)
    )
    return text[:n]


async def test_a_long_comment_fits_in_the_session(
    shopper: Shopper, live_server: LiveServer
) -> None:
    await choose(shopper, "1")

    page = await shopper.http.post(
        "/returns/reasons",
        data={
            "csrf": csrf_of(shopper.page),  # type: ignore[arg-type]
            "reason-1": "damaged_in_transit",
            "comment-1": prose(2000, 1),
        },
        files=photos("1", *[(f"p{n}.png", png(), "image/png") for n in range(3)]),
    )

    assert page.status_code == 303 and page.headers["location"] == "/returns/resolution"
    name_value = page.headers["set-cookie"].split(";")[0]
    assert len(name_value.encode()) <= 4096  # what browsers keep
    assert len(stored_files(live_server.settings.files_dir)) == 3


async def test_more_than_a_cookie_can_carry_is_refused_not_lost(
    shopper: Shopper, live_server: LiveServer, sessions: Sessions
) -> None:
    await choose(shopper, "1", "2")

    text = await refused(
        shopper,
        live_server,
        sessions,
        {
            "reason-1": "damaged_in_transit",
            "comment-1": prose(2000, 1),
            "reason-2": "defective",
            "comment-2": prose(2000, 2),
        },
        photos("1", ("p.png", png(), "image/png")),
    )

    assert "please shorten your comments" in text
