"""Web server memory under the abuse of issue 17's penetration test: what an anonymous
visitor's large form, and a burst of concurrent bad logins, cost a real server.

Starts `uvicorn` on a temporary instance (SQLite, one admin user) in a child process,
then measures its resident memory (RSS):

1. before anything;
2. after an anonymous ``POST /logout`` announcing 900 form fields of 1 MB (the server
   should answer 401 having read nothing, so this costs nothing);
3. at its peak during 19 concurrent logins with a wrong password (Argon2id takes 64 MiB
   each; at most users.HASHING_AT_ONCE run at once).

    python bench/web_abuse.py
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import psutil

T = TypeVar("T")
SERVER = """
import sys, uvicorn
from openchargeback.config import Settings
from openchargeback.services import users
from openchargeback.services.context import build_context
from openchargeback.web.app import create_app
tmp, port = sys.argv[1], int(sys.argv[2])
settings = Settings.model_validate({
    "database": {"url": f"sqlite:///{tmp}/b.db"},
    "server": {"secret_key": "bench-Zq4v9Lr2Xw7Tn5Kp8Hs3Jd6Fg1Mb0Yc", "data_dir": f"{tmp}/data"},
    "dev_mode": True,  # plain http: cookies without Secure
})
ctx = build_context(settings, actor="bench")
users.add_user(ctx, "admin", "correct horse battery", "admin")
ctx.engine.dispose()
uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="error")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(proc: psutil.Process) -> float:
    return proc.memory_info().rss / 2**20


def big_anonymous_form(port: int) -> tuple[int, int]:
    """(status, MB the server took) of a 900 MB urlencoded POST /logout: the fields are
    sent while the server reads them; no answer yet and a full pipe for 10 s means it
    stopped reading."""
    field = b"&f=" + b"x" * (2**20 - 3)
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(
        f"POST /logout HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {900 * len(field)}\r\n\r\n".encode()
    )
    sent = 0
    for _ in range(900):
        if select.select([s], [], [], 0)[0]:
            break  # the answer came
        try:
            s.sendall(field)
        except OSError:  # timed out (not read) or closed
            break
        sent += len(field)
    s.settimeout(600)  # a server that reads it all takes a while to answer
    answer = b""
    while b"\r\n" not in answer:
        chunk = s.recv(4096)
        if not chunk:
            break
        answer += chunk
    s.close()
    return int(answer.split(b" ", 2)[1]), sent // 2**20


def bad_logins(base: str, n: int) -> list[int]:
    codes: list[int] = []

    def one(i: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as c:
            page = c.get("/login").text
            token = page.split('name="csrf_token" value="')[1].split('"')[0]
            r = c.post("/login", data={"username": f"user{i}", "password": "wrong", "csrf_token": token})
            codes.append(r.status_code)  # 401 checked and wrong; 429 throttled or hashing queue full

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


def peak_during(proc: psutil.Process, work: Callable[[], T]) -> tuple[float, T]:
    """(peak RSS in MB of the server while ``work`` runs, what it returned)."""
    peak, done = rss_mb(proc), threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mb(proc))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        return_value = work()
    finally:
        done.set()
        sampler.join()
    return peak, return_value


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        child = subprocess.Popen([sys.executable, "-c", SERVER, tmp, str(port)], env=os.environ.copy())
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    httpx.get(base + "/login", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            proc = psutil.Process(child.pid)
            print(f"idle server: {rss_mb(proc):.0f} MB RSS")
            peak, (status, taken) = peak_during(proc, lambda: big_anonymous_form(port))
            print(f"anonymous POST /logout, 900 x 1 MB: {status} after {taken} MB; peak {peak:.0f} MB RSS")
            start = time.monotonic()
            peak, codes = peak_during(proc, lambda: bad_logins(base, 19))
            print(
                f"19 concurrent bad logins: {dict(Counter(codes))} in {time.monotonic() - start:.1f} s; "
                f"peak {peak:.0f} MB RSS"
            )
        finally:
            child.terminate()
            child.wait(10)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    main()
