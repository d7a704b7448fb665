"""Web fixtures: one app per module on a SQLite file with the January sample data and
one user per role; TestClients logged in as each role; a live server, a browser, and
where its screenshots go.

Screenshots go to a temporary folder: a test run leaves the repository as it was. The
pictures of the documentation (docs/images/) are rewritten only on request, with
``make screenshots`` (which sets OPENCHARGEBACK_SCREENSHOTS=docs/images)."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", message=".*httpx.*", category=DeprecationWarning)

ROOT = Path(__file__).resolve().parents[2]
INPUTS = ROOT / "sample_data" / "inputs"
PASSWORD = "correct horse battery"
SCREENSHOTS_ENV = "OPENCHARGEBACK_SCREENSHOTS"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SECRET = "test-secret-8f3a1c2d9e7b6a5f4e3d2c1b0a9f8e7d"
SOURCES = [
    {"name": "aws", "display_name": "Amazon Web Services", "file_pattern": "aws_*.csv"},
    {"name": "azure", "display_name": "Microsoft Azure", "file_pattern": "azure_*.csv"},
    {"name": "hpc", "display_name": "HPC Cluster", "file_pattern": "hpc_*.csv"},
    {"name": "storage", "display_name": "Research Storage", "file_pattern": "storage_*.csv"},
    {"name": "it_storage", "display_name": "IT Secure Storage", "file_pattern": "it_storage_*.csv"},
]
ROLES = ("admin", "reviewer", "viewer")


def web_settings(tmp: Path, **extra):
    from openchargeback.config import Settings

    data = {
        "database": {"url": f"sqlite:///{tmp}/billing.db"},
        "sources": SOURCES,
        "server": {"secret_key": SECRET, "data_dir": str(tmp / "data"), "max_upload_mb": 5},
        "dev_mode": False,
        # where adjustments entered without a source (the web form has none) are posted
        "journal": {"adjustment_fund_org": "RC-ADMIN", "adjustment_account": "4400"},
    }
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(data.get(k), dict):
            data[k] = {**data[k], **v}
        else:
            data[k] = v
    return Settings.model_validate(data)


def seed(settings, files=("aws_2025-01.csv", "hpc_2025-01.csv", "storage_2025-01.csv")) -> None:
    from openchargeback.services import users
    from openchargeback.services.context import build_context
    from openchargeback.services.ingest.loading import ingest

    ctx = build_context(settings, actor="seed")
    for name in files:
        ingest(ctx, INPUTS / name, name.rsplit("_", 1)[0])
    for role in ROLES:
        users.add_user(ctx, role, PASSWORD, role)
    ctx.engine.dispose()


def login(client, username: str, password: str = PASSWORD):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )


def csrf_of(client) -> str:
    html = client.get("/account").text
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """(app, settings) with sample data and users admin/reviewer/viewer."""
    from openchargeback.web.app import create_app

    tmp = tmp_path_factory.mktemp("web")
    settings = web_settings(tmp)
    seed(settings)
    app = create_app(settings)
    yield app, settings
    app.state.runner.shutdown()
    app.state.ctx.engine.dispose()


@pytest.fixture(scope="module")
def clients(web):
    """role -> logged-in TestClient, plus None -> an anonymous one."""
    from fastapi.testclient import TestClient

    app, _ = web
    out = {None: TestClient(app, base_url="https://testserver")}
    for role in ROLES:
        c = TestClient(app, base_url="https://testserver")
        r = login(c, role)
        assert r.status_code == 303, r.text
        c.csrf = csrf_of(c)
        out[role] = c
    return out


@contextmanager
def live_server(settings):
    """The app on a free local port, served by uvicorn on a thread: yields (base URL, app)."""
    import uvicorn

    from openchargeback.web.app import create_app

    app = create_app(settings)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "the server did not start"
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        srv.should_exit = True
        thread.join(10)
        app.state.runner.shutdown()
        app.state.ctx.engine.dispose()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


class Screenshots:
    """``shots(page, name, **options)`` saves ``page`` as ``NAME.png`` in ``folder``.

    It refuses to write inside the repository unless the folder was asked for with
    $OPENCHARGEBACK_SCREENSHOTS, so that running the tests never rewrites tracked files."""

    def __init__(self, folder: Path, *, requested: bool = False):
        self.folder = Path(folder).resolve()
        self.requested = requested
        if not requested and (self.folder == ROOT or ROOT in self.folder.parents):
            raise RuntimeError(
                f"screenshots would be written into the repository ({self.folder}); "
                f"set {SCREENSHOTS_ENV} to update the documentation's pictures"
            )

    @classmethod
    def from_env(cls, tmp_path_factory) -> Screenshots:
        """$OPENCHARGEBACK_SCREENSHOTS (relative to the repository root) when set, else a
        fresh temporary folder."""
        wanted = os.environ.get(SCREENSHOTS_ENV, "").strip()
        if wanted:
            return cls(ROOT / wanted, requested=True)  # an absolute path stays as it is
        return cls(tmp_path_factory.mktemp("screenshots"))

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.png"

    def __call__(self, page, name: str, **options) -> Path:
        path = self.path(name)
        self.folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), **{"full_page": True, **options})
        return path


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Screenshots:
    """Where the browser tests save their screenshots (see :class:`Screenshots`)."""
    return Screenshots.from_env(tmp_path_factory)
