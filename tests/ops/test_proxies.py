"""Trusted proxies: forwarded headers believed from ``server.trusted_proxies`` only, read
right to left; the real client address reaches the throttle and the audit log."""

from __future__ import annotations

import httpx
import pytest

from openchargeback.services import audit
from openchargeback.web.proxies import TrustedProxies, forwarded_elements, parse_address, resolve

from .conftest import login_form, served

TRUSTED = TrustedProxies(["127.0.0.1", "10.0.0.0/8", "2001:db8::/32"])
PEER = parse_address("127.0.0.1")


def xff(value: str, proto: str | None = None) -> dict[str, list[str]]:
    h = {"x-forwarded-for": [value]}
    if proto is not None:
        h["x-forwarded-proto"] = [proto]
    return h


@pytest.mark.parametrize(
    ("header", "client"),
    [
        ("198.51.100.7", "198.51.100.7"),
        # the client's own (forged) entries are left of what our proxies appended
        ("1.1.1.1, 198.51.100.7", "198.51.100.7"),
        ("1.1.1.1, 198.51.100.7, 10.1.2.3", "198.51.100.7"),  # a second trusted hop skipped
        ("1.1.1.1,198.51.100.7 , 10.1.2.3,10.0.0.9", "198.51.100.7"),
        ("10.1.2.3, 10.0.0.9", "10.1.2.3"),  # every hop trusted: the farthest
        ("198.51.100.7:4711", "198.51.100.7"),
        ("[2001:db9::1]:80, 2001:db8::5", "2001:db9::1"),
        ("garbage, 10.1.2.3", "10.1.2.3"),  # an unreadable hop: the proxy that wrote it
        ("unknown", None),  # nothing readable: the peer stays
        ("::ffff:198.51.100.7", "198.51.100.7"),
    ],
)
def test_x_forwarded_for_right_to_left(header, client):
    got, _ = resolve(PEER, xff(header), TRUSTED, "x-forwarded-for")
    assert (str(got) if got else None) == client


def test_headers_ignored_from_an_untrusted_peer():
    untrusted = parse_address("192.0.2.50")
    assert resolve(untrusted, xff("198.51.100.7", "https"), TRUSTED, "x-forwarded-for") == (None, None)
    fwd = {"forwarded": ["for=198.51.100.7;proto=https"]}
    assert resolve(untrusted, fwd, TRUSTED, "forwarded") == (None, None)


def test_scheme_from_the_proxy():
    assert resolve(PEER, xff("198.51.100.7", "https"), TRUSTED, "x-forwarded-for")[1] == "https"
    # one value per hop: the client's hop's; else the nearest proxy's
    assert (
        resolve(PEER, xff("198.51.100.7, 10.0.0.1", "https, http"), TRUSTED, "x-forwarded-for")[1] == "https"
    )
    assert resolve(PEER, xff("198.51.100.7, 10.0.0.1", "https"), TRUSTED, "x-forwarded-for")[1] == "https"
    assert resolve(PEER, {"x-forwarded-proto": ["https"]}, TRUSTED, "x-forwarded-for") == (None, "https")
    assert resolve(PEER, xff("198.51.100.7", "gopher"), TRUSTED, "x-forwarded-for")[1] is None


def test_forwarded_header():
    value = 'for=1.1.1.1;proto=http, for="[2001:db9::17]:4711";proto=https;by=10.0.0.1, for=10.2.3.4'
    got, scheme = resolve(PEER, {"forwarded": [value]}, TRUSTED, "forwarded")
    assert (str(got), scheme) == ("2001:db9::17", "https")
    # the other header is the client's own when the proxy writes Forwarded: ignored
    both = {"forwarded": ["for=198.51.100.7"], "x-forwarded-for": ["6.6.6.6"]}
    assert str(resolve(PEER, both, TRUSTED, "forwarded")[0]) == "198.51.100.7"
    assert str(resolve(PEER, both, TRUSTED, "x-forwarded-for")[0]) == "6.6.6.6"
    assert forwarded_elements(['for="a,b;c";proto=https', "For=x"]) == [
        {"for": "a,b;c", "proto": "https"},
        {"for": "x"},
    ]


def _failed_login(base: str, headers: dict[str, str]) -> int:
    with httpx.Client(base_url=base, timeout=30) as client:
        token = login_form(client)
        r = client.post(
            "/login",
            data={"username": "nobody", "password": "wrong password", "csrf_token": token, "next": "/"},
            headers=headers,
        )
        return r.status_code


@pytest.mark.slow  # a served process each (about 5 s alone, 15 s on a busy machine)
@pytest.mark.parametrize(
    ("trusted", "header", "sent", "expected"),
    [
        (["127.0.0.1"], "x-forwarded-for", {"X-Forwarded-For": "203.0.113.9, 198.51.100.7"}, "198.51.100.7"),
        (["127.0.0.0/8"], "forwarded", {"Forwarded": 'for="198.51.100.8:1234"'}, "198.51.100.8"),
        # 127.0.0.1 is not a trusted proxy: its headers are the client's own, ignored
        (["10.0.0.0/8"], "x-forwarded-for", {"X-Forwarded-For": "198.51.100.7"}, "127.0.0.1"),
        ([], "x-forwarded-for", {"X-Forwarded-For": "198.51.100.7"}, "127.0.0.1"),
    ],
)
def test_served_audit_and_throttle_see_the_real_client(
    sqlite_url, ops_config, make_ctx, trusted, header, sent, expected
):
    config = ops_config(sqlite_url, server={"trusted_proxies": trusted, "forwarded_header": header})
    with served(config) as (base, _proc):
        assert _failed_login(base, sent) == 401
    ctx = make_ctx(sqlite_url)
    entries = audit.list_entries(ctx, action="login.failure").entries
    assert [e.ip for e in entries] == [expected]
