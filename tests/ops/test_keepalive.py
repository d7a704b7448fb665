"""`serve` answers a kept-alive connection at once: responses are not held back by
Nagle's algorithm waiting for the client's delayed ACK (about 40 ms a request, which
every browser and API client with keep-alive paid)."""

from __future__ import annotations

import time

import httpx
import pytest

from .conftest import served


@pytest.mark.parametrize("workers", [1, 2])
def test_kept_alive_requests_are_not_delayed(ops_config, tmp_path, workers):
    config = ops_config(f"sqlite:///{tmp_path / 'billing.db'}")
    seconds = []
    with (
        served(config, args=("--workers", str(workers))) as (base, _proc),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        client.get("/healthz")  # the connection is opened here
        for _ in range(15):
            t0 = time.perf_counter()
            assert client.get("/healthz").status_code == 200
            seconds.append(time.perf_counter() - t0)
    # The delay is a timer, not CPU: the fastest of 15 shows it whatever the machine's load.
    assert min(seconds) < 0.025, [round(s * 1000, 1) for s in seconds]
