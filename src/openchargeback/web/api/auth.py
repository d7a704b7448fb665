"""Who calls the API: a personal access token in ``Authorization: Bearer``, never a
cookie. The token's user brings their role and, for a pi or delegate, their scope.
Each token is rate limited (a token bucket per token in this process)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from openchargeback.domain.roles import Permission, TooManyAttempts, allowed, require
from openchargeback.services import portal, tokens
from openchargeback.services.context import Context

RATE_PER_MINUTE = 600  # sustained requests per token
BURST = 60


class RateLimited(TooManyAttempts):
    pass


class Bucket:
    """Token buckets keyed by API token id; thread-safe (routes run in a thread pool)."""

    def __init__(self, per_minute: int = RATE_PER_MINUTE, burst: int = BURST) -> None:
        self.rate, self.burst = per_minute / 60.0, float(burst)
        self._state: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: int) -> float:
        """0 when the request may go, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            level, last = self._state.get(key, (self.burst, now))
            level = min(self.burst, level + (now - last) * self.rate)
            if level < 1:
                self._state[key] = (level, now)
                return (1 - level) / self.rate
            self._state[key] = (level - 1, now)
            return 0.0


@dataclass(frozen=True)
class Caller:
    token: tokens.TokenUser
    scope: portal.Scope
    ctx: Context

    @property
    def username(self) -> str:
        return self.token.username

    @property
    def role(self) -> str:
        return self.token.role

    def need(self, permission: Permission) -> None:
        require(self.username, self.role, permission)

    def reads(self) -> None:
        """Billing data: staff read everything, a pi or delegate their scope."""
        if not (allowed(self.role, Permission.READ) or allowed(self.role, Permission.PORTAL)):
            self.need(Permission.READ)


def _resolve(request: Request) -> Caller:
    ctx = request.app.state.ctx
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    user = tokens.authenticate(ctx, secret.strip() if scheme.lower() == "bearer" else None)
    wait = request.app.state.bucket.take(user.token_id)
    if wait:
        raise RateLimited(f"token {user.token_id}: too many requests; retry in {wait:.1f} s")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        user.require_write()
    scope = portal.scope_for(ctx, user.user_id, user.role)
    return Caller(user, scope, ctx.as_actor(f"api:{user.username}"))


async def caller(request: Request) -> Caller:
    try:
        return await run_in_threadpool(_resolve, request)
    except RateLimited as exc:
        raise HTTPException(429, exc.message, headers={"Retry-After": "1"}) from None


CallerDep = Annotated[Caller, Depends(caller)]
