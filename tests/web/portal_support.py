"""A shopper in the portal, over real HTTP: pages, forms with their CSRF token, cookies."""

from __future__ import annotations

import html
import re
import struct
import time
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reclaim.catalog.service import upsert_product
from reclaim.db import transaction
from reclaim.logistics.schemas import FacilityIn
from reclaim.logistics.service import upsert_facility
from reclaim.orders.schemas import ProductIn
from tests.factories import order_payload
from tests.web.support import snapshot

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PORTAL_POLICY = {"policy_file": None, "lookup_min_ms": 0}
# What the test server signs its portal sessions with (tests/web/conftest.py).
SECRET = "test secret key"
SESSION_SALT = "reclaim.portal.session"
COOKIE = "reclaim_portal"
FORM_EXPIRED = "This form has expired"
Sessions = async_sessionmaker[AsyncSession]


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, f"no CSRF token on {page.url}"
    return found.group(1)


def said(page: httpx.Response) -> str:
    """The page's text with HTML entities decoded, to look for messages in."""
    return html.unescape(page.text)


def words(page: httpx.Response) -> str:
    """What the page says, as a reader sees it: tags dropped, entities decoded, spaces folded."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())


class Shopper:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.page: httpx.Response | None = None

    async def get(self, path: str) -> httpx.Response:
        self.page = await self.http.get(path)
        return self.page

    async def submit(
        self,
        path: str,
        data: dict[str, Any],
        files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
        *,
        csrf: str | None = None,
    ) -> httpx.Response:
        """Post a form the way the page would, with the token the last page carried."""
        token = csrf if csrf is not None else csrf_of(self.page) if self.page else ""
        self.page = await self.http.post(
            path, data={"csrf": token, **data}, files=files, follow_redirects=True
        )
        return self.page

    async def look_up(self, order: str = "1001", email: str = "ann@example.com") -> httpx.Response:
        await self.get("/returns")
        return await self.submit("/returns/lookup", {"order_number": order, "email": email})

    async def prepare_return(
        self,
        *,
        lines: dict[str, int] | None = None,
        reason: str = "too_small",
        resolution: str = "refund",
        method: str = "prepaid_label",
        extra: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """Walk every step up to the confirm page, and return that page."""
        chosen = lines or {"1": 1}
        picks = {f"pick-{ref}": "1" for ref in chosen} | {
            f"qty-{r}": str(q) for r, q in chosen.items()
        }
        page = await self.submit("/returns/order", picks)
        assert page.status_code == 200 and "/returns/reasons" in str(page.url), page.text
        page = await self.submit("/returns/reasons", {f"reason-{ref}": reason for ref in chosen})
        assert "/returns/resolution" in str(page.url), page.text
        page = await self.submit("/returns/resolution", {"resolution": resolution, **(extra or {})})
        if "/returns/method" in str(page.url):
            page = await self.submit("/returns/method", {"method": method, **(extra or {})})
        assert "/returns/confirm" in str(page.url), page.text
        return page

    async def start_return(self, **kwargs: Any) -> httpx.Response:
        """Walk every step and confirm; the response is the status page."""
        await self.prepare_return(**kwargs)
        return await self.submit("/returns/confirm", {})

    @property
    def cookie(self) -> str | None:
        return self.http.cookies.get(COOKIE)


@asynccontextmanager
async def portal_browser(base_url: str) -> AsyncIterator[Shopper]:
    """A shopper with a cookie jar of their own and no session yet."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        yield Shopper(http)


