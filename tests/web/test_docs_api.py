"""GET /api/v1/health, /openapi.json and /docs: the API describes itself without the internet."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

from reclaim import __version__
from tests.web.conftest import LiveServer
from tests.web.support import api_client

OPERATIONS = {
    ("post", "/api/v1/orders"),
    ("get", "/api/v1/orders/{order_id}"),
    ("post", "/api/v1/returns"),
    ("get", "/api/v1/returns"),
    ("get", "/api/v1/returns/{number}"),
    *(
        ("post", f"/api/v1/returns/{{number}}/{action}")
        for action in (
            "review",
            "approve",
            "reject",
            "cancel",
            "in-transit",
            "receive",
            "inspect",
            "disposition",
            "complete",
        )
    ),
    ("get", "/api/v1/health"),
    ("get", "/api/v1/orders/{order_id}/returnability"),
    ("get", "/api/v1/policy"),
    ("put", "/api/v1/facilities/{code}"),
    ("get", "/api/v1/facilities"),
    ("get", "/api/v1/facilities/{code}"),
    ("post", "/api/v1/returns/{number}/attention/resolve"),
    ("get", "/api/v1/returns/{number}/shipment"),
    ("get", "/api/v1/returns/{number}/label.pdf"),
    ("get", "/api/v1/returns/{number}/qr.png"),
    ("post", "/api/v1/tracking-events"),
    ("post", "/api/v1/webhooks"),
    ("get", "/api/v1/webhooks"),
    ("get", "/api/v1/webhooks/{endpoint_id}"),
    ("patch", "/api/v1/webhooks/{endpoint_id}"),
    ("delete", "/api/v1/webhooks/{endpoint_id}"),
    ("post", "/api/v1/webhooks/{endpoint_id}/rotate-secret"),
    ("get", "/api/v1/webhooks/{endpoint_id}/deliveries"),
    ("get", "/api/v1/deliveries"),
    ("post", "/api/v1/deliveries/{delivery_id}/replay"),
    ("post", "/api/v1/returns/{number}/receipts"),
    ("get", "/api/v1/returns/{number}/receipts"),
    ("get", "/api/v1/returns/{number}/flags"),
    ("post", "/api/v1/receiving-flags/{flag_id}/resolve"),
    ("get", "/api/v1/returns/{number}/lines/{line_id}/checklist"),
    ("post", "/api/v1/returns/{number}/lines/{line_id}/inspection"),
    ("get", "/api/v1/returns/{number}/lines/{line_id}/recommendation"),
    ("post", "/api/v1/returns/{number}/lines/{line_id}/disposition"),
    ("get", "/api/v1/inventory/stock"),
    ("get", "/api/v1/inventory/movements"),
    ("get", "/api/v1/work-orders"),
    ("get", "/api/v1/work-orders/{number}"),
    ("post", "/api/v1/work-orders/{number}/receive"),
    ("post", "/api/v1/work-orders/{number}/scrap"),
    ("get", "/api/v1/manifests"),
    ("get", "/api/v1/manifests/{number}"),
    ("post", "/api/v1/manifests/{number}/ship"),
    ("post", "/api/v1/dispositions/plan"),
    ("post", "/api/v1/dispositions/apply"),
    ("get", "/api/v1/returns/{number}/lines/{line_id}/bin-tag.pdf"),
    ("post", "/api/v1/returns/{number}/refund"),
    ("post", "/api/v1/orders/{order_id}/refunds"),
    ("get", "/api/v1/refunds"),
    ("get", "/api/v1/refunds/{number}"),
    ("post", "/api/v1/refunds/{number}/confirmation"),
    ("post", "/api/v1/refunds/{number}/retry"),
    ("get", "/api/v1/customers/{customer}/store-credit"),
    ("post", "/api/v1/customers/{customer}/store-credit/spend"),
    ("get", "/api/v1/exchanges"),
    ("get", "/api/v1/exchanges/{number}"),
    ("post", "/api/v1/exchanges/{number}/shipped"),
    ("get", "/api/v1/analytics/forecast"),
    ("get", "/api/v1/analytics/kpis"),
    ("get", "/api/v1/analytics/kpis/series"),
    ("get", "/api/v1/analytics/kpis/breakdown"),
    ("get", "/api/v1/analytics/definitions"),
    ("get", "/api/v1/analytics/findings"),
    ("get", "/api/v1/analytics/products"),
    ("get", "/api/v1/analytics/products/{sku}"),
    ("get", "/api/v1/analytics/exports/returns.csv"),
    ("get", "/api/v1/analytics/exports/returns.parquet"),
    ("get", "/api/v1/analytics/exports/kpis.csv"),
    ("get", "/api/v1/analytics/exports/kpis.parquet"),
    ("post", "/api/v1/predictions/return-risk"),
}
# Signed by the sender (Standard Webhooks), not by an API key: nothing to forbid by scope.
SIGNED = "/api/v1/tracking-events"


class _Assets(HTMLParser):
    """Every URL the page makes the browser fetch: scripts, stylesheets, icons, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("script", "img", "iframe") and found.get("src"):
            self.urls.append(str(found["src"]))
        if tag == "link" and found.get("href"):
            self.urls.append(str(found["href"]))
        self._in_script = tag == "script" and not found.get("src")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False if tag == "script" else self._in_script

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.inline_scripts.append(data)


