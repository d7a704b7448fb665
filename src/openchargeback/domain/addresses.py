"""Email addresses checked before they reach a message or an SMTP envelope: exactly one
address (no display-name tricks, no list, no group), parsed by the standard library's
RFC 5322 parser, no CR or LF, and, when ``allowed_domains`` is given, in one of those
domains (or a subdomain of one).

Pure standard library: the review rules (``pi_not_email`` at import) and the delivery
package (config, message recipients, SMTP envelope) apply the same rules."""

from __future__ import annotations

from collections.abc import Iterable
from email.errors import HeaderParseError
from email.headerregistry import Address, AddressHeader
from functools import lru_cache

_CONTROL = {chr(c) for c in range(32)} | {"\x7f"}


class BadAddress(ValueError):
    """An address that cannot be a recipient; the message says why."""


def parse_address(value: object, allowed_domains: Iterable[str] = ()) -> str:
    """The one address in ``value`` as ``local@domain`` or BadAddress."""
    if not isinstance(value, str) or not value.strip():
        raise BadAddress("no address")
    text = value.strip()
    if any(ch in _CONTROL for ch in text):
        raise BadAddress(f"{text!r} contains a control character (CR, LF, tab...)")
    try:
        parsed: dict[str, object] = {}
        AddressHeader.parse(text, parsed)
    except (HeaderParseError, IndexError, ValueError) as exc:
        raise BadAddress(f"{text!r} is not an address: {exc}") from None
    defects = parsed.get("defects") or []
    groups = parsed.get("groups") or ()
    addresses: list[Address] = [a for g in groups for a in g.addresses]  # type: ignore[attr-defined]
    if defects:
        raise BadAddress(f"{text!r} is not a valid address: {defects[0]}")  # type: ignore[index]
    if len(addresses) != 1 or any(g.display_name for g in groups):  # type: ignore[attr-defined]
        raise BadAddress(f"{text!r} must be exactly one address, found {len(addresses)}")
    (addr,) = addresses
    if addr.display_name:
        raise BadAddress(f"{text!r} must be a bare address, without a display name")
    if not addr.username or not addr.domain or "." not in addr.domain:
        raise BadAddress(f"{text!r} is not a full address (user@domain.tld)")
    if addr.addr_spec != text:
        raise BadAddress(f"{text!r} is not a plain address (read as {addr.addr_spec!r})")
    domain = addr.domain.lower()
    allowed = [d.lower().lstrip("@.") for d in allowed_domains]
    if allowed and not any(domain == d or domain.endswith("." + d) for d in allowed):
        raise BadAddress(f"{text!r} is outside the allowed domains ({', '.join(allowed)})")
    return addr.addr_spec


def is_address(value: object, allowed_domains: Iterable[str] = ()) -> bool:
    if not isinstance(value, str):
        return False
    return _is_address(value, tuple(allowed_domains))


@lru_cache(maxsize=65_536)
def _is_address(value: str, allowed_domains: tuple[str, ...]) -> bool:
    """An import asks once per distinct PI, project and fund: the same few hundred PIs
    thousands of times (a parse is 50 microseconds)."""
    try:
        parse_address(value, allowed_domains)
    except BadAddress:
        return False
    return True
