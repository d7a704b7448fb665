"""Logging: the ``logging:`` settings (level, ``text`` or ``json``, file) applied to the
standard library's loggers, one line per web request, CLI command and job, and no secret.

Loggers: ``openchargeback.request`` (one line per request: method, route template,
status, duration, user, client, request id), ``openchargeback.command`` (one line per
CLI command: what, who, outcome, duration), ``openchargeback.jobs`` (one line per job),
``openchargeback.error`` (unexpected errors with their context and traceback); uvicorn's
and the libraries' own go to the same place.

The services (``serve``, ``worker``) log to standard error (the journal under systemd)
or to ``logging.file``; other CLI commands only to ``logging.file``, since their standard
error is for the person who ran them. Every line passes :class:`Redactor`: the
configured secrets (``server.secret_key``, ``email.password``, the database password,
any setting named like a password, secret or token) are replaced by ``********`` wherever
they appear, tracebacks and JSON included.
"""

from __future__ import annotations

import contextvars
import getpass
import json
import logging
import logging.handlers
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pythonjsonlogger.json import JsonFormatter

from openchargeback.config import Settings

MASK = "********"
# Fields a text line shows as key=value after its message (JSON lines carry every extra).
FIELDS = (
    "method",
    "route",
    "status",
    "duration_ms",
    "user",
    "client",
    "request_id",
    "command",
    "job_id",
    "kind",
    "outcome",
    "exit_code",
    "job",
    "actor",
    "seconds",
)
_SECRET_NAME = re.compile(r"(password|secret|token|api_key)", re.IGNORECASE)
_OURS = "_openchargeback_handler"
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# Until configure() runs, our lines go nowhere (not to Python's last-resort stderr).
logging.getLogger("openchargeback").addHandler(logging.NullHandler())


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value of the settings: fields named like a secret, the database
    password, the users' password hashes. Longest first, so none is masked in part."""
    found: set[str] = set()

    def walk(value: Any, name: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list):
            for v in value:
                walk(v, name)
        elif isinstance(value, str) and value and _SECRET_NAME.search(name):
            found.add(value)

    walk(settings.model_dump())
    found.update(u.password_hash for u in settings.users)
    try:
        password = urlsplit(settings.database.url).password
    except ValueError:  # an unparseable URL: mask it whole
        password = settings.database.url
    if password:
        found.update((password, unquote(password)))
    return sorted((s for s in found if len(s) >= 4), key=len, reverse=True)


class Redactor:
    """Replaces secrets in a formatted line, as written and as JSON escapes them."""

    def __init__(self, secrets: list[str]) -> None:
        forms = {f for s in secrets for f in (s, json.dumps(s)[1:-1])}
        self.pattern = (
            re.compile("|".join(map(re.escape, sorted(forms, key=len, reverse=True)))) if forms else None
        )

    def __call__(self, line: str) -> str:
        return self.pattern.sub(MASK, line) if self.pattern else line


class _Context(logging.Filter):
    """Adds the request id of the request being served to every line logged meanwhile."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            rid = request_id.get()
            if rid is not None:
                record.request_id = rid
        return True


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s[%(process)d] %(message)s")
        self.converter = time.gmtime  # UTC, as every time of the product
        self.redact = redact

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return (
            time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created)) + f".{int(record.msecs):03d}Z"
        )

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = " ".join(
            f"{k}={_text(getattr(record, k))}" for k in FIELDS if getattr(record, k, None) is not None
        )
        if extra:
            head, sep, tail = line.partition("\n")  # a traceback stays below the line
            line = f"{head} {extra}{sep}{tail}"
        return self.redact(line)


class JsonLineFormatter(JsonFormatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(process)d %(message)s",
            rename_fields={"levelname": "level", "name": "logger", "process": "pid"},
            timestamp=True,
            json_default=str,
        )
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


def _text(value: Any) -> str:
    s = str(value)
    return json.dumps(s) if (not s or any(c.isspace() or c in '"=' for c in s)) else s


def configure(settings: Settings, *, service: bool) -> None:
    """Apply ``settings.logging`` to the root logger (replacing what an earlier call
    installed). ``service``: a long-running process (serve, worker), which logs to standard
    error when no file is set; other commands log only to a file."""
    conf = settings.logging
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(h)
        h.close()
    handler: logging.Handler
    if conf.file:
        Path(conf.file).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.WatchedFileHandler(conf.file, encoding="utf-8")  # logrotate-friendly
    elif service:
        handler = logging.StreamHandler(sys.stderr)
    else:
        return
    redact = Redactor(secrets_of(settings))
    handler.setFormatter(JsonLineFormatter(redact) if conf.format == "json" else TextFormatter(redact))
    handler.addFilter(_Context())
    setattr(handler, _OURS, True)
    root.addHandler(handler)
    root.setLevel(conf.level)
    adopt_uvicorn()


def adopt_uvicorn() -> None:
    """uvicorn's loggers write through ours, and its access log gives way to the request
    log. Called again when the app starts: uvicorn sets its own up after the factory ran."""
    if not any(getattr(h, _OURS, False) for h in logging.getLogger().handlers):
        return
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    logging.getLogger("uvicorn.access").disabled = True


def user_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


@contextmanager
def command(what: str) -> Iterator[None]:
    """One line when a CLI command ends: what, who, outcome (ok, refused, usage,
    interrupted, failed), exit code, duration. A failure's traceback goes with it."""
    log = logging.getLogger("openchargeback.command")
    start = time.perf_counter()
    fields: dict[str, Any] = {"command": what, "user": user_name()}

    def done(level: int, outcome: str, code: int, exc_info: bool = False) -> None:
        ms = round((time.perf_counter() - start) * 1000, 1)
        fields.update(outcome=outcome, exit_code=code, duration_ms=ms)
        log.log(level, "command %s: %s", what, outcome, extra=fields, exc_info=exc_info)

    try:
        yield
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        outcome = {0: "ok", 1: "refused", 2: "usage", 130: "interrupted"}.get(code, "failed")
        done(logging.INFO if code == 0 else logging.WARNING, outcome, code)
        raise
    except BaseException:
        done(logging.ERROR, "failed", 1, exc_info=True)
        raise
    else:
        done(logging.INFO, "ok", 0)
