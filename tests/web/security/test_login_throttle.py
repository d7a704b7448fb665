"""The login throttle slows guessing without locking the owner out (issue 17, item 2),
and password hashing is bounded (item 9). Run on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from openchargeback.domain.roles import NotAuthenticated, TooManyAttempts
from openchargeback.services import auth, users

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def site(ctx):
    """(ctx on a movable clock, the clock) with users admin and viewer."""
    clock = Clock()
    moved = replace(ctx, clock=clock)
    users.add_user(moved, "admin", PASSWORD, "admin")
    users.add_user(moved, "viewer", PASSWORD, "viewer")
    return moved, clock


def attempt(ctx, name: str, password: str, ip: str) -> str:
    try:
        auth.login(ctx, name, password, ip=ip)
    except TooManyAttempts:
        return "refused"
    except NotAuthenticated:
        return "failed"
    return "ok"


def failures(ctx, key: str) -> int:
    from openchargeback.storage import users as repo

    with ctx.read() as conn:
        row = repo.throttle_state(conn, key)
    return 0 if row is None else row.failures


def test_made_up_names_from_one_address_do_not_lock_out_the_owner(site):
    ctx, clock = site
    outcomes = []
    for i in range(20):  # an attacker's burst, a request a second
        outcomes.append(attempt(ctx, f"nobody{i}", "guess-guess-guess", "203.0.113.9"))
        clock.tick(1)
    real = outcomes.count("failed")
    assert real >= auth.FREE_PER_ADDRESS and "refused" in outcomes  # slowed down
    assert failures(ctx, "ip:203.0.113.9") == real  # refused attempts were not counted
    # the owner from elsewhere is not concerned; from the same address after the delay
    assert attempt(ctx, "admin", PASSWORD, "198.51.100.4") == "ok"
    clock.tick(auth.MAX_DELAY.total_seconds())
    assert attempt(ctx, "admin", PASSWORD, "203.0.113.9") == "ok"


def test_a_steady_trickle_of_bad_passwords_never_locks_the_account(site):
    ctx, clock = site
    waits = []
    for minute in range(30):  # an attacker tries the viewer's account every 10 s for 30 min
        for _ in range(6):
            attempt(ctx, "viewer", "guess-guess-guess", "203.0.113.9")
            clock.tick(10)
        if minute % 7 == 3:  # now and then the owner comes, at once or after the wait shown
            try:
                auth.login(ctx, "viewer", PASSWORD, ip="198.51.100.4")
                waits.append(0)
            except TooManyAttempts as exc:
                wait = int(exc.message.split("try again in ")[1].split()[0])
                assert wait <= auth.MAX_DELAY.total_seconds()
                clock.tick(wait)
                assert attempt(ctx, "viewer", PASSWORD, "198.51.100.4") == "ok"
                waits.append(wait)
    assert len(waits) == 4 and max(waits) <= 60
    # 180 attempts were made; only those checked count (at most one a minute once slowed)
    assert failures(ctx, "user:viewer") <= 30 + auth.FREE_PER_USER


def test_the_delay_grows_and_the_right_password_passes_after_it(site):
    ctx, clock = site
    for _ in range(auth.FREE_PER_USER):
        assert attempt(ctx, "viewer", "bad-bad-bad", "10.0.0.1") == "failed"
    assert attempt(ctx, "viewer", "bad-bad-bad", "10.0.0.1") == "failed"  # the 4th: delay 1 s now
    assert attempt(ctx, "viewer", PASSWORD, "10.0.0.1") == "refused"
    clock.tick(1)
    assert attempt(ctx, "viewer", "bad-bad-bad", "10.0.0.1") == "failed"  # 5th: 2 s
    clock.tick(1)
    assert attempt(ctx, "viewer", PASSWORD, "10.0.0.1") == "refused"
    clock.tick(1)
    assert attempt(ctx, "viewer", PASSWORD, "10.0.0.1") == "ok"
    assert failures(ctx, "user:viewer") == 0  # a success forgets the user name's failures
    assert failures(ctx, "ip:10.0.0.1") == 5  # but not the address's


def test_concurrent_guesses_are_each_checked_or_refused_and_counted_once(site):
    ctx, _ = site
    results: list[str] = []
    start = threading.Barrier(8)

    def guess() -> None:
        start.wait()
        results.append(attempt(ctx, "viewer", "bad-bad-bad", "10.0.0.2"))

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and set(results) <= {"failed", "refused"}
    assert failures(ctx, "user:viewer") == results.count("failed")  # no lost update
    assert results.count("failed") <= auth.FREE_PER_USER + 1  # the clock stands still: delays hold


def test_hashing_is_bounded_and_the_excess_is_refused_not_queued_forever(site, monkeypatch):
    ctx, _ = site
    running, peak, lock = 0, 0, threading.Lock()
    real = users._hasher()  # the cheap one

    class Counting:
        def verify(self, h, p):
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
            try:
                time.sleep(0.05)
                return real.verify(h, p)
            finally:
                with lock:
                    running -= 1

        def hash(self, p):
            return real.hash(p)

    monkeypatch.setattr(users, "_hasher", lambda: Counting())
    out: list[str] = []

    def one(i: int) -> None:
        try:
            out.append(attempt(ctx, f"u{i}", "x", f"10.1.0.{i}"))
        except Exception as exc:  # shown by the assertion below
            out.append(repr(exc))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == ["failed"] * 12 and 1 <= peak <= users.HASHING_AT_ONCE

    # every slot taken: the next check waits HASHING_WAIT_SECONDS, then is refused (429),
    # and the attempt leaves no trace in the throttle
    monkeypatch.setattr(users, "HASHING_WAIT_SECONDS", 0.2)
    for _ in range(users.HASHING_AT_ONCE):
        users._hashing.acquire()
    try:
        with pytest.raises(TooManyAttempts, match="too many logins at this moment"):
            auth.login(ctx, "admin", PASSWORD, ip="10.0.0.3")
    finally:
        for _ in range(users.HASHING_AT_ONCE):
            users._hashing.release()
    assert attempt(ctx, "admin", PASSWORD, "10.0.0.3") == "ok"  # not held by the refused one
