"""`openchargeback serve` in a subprocess on a free local port, for the web benchmarks."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(cfg: Path, timeout: float = 60) -> Iterator[str]:
    """Start the server on ``cfg``, wait until it answers, yield its base URL, stop it."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "openchargeback", "serve", "-c", str(cfg), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(f"{base}/login", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"server did not start: {server.stderr.read().decode()}") from None
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(10)
