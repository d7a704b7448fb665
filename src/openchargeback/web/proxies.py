"""The client's real address behind trusted proxies (``server.trusted_proxies``).

:class:`ProxyHeaders` (ASGI middleware, outermost) reads the forwarded header only when
the TCP peer is a trusted proxy: ``X-Forwarded-For`` (with ``X-Forwarded-Proto``) or
RFC 7239 ``Forwarded``, whichever ``server.forwarded_header`` names. The list is read
right to left, skipping trusted hops: each proxy appends the address it received from,
so the first untrusted address is the one no client could have forged. From any other
peer the headers are ignored. The scope's ``client`` and ``scheme`` are then rewritten,
so everything downstream (throttling, audit, logs, redirects) sees the real client;
:func:`client_address` also says which peer the request came through.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
PEER_KEY = "openchargeback.peer"  # ASGI scope extension: the TCP peer before rewriting
_SCHEMES = {"http", "https"}


@dataclass(frozen=True)
class ClientAddress:
    address: str  # the client as far as trusted proxies vouch for it
    peer: str  # who connected to this process
    via_trusted_proxy: bool  # the peer is in server.trusted_proxies (its headers were read)


def client_address(request: Request) -> ClientAddress:
    """The request's real client address, its TCP peer and whether that peer is trusted."""
    address = request.client.host if request.client else "unknown"
    peer = request.scope.get(PEER_KEY, address)
    return ClientAddress(address, peer, request.scope.get(PEER_KEY) is not None)


class TrustedProxies:
    def __init__(self, entries: list[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(ipaddress.ip_network(e, strict=False) for e in entries)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: Address | None) -> bool:
        return address is not None and any(address in n for n in self.networks)


def parse_address(text: str) -> Address | None:
    """An address from a header entry or a peer: ``1.2.3.4``, ``1.2.3.4:80``, ``::1``,
    ``[::1]:80``, ``"[::1]"``; None for anything else (``unknown``, ``_hidden``, junk).
    IPv4-mapped IPv6 (``::ffff:1.2.3.4``) is the IPv4 address."""
    text = text.strip().strip('"').strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def forwarded_elements(values: list[str]) -> list[dict[str, str]]:
    """RFC 7239 ``Forwarded`` header values as a list of hops (``for``, ``proto``, ...),
    nearest client first; quoted strings may hold commas and semicolons."""
    out: list[dict[str, str]] = []
    for value in values:
        element: dict[str, str] = {}
        key, buf, quoted, escaped = None, "", False, False
        for ch in value + ",":
            if quoted:
                if escaped:
                    buf, escaped = buf + ch, False
                elif ch == "\\":
                    escaped = True
                elif ch == '"':
                    quoted = False
                else:
                    buf += ch
            elif ch == '"':
                quoted = True
            elif ch == "=" and key is None:
                key, buf = buf.strip().lower(), ""
            elif ch in ";,":
                if key:
                    element[key] = buf.strip()
                key, buf = None, ""
                if ch == ",":
                    out.append(element)
                    element = {}
            else:
                buf += ch
    return out


def _split(values: list[str]) -> list[str]:
    return [part.strip() for v in values for part in v.split(",") if part.strip()]


def resolve(
    peer: Address | None, headers: dict[str, list[str]], trusted: TrustedProxies, header: str
) -> tuple[Address | None, str | None]:
    """(client address, scheme) from a trusted peer's forwarded header: the first
    untrusted hop from the right; all trusted: the leftmost; an unreadable hop: the
    trusted proxy that wrote it. (None, None): nothing to change."""
    if not trusted.trusts(peer):
        return None, None
    if header == "forwarded":
        hops = forwarded_elements(headers.get("forwarded", []))
        fors = [h.get("for", "") for h in hops]
        protos: list[str | None] = [h.get("proto") for h in hops]
    else:
        fors = _split(headers.get("x-forwarded-for", []))
        xfp = _split(headers.get("x-forwarded-proto", []))
        # aligned with the hops when each proxy appended one; else the nearest proxy's
        nearest = xfp[-1] if xfp else None
        protos = [p for p in xfp] if len(xfp) == len(fors) else [nearest] * len(fors)
        if not fors:
            return None, _scheme(nearest)
    client, index = None, None
    for i in range(len(fors) - 1, -1, -1):
        hop = parse_address(fors[i])
        if hop is None:
            break  # a proxy of ours wrote something that is no address: stop at that proxy
        client, index = hop, i
        if not trusted.trusts(hop):
            break
    if index is None:
        return None, _scheme(protos[-1]) if protos else None
    return client, _scheme(protos[index])


def _scheme(value: str | None) -> str | None:
    value = (value or "").strip().lower()
    return value if value in _SCHEMES else None


class ProxyHeaders:
    """ASGI middleware: the scope's client and scheme from trusted proxies' headers."""

    def __init__(self, app: ASGIApp, trusted_proxies: list[str], header: str) -> None:
        self.app = app
        self.trusted = TrustedProxies(trusted_proxies)
        self.header = header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.trusted and scope.get("client"):
            peer_host = scope["client"][0]
            peer = parse_address(peer_host)
            if self.trusted.trusts(peer):
                headers: dict[str, list[str]] = {}
                for k, v in scope["headers"]:
                    headers.setdefault(k.decode("latin-1").lower(), []).append(v.decode("latin-1"))
                client, scheme = resolve(peer, headers, self.trusted, self.header)
                scope = dict(scope)
                scope[PEER_KEY] = peer_host
                if client is not None:
                    scope["client"] = (str(client), 0)
                if scheme is not None:
                    scope["scheme"] = scheme if scope["type"] == "http" else scheme.replace("http", "ws")
        await self.app(scope, receive, send)
