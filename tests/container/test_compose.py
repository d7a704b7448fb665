"""compose.yaml: it validates (`compose config`) and refuses to start without
DB_PASSWORD; `compose up` with a PostgreSQL image built locally from Debian's package
runs the one-shot migration, then app and worker: /healthz answers on the published
port, and an import uploaded through the web is run by the worker container."""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import subprocess
import time
import uuid

import httpx
import pytest

from conftest import INPUTS, ROOT

from .conftest import DEBIAN_IMAGE

pytestmark = pytest.mark.slow
POSTGRES_IMAGE = "localhost/ocb-test-postgres:bookworm"
PASSWORD = "compose admin password 7x"
# A stand-in for the official image: Debian's PostgreSQL, set up from the same
# POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB on an empty data folder.
POSTGRES_DOCKERFILE = """FROM {debian}
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
      postgresql && rm -rf /var/lib/apt/lists/*
COPY start.sh /start.sh
ENTRYPOINT ["sh", "/start.sh"]
"""
START = """set -e
BIN=$(ls -d /usr/lib/postgresql/*/bin)
PGDATA=/var/lib/postgresql/data
mkdir -p "$PGDATA" /var/run/postgresql && chown postgres "$PGDATA" /var/run/postgresql
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  echo "$POSTGRES_PASSWORD" > /tmp/pw && chown postgres /tmp/pw
  su postgres -c "$BIN/initdb -D $PGDATA -U $POSTGRES_USER --pwfile=/tmp/pw \\
    -E UTF8 --locale=C.UTF-8 --auth-host=scram-sha-256 --auth-local=trust"
  rm /tmp/pw
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  su postgres -c "$BIN/pg_ctl -D $PGDATA -w start"
  su postgres -c "$BIN/psql -p 5432 -U $POSTGRES_USER -d postgres -c 'CREATE DATABASE $POSTGRES_DB'"
  su postgres -c "$BIN/pg_ctl -D $PGDATA -w stop"
fi
exec su postgres -c "$BIN/postgres -D $PGDATA"
"""


def test_compose_config_validates(runtime, tmp_path):
    compose = runtime.compose()
    env = {**runtime.env, "DB_PASSWORD": "x" * 20}
    ok = subprocess.run(
        [*compose, "-f", str(ROOT / "compose.yaml"), "config"], env=env, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    for service in (
        "db:",
        "migrate:",
        "app:",
        "worker:",
        "service_completed_successfully",
        "service_healthy",
    ):
        assert service in ok.stdout
    env.pop("DB_PASSWORD")
    refused = subprocess.run(
        [*compose, "-f", str(ROOT / "compose.yaml"), "config"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert refused.returncode != 0 and "DB_PASSWORD" in refused.stdout + refused.stderr


@pytest.fixture(scope="session")
def postgres_image(runtime, base_image, tmp_path_factory) -> str:
    """Built once for these files (the tag is their digest) and kept in the image store."""
    digest = hashlib.sha256((POSTGRES_DOCKERFILE + START).encode()).hexdigest()[:12]
    tag = f"{POSTGRES_IMAGE}-{digest}"
    if not runtime.exists(tag):
        folder = tmp_path_factory.mktemp("pg")
        (folder / "Dockerfile").write_text(POSTGRES_DOCKERFILE.format(debian=DEBIAN_IMAGE))
        (folder / "start.sh").write_text(START)
        runtime.run("build", "--network", "host", "-t", tag, str(folder), timeout=900)
    return tag


def test_compose_up_with_postgresql(runtime, image, postgres_image, tmp_path):
    project = f"ocbtest{uuid.uuid4().hex[:6]}"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tmp_path / "site"
    folder.mkdir()
    shutil.copy2(ROOT / "compose.yaml", folder / "compose.yaml")
    env = {
        **runtime.env,
        "DB_PASSWORD": uuid.uuid4().hex,
        "POSTGRES_IMAGE": postgres_image,
        "OPENCHARGEBACK_IMAGE": image,
        "OPENCHARGEBACK_PORT": str(port),
    }
    compose = [*runtime.compose(), "-p", project, "-f", str(folder / "compose.yaml")]

    def run(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
        p = subprocess.run(
            [*compose, *args], env=env, capture_output=True, text=True, cwd=folder, timeout=600, **kw
        )
        assert not check or p.returncode == 0, f"{args}: {p.stdout[-3000:]}\n{p.stderr[-3000:]}"
        return p

    try:
        # In the order the depends_on conditions give (podman before 4.6 ignores them, and
        # podman-compose then cannot start a chain of them): the database; the one-shot
        # migration, whose entrypoint waits until the database answers; app and worker.
        run("up", "-d", "--no-build", "db")
        run("run", "--rm", "migrate")
        run("up", "-d", "--no-build", "--no-deps", "app", "worker")
        t0, base = time.monotonic(), f"http://127.0.0.1:{port}"
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() - t0 < 240, run("logs", check=False).stdout[-5000:]
            time.sleep(0.5)
        ready = _until_ready(base)
        assert ready["checks"]["schema"]["ok"], ready
        add = ["openchargeback", "users", "add", "admin", "--role", "admin", "--password-stdin"]
        run("exec", "-T", "app", *add, input=PASSWORD + "\n")
        job = _upload(base, INPUTS / "hpc_2025-01.csv")
        _until(lambda: 'data-status="done"' in job(), "the worker container to run the import")
        logs = run("logs", "worker", check=False)
        assert "import" in logs.stdout + logs.stderr
    finally:
        run("down", "-v", check=False)


def _until(check, what: str, timeout: float = 120):
    t0 = time.monotonic()
    while not check():
        assert time.monotonic() - t0 < timeout, f"timed out: {what}"
        time.sleep(0.5)


def _until_ready(base: str) -> dict:
    got: dict = {}

    def check() -> bool:
        r = httpx.get(f"{base}/readyz", timeout=5)
        got.update(r.json())
        return r.status_code == 200

    _until(check, "/readyz")
    return got


def _upload(base: str, path):
    """Log in (Secure cookies sent back by hand over plain http) and upload ``path``;
    returns a function that reads the job's partial."""
    c = httpx.Client(base_url=base, timeout=30)
    page = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    jar = dict(page.cookies)
    r = c.post(
        "/login",
        data={"username": "admin", "password": PASSWORD, "csrf_token": token, "next": "/"},
        headers={"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())},
    )
    assert r.status_code == 303, r.text[:500]
    cookie = {"Cookie": "; ".join(f"{k}={v}" for k, v in r.cookies.items())}
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/account", headers=cookie).text).group(1)
    r = c.post(
        "/imports/upload",
        params={"filename": path.name, "source": "hpc"},
        content=path.read_bytes(),
        headers={**cookie, "X-CSRF-Token": csrf},
    )
    assert r.status_code == 200, r.text[:500]
    job = re.search(r'id="job-(\d+)"', r.text).group(1)
    return lambda: c.get(f"/imports/jobs/{job}", headers=cookie).text
