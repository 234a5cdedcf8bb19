"""Keeping webhooks away from the network Reclaim runs in (server-side request forgery).

A webhook URL is chosen by whoever holds an API key; without this check it could point at the
cloud metadata service, a database port or an admin page on the private network, and the
delivery log would echo back what answered. Every address a host resolves to must be public,
checked when the endpoint is registered and again right before each send.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from reclaim.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses it resolves to, as text ("10.0.0.5", "fe80::1%eth0").
Resolver = Callable[[str, int], Awaitable[list[str]]]

SCHEMES = {"http": 80, "https": 443}
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
HINT = (
    "webhooks only go to public addresses (the operator can allow private ones with "
    "RECLAIM_WEBHOOK_ALLOW_PRIVATE)."
)


class Refused(ValidationFailed):
    """The URL is malformed or points somewhere webhooks may not go."""

    code = "webhook_url_refused"


class Unresolvable(ValidationFailed):
    """The host has no address now; at send time that is worth a retry."""

    code = "webhook_host_unresolvable"


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL and the address it is to be reached at."""

    url: httpx.URL
    address: IPAddress
    # False when the URL names an address itself, so there was nothing to resolve.
    resolved: bool

    @property
    def host(self) -> str:
        return self.url.raw_host.decode("ascii")


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries on to (mapped, 6to4, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def non_public_kind(address: IPAddress) -> str | None:
    """Why an address is off limits ("loopback", "private", …), or None if it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return non_public_kind(embedded)
        if address.is_site_local:
            return "site-local"
    checks = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("shared (carrier-grade NAT)", address in SHARED_ADDRESS_SPACE),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
    )
    for kind, applies in checks:
        if applies:
            return kind
    # Whatever the named ranges miss (documentation and benchmarking blocks…) is not global.
    return None if address.is_global else "non-public"


def _parse(url: str) -> tuple[httpx.URL, int]:
    """The URL as the HTTP client will read it (one parser, so none can disagree) and its port."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise Refused(f"{url!r} is not a valid URL ({exc}).") from None
    if parsed.scheme not in SCHEMES:
        raise Refused("Give an http:// or https:// URL; webhooks are sent over HTTP(S).")
    if parsed.userinfo:
        raise Refused("Leave user name and password out of the URL; the signature proves us.")
    if not parsed.raw_host:
        raise Refused("The URL needs a host name.")
    port = parsed.port if parsed.port is not None else SCHEMES[parsed.scheme]
    if not 1 <= port <= 65535:
        raise Refused(f"Port {port} is out of range; use 1 to 65535.")
    return parsed, port


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def check_url(
    url: str, *, allow_private: bool, resolver: Resolver = system_resolver
) -> Target:
    """Parse ``url`` and resolve its host; :class:`Refused` unless every address is public.

    Refusing when *any* address is private matters: a name with one public and one private
    address would otherwise reach the private one whenever the client happened to pick it.
    """
    parsed, port = _parse(url)
    host = parsed.raw_host.decode("ascii")
    literal = _literal(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            found = await resolver(host, port)
        except UnicodeError:
            # The resolver can't even encode the name: an empty part ("a..b") or one over 63
            # characters. No lookup will ever find it, so it is refused, not retried.
            raise Refused(
                f"{host!r} is not a valid host name: each part between dots must have 1 to 63 "
                "characters; check the URL."
            ) from None
        except OSError as exc:
            raise Unresolvable(
                f"The host {host} could not be found ({exc}); check the URL."
            ) from None
        addresses = [ipaddress.ip_address(text) for text in dict.fromkeys(found)]
        if not addresses:
            raise Unresolvable(f"The host {host} has no address; check the URL.")
    if not allow_private:
        for address in addresses:
            kind = non_public_kind(address)
            if kind is None:
                continue
            if literal is not None:
                raise Refused(f"{host} is a {kind} address; {HINT}", address=str(address))
            raise Refused(
                f"{host} resolves to a {kind} address ({address}); {HINT}", address=str(address)
            )
    return Target(parsed, addresses[0], resolved=literal is None)
