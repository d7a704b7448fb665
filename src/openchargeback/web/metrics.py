"""Prometheus metrics (``metrics.enabled``), with the ``prometheus-client`` library: at
``/metrics`` on the web's port (``Authorization: Bearer metrics.token``), or, with
``metrics.listen``, on an address of their own served by ``serve``'s main process
(:func:`serve_separately`) and not on the web's port at all.

Two kinds of figures:

- what a web process sees, counted in the process: requests by route template (count
  and latency) and database driver errors. With several web processes these are kept in
  ``$PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode; ``serve``
  prepares a clean one, :func:`prepare_multiprocess`) and summed by whichever process
  answers the scrape;
- what the database holds, read at each scrape, so the same from every process and
  host: imports (count, rows, seconds by source), jobs (by kind and state, durations,
  refused imports), workers alive, email messages by outcome.

prometheus-client chooses its multiprocess mode when first imported, so this module
imports it only inside functions, after ``serve`` has set the directory.
"""

from __future__ import annotations

import atexit
import hmac
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from openchargeback.config import Settings
from openchargeback.domain.errors import Conflict
from openchargeback.services import health
from openchargeback.services.context import Context
from openchargeback.web.observe import Observer

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Histogram

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "openchargeback_"
LONG_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)  # imports and jobs, seconds


def prepare_multiprocess(settings: Settings) -> None:
    """Before ``serve`` starts its processes: $PROMETHEUS_MULTIPROC_DIR set (a new
    temporary directory unless the service sets one) and emptied of an earlier run's files."""
    if not settings.metrics.enabled:
        return
    given = os.environ.get(MULTIPROC_ENV)
    path = Path(given or tempfile.mkdtemp(prefix="openchargeback-metrics-"))
    if not given:  # ours: removed when serve ends
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.db"):
        old.unlink()
    os.environ[MULTIPROC_ENV] = str(path)


@dataclass(frozen=True)
class _Instruments:
    requests: Counter
    latency: Histogram
    db_errors: Counter


_instruments: _Instruments | None = None


def instruments() -> _Instruments:
    """The process's counters (one set per process, registered where the app collects)."""
    global _instruments
    if _instruments is None:
        from prometheus_client import Counter, Histogram

        _instruments = _Instruments(
            Counter(
                PREFIX + "http_requests",
                "Web requests by method, route template and status.",
                ["method", "route", "status"],
                registry=None,
            ),
            Histogram(
                PREFIX + "http_request_duration_seconds",
                "Web request latency by route template.",
                ["route"],
                registry=None,
            ),
            Counter(
                PREFIX + "database_errors",
                "Errors raised by the database driver, by class.",
                ["error"],
                registry=None,
            ),
        )
    return _instruments


class DatabaseCollector:
    """Figures read from the database at each scrape (see the module's docstring)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        a = health.activity(self.ctx)
        imports = CounterMetricFamily(PREFIX + "imports", "Imports stored, by source.", labels=["source"])
        rows = CounterMetricFamily(
            PREFIX + "import_rows", "Charge rows imported, by source.", labels=["source"]
        )
        seconds = HistogramMetricFamily(
            PREFIX + "import_duration_seconds", "Import duration.", labels=["source"]
        )
        by_source: dict[str, list[tuple[int, float]]] = {}
        for source, n, s in a.imports:
            by_source.setdefault(source, []).append((n, s))
        for source, items in sorted(by_source.items()):
            imports.add_metric([source], len(items))
            rows.add_metric([source], sum(n for n, _ in items))
            seconds.add_metric([source], _buckets([s for _, s in items]), sum(s for _, s in items))
        yield from (imports, rows, seconds)

        refused = CounterMetricFamily(
            PREFIX + "import_refusals", "Imports started in the web that were refused (failed jobs)."
        )
        refused.add_metric([], a.jobs.by_kind.get(("import", "failed"), 0))
        yield refused

        jobs = GaugeMetricFamily(PREFIX + "jobs", "Jobs by kind and state.", labels=["kind", "state"])
        for (kind, state), n in sorted(a.jobs.by_kind.items()):
            jobs.add_metric([kind, state], n)
        yield jobs
        durations = HistogramMetricFamily(
            PREFIX + "job_duration_seconds", "Duration of jobs that ended.", labels=["kind", "state"]
        )
        runs: dict[tuple[str, str], list[float]] = {}
        for kind, state, s in a.job_runs:
            runs.setdefault((kind, state), []).append(s)
        for (kind, state), values in sorted(runs.items()):
            durations.add_metric([kind, state], _buckets(values), sum(values))
        yield durations
        alive = GaugeMetricFamily(PREFIX + "workers_alive", "Job workers heard from within the lease.")
        alive.add_metric([], sum(1 for w in a.jobs.workers if w.alive))
        yield alive
        if a.jobs.oldest_queued_at is not None:
            age = (self.ctx.clock() - a.jobs.oldest_queued_at).total_seconds()
            oldest = GaugeMetricFamily(PREFIX + "jobs_oldest_queued_seconds", "Age of the oldest queued job.")
            oldest.add_metric([], max(0.0, age))
            yield oldest

        mail = GaugeMetricFamily(
            PREFIX + "email_messages", "Statement email messages by outcome.", labels=["status"]
        )
        for status, n in sorted(a.messages.items()):
            mail.add_metric([status], n)
        yield mail


def _buckets(values: Iterable[float]) -> list[tuple[str, float]]:
    values = list(values)
    out = [(str(b), float(sum(1 for v in values if v <= b))) for b in LONG_BUCKETS]
    return [*out, ("+Inf", float(len(values)))]


def registry_for(ctx: Context) -> CollectorRegistry:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)  # every web process's counters
    else:
        inst = instruments()
        for metric in (inst.requests, inst.latency, inst.db_errors):
            registry.register(metric)
    registry.register(DatabaseCollector(ctx))
    return registry


def serve_separately(settings: Settings, ctx: Context) -> None:
    """``metrics.listen``: prometheus-client's own HTTP server, in a thread of this process
    (``serve``'s main one), answering every path with the figures of every web process
    (multiprocess mode) and of the database."""
    from prometheus_client import start_http_server

    host, port = settings.metrics.listen_address
    try:
        start_http_server(port, addr=host, registry=registry_for(ctx))
    except OSError as exc:
        raise Conflict(
            f"cannot listen on {settings.metrics.listen} for metrics (metrics.listen): "
            f"{exc.strerror or exc}; choose another address"
        ) from None


def install(app: FastAPI, settings: Settings, ctx: Context) -> Observer | None:
    """Count requests when metrics are on, and add ``/metrics`` unless they are served on
    an address of their own; returns what the request observer should call."""
    if not settings.metrics.enabled:
        return None
    inst = instruments()
    health.watch_driver_errors(ctx, lambda name: inst.db_errors.labels(name).inc())

    def observe(method: str, route: str, status: int, seconds: float) -> None:
        inst.requests.labels(method, route, str(status)).inc()
        inst.latency.labels(route).observe(seconds)

    if settings.metrics.listen:
        return observe
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    registry = registry_for(ctx)
    expected = f"Bearer {settings.metrics.token}".encode()

    def metrics(request: Request) -> Response:
        sent = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(sent, expected):
            return PlainTextResponse(
                "metrics need the bearer token (metrics.token)\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    return observe
