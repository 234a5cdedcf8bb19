"""Which webhook URLs may be called: public addresses only, whatever the name resolves to."""

from __future__ import annotations

import socket

import pytest

from reclaim.notifications.ssrf import Refused, Unresolvable, check_url, system_resolver


class FakeResolver:
    """DNS answers from a table; a name it doesn't know does not exist."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


PUBLIC = "93.184.215.14"

REFUSED_ADDRESSES = [
    ("127.0.0.1", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.5", "private"),
    ("172.16.3.4", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.10", "private"),
    ("169.254.169.254", "link-local"),
    ("100.64.0.1", "shared"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.1.2.3", "private"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("fe80::1", "link-local"),
    ("fec0::1", "site-local"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("2002:7f00:1::1", "loopback"),  # 6to4 wrapping 127.0.0.1
    ("64:ff9b::a00:1", "private"),  # NAT64 wrapping 10.0.0.1
    ("192.0.2.7", "private"),  # documentation range
]


@pytest.mark.parametrize(("address", "kind"), REFUSED_ADDRESSES)
async def test_a_name_resolving_to_a_non_public_address_is_refused(address: str, kind: str) -> None:
    resolver = FakeResolver({"hooks.example.com": [address]})

    with pytest.raises(Refused) as refused:
        await check_url("https://hooks.example.com/in", allow_private=False, resolver=resolver)

    assert f"resolves to a {kind}" in refused.value.message
    assert "webhooks only go to public addresses" in refused.value.message


@pytest.mark.parametrize(("address", "kind"), REFUSED_ADDRESSES)
async def test_a_non_public_address_in_the_url_is_refused(address: str, kind: str) -> None:
    host = f"[{address}]" if ":" in address else address
    resolver = FakeResolver({})

    with pytest.raises(Refused) as refused:
        await check_url(f"http://{host}:8080/hook", allow_private=False, resolver=resolver)

    assert kind in refused.value.message
    assert resolver.asked == []


async def test_the_message_names_the_host_and_the_address() -> None:
    resolver = FakeResolver({"internal.example.com": ["10.0.0.5"]})

    with pytest.raises(Refused) as refused:
        await check_url("https://internal.example.com/", allow_private=False, resolver=resolver)

    assert refused.value.message.startswith(
        "internal.example.com resolves to a private address (10.0.0.5); "
        "webhooks only go to public addresses"
    )


async def test_one_private_address_among_public_ones_is_enough_to_refuse() -> None:
    resolver = FakeResolver({"mixed.example.com": [PUBLIC, "2606:2800:21f:cb07::1", "10.0.0.5"]})

    with pytest.raises(Refused, match=r"10\.0\.0\.5"):
        await check_url("https://mixed.example.com/", allow_private=False, resolver=resolver)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/in",
        "http://hooks.example.com:8443/in?shop=1",
        f"https://{PUBLIC}/hook",
        "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/hook",
    ],
)
async def test_public_addresses_are_allowed(url: str) -> None:
    resolver = FakeResolver({"hooks.example.com": [PUBLIC, "2606:2800:21f:cb07::1"]})

    target = await check_url(url, allow_private=False, resolver=resolver)

    assert target.url.scheme in {"http", "https"}


async def test_a_name_is_resolved_with_the_urls_port() -> None:
    resolver = FakeResolver({"hooks.example.com": [PUBLIC]})

    target = await check_url(
        "http://hooks.example.com:8443/in", allow_private=False, resolver=resolver
    )

    assert resolver.asked == [("hooks.example.com", 8443)]
    assert str(target.address) == PUBLIC and target.resolved


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("ftp://hooks.example.com/in", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("gopher://hooks.example.com/", "http:// or https://"),
        ("hooks.example.com/in", "http:// or https://"),
        ("https://user:pass@hooks.example.com/in", "user name and password"),
        ("https:///in", "host"),
        ("https://hooks.example.com:0/in", "Port 0"),
        ("https://hooks.example.com:70000/in", "Port 70000"),
    ],
)
async def test_malformed_urls_are_refused_before_any_lookup(url: str, complaint: str) -> None:
    resolver = FakeResolver({"hooks.example.com": [PUBLIC]})

    with pytest.raises(Refused, match=complaint):
        await check_url(url, allow_private=True, resolver=resolver)

    assert resolver.asked == []


@pytest.mark.parametrize(
    "url",
    [
        "http://a..b.com/",
        "http://.example.com/",
        f"https://{'a' * 64}.example.com/hook",
    ],
    ids=["empty-label", "leading-dot", "64-character-label"],
)
async def test_a_host_name_with_an_empty_or_too_long_part_is_refused(url: str) -> None:
    # The system resolver itself fails on these names before any lookup, with a UnicodeError.
    with pytest.raises(Refused, match="is not a valid host name"):
        await check_url(url, allow_private=False, resolver=system_resolver)


async def test_a_host_that_does_not_resolve_is_unresolvable() -> None:
    with pytest.raises(Unresolvable, match="could not be found"):
        await check_url(
            "https://nowhere.example.com/", allow_private=False, resolver=FakeResolver({})
        )


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "10.0.0.5", "169.254.169.254"])
async def test_allow_private_lets_private_and_loopback_targets_through(address: str) -> None:
    resolver = FakeResolver({"localhost": [address]})

    target = await check_url("http://localhost:9000/hook", allow_private=True, resolver=resolver)

    assert str(target.address) == address
