"""Operations fixtures: ``openchargeback serve`` as a real process on a free port."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

SECRET = "ops-test-secret-5d1c9e8b7a6f4e3d2c1b0a9f8e7d6c5b"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def ops_config(tmp_path):
    """ops_config(url, **settings) -> a config file for a served instance (dev mode, so
    that cookies travel over plain http to 127.0.0.1)."""

    def write(url: str, **extra) -> Path:
        data = {"database": {"url": url}, "sources": [{"name": "aws"}], "dev_mode": True}
        data["server"] = {"secret_key": SECRET, "data_dir": str(tmp_path / "data")}
        for k, v in extra.items():
            data[k] = {**data[k], **v} if isinstance(v, dict) and isinstance(data.get(k), dict) else v
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return write


@contextmanager
def served(config: Path, *, env: dict[str, str] | None = None, args: tuple[str, ...] = ()):
    """``openchargeback serve`` in its own process: yields (base URL, Popen); stderr goes
    to a file beside the config (read it with ``Path(proc.args_log)``)."""
    port = free_port()
    log = config.with_name(f"serve-{port}.log")
    cmd = [sys.executable, "-m", "openchargeback", "serve", "-c", str(config), "--port", str(port), *args]
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            cmd,
            stdout=err,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    proc.log_path = log  # type: ignore[attr-defined]
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"serve did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield base, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def login_form(client: httpx.Client) -> str:
    page = client.get("/login")
    assert page.status_code == 200, page.text
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