async def seed_portal_order(
    client: httpx.AsyncClient,
    order_id: str = "1001",
    *,
    address: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    payload = order_payload(order_id, **kwargs)
    if address is not None:
        payload["shipping_address"] = address
    response = await client.post("/api/v1/orders", json=payload)
    assert response.status_code in (200, 201), response.text


def order_line(
    ref: str,
    sku: str,
    *,
    price_minor: int = 2500,
    quantity: int = 1,
    category: str = "apparel",
    weight_grams: int = 300,
    **product: Any,
) -> dict[str, Any]:
    """An order line for ``seed_portal_order(lines=[...])``; ``product`` adds product fields."""
    return {
        "line_id": ref,
        "sku": sku,
        "quantity": quantity,
        "unit_price_minor": price_minor,
        "product": {
            "name": product.pop("name", sku.title()),
            "category": category,
            "weight_grams": weight_grams,
            **product,
        },
    }


async def seed_products(sessions: Sessions, group: str, sizes: dict[str, str]) -> None:
    """Variants of one product, by SKU and size, that no order has sold yet."""
    async with transaction(sessions) as session:
        for sku, size in sizes.items():
            await upsert_product(
                session,
                sku,
                "USD",
                ProductIn(
                    name=f"Tee ({size})",
                    category="apparel",
                    product_group=group,
                    weight_grams=200,
                    attributes={"size": size},
                ),
                unit_price_minor=2500,
            )


async def seed_facility(sessions: Sessions, code: str, **fields: Any) -> None:
    data = FacilityIn.model_validate(
        {
            "code": code,
            "name": fields.pop("name", f"Place {code}"),
            "kind": fields.pop("kind", "dropoff"),
            "methods": fields.pop("methods", ["box_free_dropoff"]),
            "address": fields.pop("address", f"1 {code} Street"),
            **fields,
        }
    )
    async with transaction(sessions) as session:
        await upsert_facility(session, data)


async def rows(sessions: Sessions, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    async with sessions() as session:
        return [tuple(row) for row in (await session.execute(text(sql), params)).all()]


def stored_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


async def portal_state(sessions: Sessions, files_dir: Path) -> dict[str, Any]:
    """Everything a portal request could write: rows, photos, attempt counters and files."""
    state = await snapshot(sessions)
    for table in ("return_photos", "rate_limit_windows", "facilities"):
        state[f"count({table})"] = (await rows(sessions, f"SELECT count(*) FROM {table}"))[0][0]
    state["files"] = stored_files(files_dir)
    return state


@asynccontextmanager
async def portal_unchanged(sessions: Sessions, files_dir: Path) -> AsyncIterator[None]:
    """The block's requests may be refused, but must leave the database and files as they were."""
    before = await portal_state(sessions, files_dir)
    yield
    after = await portal_state(sessions, files_dir)
    changed = {key: (before[key], after[key]) for key in before if before[key] != after[key]}
    assert not changed, f"a refused request left something behind: {changed}"


def session_cookie(
    data: dict[str, Any], *, secret: str = SECRET, signed_at: float | None = None
) -> str:
    """A portal cookie signed as the server would, at a chosen moment (for expired sessions)."""
    moment = int(signed_at if signed_at is not None else time.time())

    class Signer(TimestampSigner):
        def get_timestamp(self) -> int:
            return moment

    serializer = URLSafeTimedSerializer(secret, salt=SESSION_SALT, signer=Signer)
    return serializer.dumps(data)


def session_data(value: str | None) -> dict[str, Any]:
    """What a portal cookie says (its CSRF token, order and draft), its signature checked."""
    assert value, "no portal cookie"
    data: dict[str, Any] = URLSafeTimedSerializer(SECRET, salt=SESSION_SALT).loads(value)
    return data


def png(width: int = 1, height: int = 1, *, padding: int = 0) -> bytes:
    """A real PNG image (grey pixels); ``padding`` adds a text chunk to make it bigger."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    extra = chunk(b"tEXt", b"Comment\x00" + b"x" * padding) if padding else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + extra
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


# The smallest well-formed baseline JPEG: one white 1x1 pixel.
JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b"
    "0b0c1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e3334"
    "32ffc0000b080001000101011100ffc4001f0000010501010101010100000000000000000102030405060708"
    "090a0bffc400b5100002010303020403050504040000017d01020300041105122131410613516107227114"
    "328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748"
    "494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999aa2"
    "a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9"
    "eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00fbfcffd9"
)
