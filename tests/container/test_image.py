"""The container image (issue 20), built offline from the wheelhouse on a local Debian
base: it starts with no configuration on a named volume and answers /healthz as a
non-root user; an admin added through `exec` logs in over the published port; an import
survives the container; `worker` and any CLI command run from the same image; against
the host's PostgreSQL `db check` passes; a missing configuration or a database that never
answers ends the container with one message and exit status 1."""

from __future__ import annotations

import re
import socket
import time

import httpx
import pytest

from conftest import INPUTS

pytestmark = pytest.mark.slow  # an image build, containers
PASSWORD = "container admin password 7x"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(runtime, name: str, port: int, timeout: float = 120) -> float:
    """Seconds until /healthz answers 200 on the published port."""
    t0 = time.monotonic()
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return time.monotonic() - t0
        except httpx.HTTPError:
            pass
        state = runtime.run("inspect", "-f", "{{.State.Status}}", name, check=False).stdout.strip()
        assert state == "running", runtime.run("logs", name, check=False).stderr[-3000:]
        assert time.monotonic() - t0 < timeout, "no /healthz in time"
        time.sleep(0.2)


def _start(runtime, image, name: str, volume: str, port: int, *args: str) -> None:
    runtime.run(
        "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8000", "-v", f"{volume}:/data", image, *args
    )


def _login(port: int, username: str, password: str) -> httpx.Response:
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=30) as c:
        page = c.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        # outside dev mode the cookies are Secure: sent back by hand over plain http here
        cookie = "; ".join(f"{k}={v}" for k, v in page.cookies.items())
        r = c.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": token, "next": "/"},
            headers={"Cookie": cookie},
        )
        if r.status_code == 303:
            session = "; ".join(f"{k}={v}" for k, v in r.cookies.items())
            home = c.get("/", headers={"Cookie": session})
            assert home.status_code == 200 and 'name="password"' not in home.text  # the dashboard
        return r


def test_first_start_health_admin_login_and_data_kept_on_the_volume(runtime, image, names):
    volume, first, second = names("volume"), names("container"), names("container")
    runtime.run("volume", "create", volume)
    port = _port()
    _start(runtime, image, first, volume, port)
    seconds = _healthy(runtime, first, port)
    print(f"run to healthy /healthz: {seconds:.1f} s")
    logs = runtime.run("logs", first).stderr
    assert "wrote one from the example" in logs and "users add" in logs and "Traceback" not in logs
    uid = runtime.run("exec", first, "id", "-u").stdout.strip()
    assert uid != "0"
    config = runtime.run("exec", first, "cat", "/data/config.yaml").stdout
    assert "dev_mode: false" in config and "users: []" in config and "demo" not in config.lower()

    # the first admin, through exec, logs in over the published port
    assert _login(port, "admin", PASSWORD).status_code != 303  # nobody yet
    runtime.run(
        "exec",
        "-i",
        first,
        "openchargeback",
        "users",
        "add",
        "admin",
        "--role",
        "admin",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    assert _login(port, "admin", PASSWORD).status_code == 303

    # an import through exec outlives the container
    runtime.run("cp", str(INPUTS / "hpc_2025-01.csv"), f"{first}:/tmp/hpc_2025-01.csv")
    out = runtime.run("exec", first, "openchargeback", "ingest", "/tmp/hpc_2025-01.csv", "-s", "hpc").stdout
    assert "2025-01" in out
    runtime.run("rm", "-f", first)
    port = _port()
    _start(runtime, image, second, volume, port)
    _healthy(runtime, second, port)
    listed = runtime.run("exec", second, "openchargeback", "imports", "list").stdout
    assert "hpc_2025-01.csv" in listed
    assert "wrote one" not in runtime.run("logs", second).stderr  # its configuration was kept
    assert _login(port, "admin", PASSWORD).status_code == 303

    # `worker` and any CLI command from the same image, on the same volume
    w = runtime.run("run", "--rm", "-v", f"{volume}:/data", image, "worker", "--once")
    assert "waiting for jobs" in w.stderr
    cli = runtime.run("run", "--rm", "-v", f"{volume}:/data", image, "periods", "list")
    assert "2025-01" in cli.stdout


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_image_against_the_hosts_postgresql(runtime, image, names, db_url):
    volume = names("volume")
    env = ["-e", f"OPENCHARGEBACK_DATABASE_URL={db_url}"]
    args = ["run", "--rm", "--network", "host", *env, "-v", f"{volume}:/data", image]
    up = runtime.run(*args, "db", "upgrade")
    assert "Traceback" not in up.stderr
    check = runtime.run(*args, "db", "check")
    assert check.returncode == 0 and "Traceback" not in check.stderr


def test_bad_settings_end_the_container_with_one_message(runtime, image, names):
    missing = runtime.run(
        "run", "--rm", "-e", "OPENCHARGEBACK_CONFIG=/config/none.yaml", image, "serve", check=False
    )
    assert missing.returncode == 1
    assert "no such file" in missing.stderr and "Traceback" not in missing.stderr + missing.stdout

    volume = names("volume")
    t0 = time.monotonic()
    never = runtime.run(
        "run", "--rm", "-v", f"{volume}:/data",
        "-e", "OPENCHARGEBACK_DATABASE_URL=postgresql+psycopg://nobody@127.0.0.1:9/none",
        "-e", "OPENCHARGEBACK_DB_WAIT_SECONDS=4",
        image, "serve", check=False, timeout=120,
    )  # fmt: skip
    assert never.returncode == 1 and time.monotonic() - t0 < 60
    assert "waiting for the database at 127.0.0.1:9" in never.stderr
    assert "did not answer within 4 s" in never.stderr and "Traceback" not in never.stderr

    secret = runtime.run(
        "run", "--rm", "-v", f"{volume}:/data", "-e", "OPENCHARGEBACK_SECRET_KEY_FILE=/run/secrets/none",
        image, "periods", "list", check=False,
    )  # fmt: skip
    assert secret.returncode == 1 and "OPENCHARGEBACK_SECRET_KEY_FILE" in secret.stderr
    assert "Traceback" not in secret.stderr
