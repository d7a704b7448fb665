"""`serve`: the web UI under uvicorn."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from openchargeback.cli.common import ConfigOpt
from openchargeback.domain.errors import Conflict

if TYPE_CHECKING:
    from fastapi import FastAPI

    from openchargeback.config import Settings
    from openchargeback.services.context import Context

_PACKAGE = Path(__file__).resolve().parent.parent  # src/openchargeback


def serve_command(
    config: ConfigOpt = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (default: server.host).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default: server.port).")] = None,
    reload: Annotated[
        bool,
        typer.Option(
            "--reload",
            help="Restart when the code changes (and, with watchfiles installed, the templates or "
            "the configuration): for development.",
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Web processes sharing the port (uvicorn's process manager); for PostgreSQL.",
        ),
    ] = 1,
) -> None:
    """Start the web UI (refuses unsafe settings outside dev_mode)."""
    from openchargeback.config import ENV_FILE, ensure_safe_to_serve, load_settings

    settings = load_settings(config)
    ensure_safe_to_serve(settings)
    h, p = host or settings.server.host, port or settings.server.port
    from openchargeback.web.metrics import prepare_multiprocess

    prepare_multiprocess(settings)  # before any process imports prometheus-client
    if reload and workers > 1:
        raise typer.BadParameter("--reload runs one process; leave out --workers", param_hint="--workers")
    if reload:
        _check_free(h, p)
        if config is not None:  # the reloaded process reads the configuration from there
            os.environ[ENV_FILE] = str(config.resolve())
        _announce(h, p, settings, " (reloading on changes)")
        _serve_metrics(settings)
        _run_reloading(settings, config, h, p)
        return
    sock = _bind(h, p)  # before anything else: a busy port is refused at once
    if workers > 1:
        _run_workers(settings, config, sock, h, p, workers)
        return
    try:
        from openchargeback.web.app import create_app

        app = create_app(settings)
        _serve_metrics(settings, app.state.ctx)
    except BaseException:
        sock.close()
        raise
    _announce(h, p, settings)
    import uvicorn

    server = uvicorn.Server(_uvicorn_config(app, h, p))
    server.run(sockets=[sock])


def app_from_environment() -> FastAPI:
    """The app built from the configuration file named by $OPENCHARGEBACK_CONFIG, for
    uvicorn's ``--factory``: the processes ``serve --reload`` starts (``serve -c FILE``
    sets the variable), or several workers under a process manager
    (``uvicorn --factory openchargeback.cli.serve:app_from_environment --workers 4``)."""
    from openchargeback.config import ensure_safe_to_serve, load_settings
    from openchargeback.web.app import create_app

    settings = load_settings(None)
    ensure_safe_to_serve(settings)
    return create_app(settings)


def _serve_metrics(settings: Settings, ctx: Context | None = None) -> None:
    """``metrics.listen``: the metrics served by this, the main, process."""
    if settings.metrics.enabled and settings.metrics.listen:
        from openchargeback.services.context import build_context
        from openchargeback.web.metrics import serve_separately

        serve_separately(settings, ctx or build_context(settings, actor="web"))
        typer.echo(f"metrics on http://{settings.metrics.listen}/metrics", err=True)


def _announce(host: str, port: int, settings: Settings, extra: str = "") -> None:
    shown = f"[{host}]" if ":" in host else host
    dev = " (dev mode)" if settings.dev_mode else ""
    typer.echo(f"OpenChargeback on http://{shown}:{port}{dev}{extra}", err=True)


def _uvicorn_config(app: FastAPI | str, host: str, port: int, **extra: Any) -> Any:
    import uvicorn

    return uvicorn.Config(
        app, host=host, port=port, log_level="info", proxy_headers=False, server_header=False, **extra
    )


def _run_workers(
    settings: Settings, config: Path | None, sock: socket.socket, host: str, port: int, n: int
) -> None:
    """``n`` processes of :func:`app_from_environment` on one socket, kept alive by
    uvicorn's supervisor (a process that dies is replaced)."""
    from uvicorn.supervisors import Multiprocess

    from openchargeback.config import ENV_FILE
    from openchargeback.services.context import build_context

    try:  # migrate a new database once, here, rather than in n processes at once
        ctx = build_context(settings, actor="web")
        ctx.engine.dispose()
        _serve_metrics(settings, ctx)  # the sum of the n processes' counters
    except BaseException:
        sock.close()
        raise
    if config is not None:  # each process reads the configuration from there
        os.environ[ENV_FILE] = str(config.resolve())
    _announce(host, port, settings, f" ({n} web processes)")
    cfg = _uvicorn_config(
        "openchargeback.cli.serve:app_from_environment", host, port, factory=True, workers=n
    )
    Multiprocess(cfg, sockets=[sock]).run()


def _run_reloading(settings: Settings, config: Path | None, host: str, port: int) -> None:
    import importlib.util

    import uvicorn

    dirs = [str(_PACKAGE)]
    dirs += [
        d for d in (settings.statements.template_dir, settings.journal.template_dir) if d and Path(d).is_dir()
    ]
    includes: list[str] | None = None
    if importlib.util.find_spec("watchfiles") is not None:  # uvicorn's StatReload watches *.py only
        includes = ["*.py", "*.html", "*.j2", "*.txt", "*.css", "*.js", "*.yaml", "*.yml"]
        if config is not None:
            dirs.append(str(config.resolve().parent))
    uvicorn.run(
        "openchargeback.cli.serve:app_from_environment",
        factory=True,
        reload=True,
        reload_dirs=dirs,
        reload_includes=includes,
        host=host,
        port=port,
        log_level="info",
        proxy_headers=False,
        server_header=False,
    )


def _socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, as uvicorn binds it; a refusal in one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto named: asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP, and
    # without it every response on a kept-alive connection waited ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        where = f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise Conflict(
                f"cannot listen on {where}: the port is in use (another server running?); "
                f"stop it, or choose another port with --port"
            ) from None
        if exc.errno == errno.EACCES:
            raise Conflict(
                f"cannot listen on {where}: permission denied (ports below 1024 need privileges); "
                f"choose another port with --port"
            ) from None
        raise Conflict(f"cannot listen on {where}: {exc.strerror or exc}; check --host and --port") from None
    return sock


def _bind(host: str, port: int) -> socket.socket:
    sock = _socket(host, port)
    sock.set_inheritable(True)
    return sock


def _check_free(host: str, port: int) -> None:
    _socket(host, port).close()
