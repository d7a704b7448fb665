"""Every request observed: one log line (method, route template, status, duration, user,
client, request id) and, when metrics are on, its count and latency by route.

The request id is the proxy's ``X-Request-ID`` when it is a plausible id, else a new
one; it is echoed in the response and carried by every line logged while the request
is served. Routes are logged as their templates (``/charges/{charge_id}``), never with
their values or query strings; an address no route serves is logged as ``unmatched``.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openchargeback import logs

log = logging.getLogger("openchargeback.request")
errors = logging.getLogger("openchargeback.error")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
UNMATCHED = "unmatched"

# (method, route, status, seconds) -> None: the metrics' hook, when they are on
Observer = Callable[[str, str, int, float], None]


def route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


def user_of(scope: Scope) -> str | None:
    session = (scope.get("state") or {}).get("session")
    return getattr(session, "username", None)


class RequestObserver:
    def __init__(self, app: ASGIApp, observe: Observer | None = None) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = sent if _REQUEST_ID.match(sent) else uuid.uuid4().hex
        token = logs.request_id.set(rid)
        start = time.perf_counter()
        status = 500  # unless a response starts

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())],
                }
            await send(message)

        failed = False
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            failed = True
            raise
        finally:
            seconds = time.perf_counter() - start
            method, route = scope["method"], route_of(scope)
            fields = {
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 1),
                "user": user_of(scope),
                "client": (scope.get("client") or ("unknown",))[0],
                "request_id": rid,
            }
            if failed:  # the error with its context; the visitor gets a plain error page
                errors.error("%s %s failed", method, route, extra=fields, exc_info=True)
            else:
                level = logging.WARNING if status >= 500 else logging.INFO
                log.log(level, "%s %s %s", method, route, status, extra=fields)
            if self.observe is not None:
                self.observe(method, route, status, seconds)
            logs.request_id.reset(token)