async def test_health_says_ok_and_the_version(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}


async def test_the_openapi_document_lists_every_operation(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    spec = response.json()
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "Reclaim"
    assert spec["info"]["version"] == __version__
    listed = {(method, path) for path, ops in spec["paths"].items() for method in ops}
    assert listed == OPERATIONS
    assert "/docs" not in spec["paths"]
    assert "OrderIn" in spec["components"]["schemas"]
    assert "ReturnOut" in spec["components"]["schemas"]


async def test_the_openapi_document_says_money_and_quantities_are_integers(
    client: httpx.AsyncClient,
) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    assert schemas["OrderLineIn"]["properties"]["unit_price_minor"]["type"] == "integer"
    assert schemas["OrderLineIn"]["properties"]["quantity"]["type"] == "integer"
    assert schemas["ReturnLineIn"]["properties"]["quantity"]["type"] == "integer"
    assert schemas["OrderIn"]["additionalProperties"] is False


async def test_the_openapi_document_describes_errors_as_problem_documents(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    problem = "#/components/schemas/Problem"
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            errors = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
            if path == SIGNED:
                assert {"401", "422"} <= set(errors), (method, path)
            elif path != "/api/v1/health":
                assert {"401", "403", "422"} <= set(errors), (method, path)
            for status, response in errors.items():
                content = response["content"]
                assert list(content) == ["application/problem+json"], (method, path, status)
                assert content["application/problem+json"]["schema"]["$ref"] == problem
    assert "HTTPValidationError" not in spec["components"]["schemas"]


async def test_the_docs_page_loads_every_asset_from_this_server(
    live_server: LiveServer,
) -> None:
    async with api_client(live_server.url) as http:
        page = await http.get("/docs")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assets = _Assets()
        assets.feed(page.text)

        assert len(assets.urls) >= 3, assets.urls
        here = urlsplit(live_server.url).netloc
        for url in assets.urls:
            absolute = urljoin(f"{live_server.url}/docs", url)
            assert urlsplit(absolute).netloc == here, f"/docs loads {url} from elsewhere"
            loaded = await http.get(absolute)
            assert loaded.status_code == 200, url
            assert len(loaded.content) > 100, url
        kinds = {urlsplit(url).path.rsplit(".", 1)[-1] for url in assets.urls}
        assert {"js", "css"} <= kinds
        # The page's own script must name no other host either (it points at our spec).
        inline = "\n".join(assets.inline_scripts)
        assert "SwaggerUIBundle" in inline
        assert not re.search(r"https?://", inline), inline
        assert "'/openapi.json'" in inline


async def test_the_docs_page_turns_off_swaggers_online_validator(live_server: LiveServer) -> None:
    # Left on, Swagger UI shows a badge fetched from validator.swagger.io with our spec's URL
    # whenever the server isn't on localhost: an outside request from every docs visit.
    async with api_client(live_server.url) as http:
        page = (await http.get("/docs")).text
    assert re.search(r'"validatorUrl"\s*:\s*null', page), page


async def test_the_site_root_sends_people_to_the_docs(live_server: LiveServer) -> None:
    async with api_client(live_server.url) as http:
        response = await http.get("/")
    assert response.status_code in (302, 307), response.text
    assert response.headers["location"] == "/docs"
