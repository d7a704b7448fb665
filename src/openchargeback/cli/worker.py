"""`worker`: run background jobs (imports, statement generation and sending, journal exports,
budget alert checks) queued by the web, until stopped."""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from openchargeback.cli.common import ConfigOpt, context


def worker_command(
    config: ConfigOpt = None,
    once: Annotated[
        bool,
        typer.Option("--once", help="Run the jobs queued now (and those whose worker died), then exit."),
    ] = False,
) -> None:
    """Run the background jobs the web queues; several may run, on several hosts, against one
    PostgreSQL database."""
    from openchargeback.services import jobs

    ctx = context(config, service=True)  # logs (one line per job) to stderr or logging.file
    worker = jobs.Worker(ctx)
    typer.echo(f"worker {worker.name} ({ctx.dialect}) waiting for jobs", err=True)
    if once:
        worker.run_forever(until_idle=True)
        return

    def stop(signum: int, _frame: object) -> None:
        # the job being run finishes first; a second signal ends the process at once
        typer.echo(f"worker {worker.name}: stopping after the current job", err=True)
        signal.signal(signum, signal.SIG_DFL)
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run_forever()
