"""Anonymous requests are refused before their body is read; bodies and forms are
limited (issue 17, item 1)."""

from __future__ import annotations

import socket
import threading
import time

from ..conftest import csrf_of, login
from .conftest import client


class CountingReads:
    """ASGI wrapper: how many body bytes the app pulled from the server."""

    def __init__(self, app):
        self.app, self.read = app, 0

    async def __call__(self, scope, receive, send):
        async def counted():
            message = await receive()
            self.read += len(message.get("body", b""))
            return message

        await self.app(scope, counted, send)


def test_anonymous_post_is_refused_before_its_body_is_read(app):
    counting = CountingReads(app)
    c = client(counting)
    fields = "&".join(f"f{i}=" + "x" * 10_000 for i in range(90))  # 900 KB of form
    r = c.post("/logout", content=fields, headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 401 and counting.read == 0
    files = {"file": ("big.csv", b"x" * 3_000_000, "text/csv")}
    r = c.post("/registry/pis/import", files=files, data={"csrf_token": "whatever"})
    assert r.status_code == 401 and counting.read == 0
    assert "strict-transport-security" in r.headers and "content-security-policy" in r.headers


def test_a_body_over_the_limit_is_refused_with_413(app):
    from openchargeback.web import security

    counting = CountingReads(app)
    c = client(counting)
    login(c, "admin")
    token = csrf_of(c)
    big = b"period=2025-01&csrf_token=" + token.encode() + b"&pad=" + b"x" * (2 * security.FORM_BODY_LIMIT)
    r = c.post("/period", content=big, headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413 and "content-security-policy" in r.headers
    assert counting.read <= len(big)  # (a declared Content-Length is refused before reading)
    r = c.post(
        "/period",
        data={"period": "2025-01", "csrf_token": token, **{f"f{i}": "1" for i in range(400)}},
        follow_redirects=False,
    )
    assert r.status_code == 400 and "fields" in r.text.lower()  # too many fields
    r = c.post(
        "/period",
        data={"period": "2025-01", "csrf_token": token, "pad": "x" * (300 * 1024)},
        follow_redirects=False,
    )
    assert r.status_code == 400  # one text field over max_part_size
    r = c.post("/period", data={"period": "2025-01", "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303  # an ordinary form still works


def test_a_cross_site_post_is_refused_before_its_body(app):
    counting = CountingReads(app)
    c = client(counting)
    login(c, "admin")
    token = csrf_of(c)
    counting.read = 0
    r = c.post(
        "/period",
        data={"period": "2025-01", "csrf_token": token},
        headers={"Sec-Fetch-Site": "cross-site"},
        follow_redirects=False,
    )
    assert r.status_code == 403 and counting.read == 0


def _serve(app):
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started
    return srv, thread, port


def _chunked_post(port: int, path: str, chunk: bytes, chunks: int) -> tuple[int, int]:
    """POST a chunked body of ``chunks`` chunks; stop sending when the answer comes.
    (status, chunks sent before the answer)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n\r\n".encode()
    )
    s.setblocking(False)
    sent, answer = 0, b""
    try:
        for n in range(1, chunks + 1):
            sent = n
            try:
                s.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                time.sleep(0.05)
            time.sleep(0.002)
            try:
                answer += s.recv(65536)
            except BlockingIOError:
                continue
            if b"\r\n" in answer:
                break
        s.setblocking(True)
        while b"\r\n" not in answer:
            answer += s.recv(65536)
    finally:
        s.close()
    return int(answer.split(b" ", 2)[1]), sent


def test_chunked_bodies_are_cut_off_early_on_a_real_server(app):
    srv, thread, port = _serve(app)
    try:
        # anonymous: 401 after the first chunk of what would be 256 MiB
        status, sent = _chunked_post(port, "/logout", b"x" * 65536, 4096)
        assert status == 401 and sent < 200
        # the login form may be read anonymously, but only its first 16 KiB
        status, sent = _chunked_post(port, "/login", b"a=" + b"x" * 4094, 4096)
        assert status == 413 and sent < 200
    finally:
        srv.should_exit = True
        thread.join(10)


def test_uploads_have_the_upload_limit_not_the_form_limit(app):
    from openchargeback.web import security

    c = client(app)
    login(c, "admin")
    token = csrf_of(c)
    body = b"x" * (2 * security.FORM_BODY_LIMIT)  # over the form limit, under max_upload_mb (5)
    r = c.post(
        "/imports/upload?filename=aws_2025-01.csv&source=aws",
        content=body,
        headers={"X-CSRF-Token": token, "content-type": "application/octet-stream"},
    )
    assert r.status_code != 413, r.text[:300]
    r = c.post(
        "/imports/upload?filename=aws_2025-01.csv&source=aws",
        content=b"x" * (6 * 1024 * 1024),
        headers={"X-CSRF-Token": token, "content-type": "application/octet-stream"},
    )
    assert r.status_code == 413
    for path in ("/imports/upload", "/registry/pis/import", "/api/v1/imports"):
        assert security.UPLOAD_PATHS.match(path)
    assert not security.UPLOAD_PATHS.match("/api/v1/imports/x")
