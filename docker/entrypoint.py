"""The container's entrypoint: `serve` by default, `worker`, or any `openchargeback` command.

Before the command it
- writes a configuration on a first start: when $OPENCHARGEBACK_CONFIG (default
  /data/config.yaml) does not exist, one is made from the example: SQLite in /data, a
  freshly generated secret key, dev_mode off, no users (and says how to add the first);
- waits for the database: a PostgreSQL server that does not answer yet is tried again,
  with one log line each time, for $OPENCHARGEBACK_DB_WAIT_SECONDS (default 60), then
  the container ends with one message and exit status 1 (no restart loop of tracebacks).

The database URL, secret key and SMTP password may come from the environment
(OPENCHARGEBACK_DATABASE_URL, OPENCHARGEBACK_SECRET_KEY, OPENCHARGEBACK_SMTP_PASSWORD)
or from files named by the same names with _FILE (Docker secrets).
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from pathlib import Path

DEFAULT_CONFIG = "/data/config.yaml"
EXAMPLE = Path("/opt/openchargeback/config.example.yaml")
NO_DATABASE = {"--help", "-h", "--version", "hash-password"}


def say(message: str) -> None:
    print(f"openchargeback-container: {message}", file=sys.stderr, flush=True)


def fail(message: str) -> None:
    say(f"error: {message}")
    sys.exit(1)


def first_config(path: Path) -> None:
    """A configuration from the example, for a container: nothing secret baked in."""
    import yaml

    data = yaml.safe_load(EXAMPLE.read_text())
    data["dev_mode"] = False
    data["users"] = []  # the example's demo admin is for dev_mode only
    data["database"] = {"url": "${OPENCHARGEBACK_DATABASE_URL:-sqlite:////data/billing.db}"}
    key = secrets.token_urlsafe(48)
    data["server"].update(
        secret_key="${OPENCHARGEBACK_SECRET_KEY:-" + key + "}",
        host="0.0.0.0",  # noqa: S104 - inside the container; the port is published or not
        data_dir="/data/uploads",
    )
    data.setdefault("jobs", {})["serve_runs_worker"] = "${OPENCHARGEBACK_SERVE_RUNS_WORKER:-true}"
    data["statements"]["output_dir"] = "/data/statements"
    data["journal"]["output_dir"] = "/data/journals"
    data["email"]["outbox_dir"] = "/data/outbox"
    data.get("convert", {}).pop("rates", None)  # the example's sample files are not in the image
    data.get("convert", {}).pop("attribution", None)
    header = (
        "# Written by the container on its first start from config.example.yaml (every key:\n"
        "# docs/getting-started/configuration.md). The secret key below was generated for\n"
        "# this volume; ${OPENCHARGEBACK_DATABASE_URL} and ${OPENCHARGEBACK_SECRET_KEY} (or\n"
        "# their _FILE forms) override the defaults. Edit it, then restart the container.\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    tmp.chmod(0o600)
    tmp.rename(path)
    say(
        f"no configuration at {path}: wrote one from the example (SQLite in /data, a new secret "
        "key, dev_mode off, no users)"
    )
    say(
        "create the first administrator with: docker exec -i CONTAINER openchargeback users add "
        "admin --role admin --password-stdin  (the password on standard input)"
    )


def wait_for_database(config: Path) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    from openchargeback.config import load_settings
    from openchargeback.domain.errors import OpenChargebackError

    try:
        url = load_settings(config).database.url
    except OpenChargebackError as exc:
        fail(exc.message)
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    limit = float(os.environ.get("OPENCHARGEBACK_DB_WAIT_SECONDS", "60"))
    deadline = time.monotonic() + limit
    engine = create_engine(url, connect_args={"connect_timeout": 5})
    attempt = 0
    try:
        while True:
            attempt += 1
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                if attempt > 1:
                    say(f"the database at {where} answers")
                return
            except OperationalError as exc:  # not answering (yet), or refusing us
                reason = str(exc.orig).strip().splitlines()[0][:200]
                if time.monotonic() >= deadline:
                    fail(
                        f"the database at {where} did not answer within {limit:.0f} s "
                        f"({attempt} attempts; last: {reason}); check database.url and that "
                        f"the server is running (OPENCHARGEBACK_DB_WAIT_SECONDS sets the wait)"
                    )
                say(f"waiting for the database at {where} (attempt {attempt}: {reason})")
                time.sleep(min(2.0, max(0.1, deadline - time.monotonic())))
            except Exception as exc:  # anything else will not mend by waiting
                fail(f"cannot use the database at {where}: {type(exc).__name__}: {exc}")
    finally:
        engine.dispose()


def command(args: list[str]) -> list[str]:
    if args and args[0] == "openchargeback":
        args = args[1:]
    if not args:
        args = ["serve"]
    if args[0] == "serve" and "--host" not in args:
        args = ["serve", "--host", "0.0.0.0", "--port", "8000", *args[1:]]  # noqa: S104
    return ["openchargeback", *args]


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] in ("sh", "bash"):
        os.execvp(args[0], args)
    config = Path(os.environ.setdefault("OPENCHARGEBACK_CONFIG", DEFAULT_CONFIG))
    if not config.exists():
        if str(config) != DEFAULT_CONFIG:
            fail(f"OPENCHARGEBACK_CONFIG={config}: no such file (mount it, or leave the variable unset)")
        try:
            first_config(config)
        except OSError as exc:
            fail(f"cannot write {config}: {exc.strerror or exc} (is /data a writable volume?)")
    elif not os.access(config, os.R_OK):
        fail(f"{config}: not readable by uid {os.getuid()} (chmod/chown it for the container's user)")
    if not NO_DATABASE & set(args):
        wait_for_database(config)
    argv = command(args)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main()
