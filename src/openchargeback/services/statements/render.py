"""Turning statement data into PDFs with the configured templates and branding.

Printing a PDF takes tens of milliseconds of CPU; a period of a thousand statements is
printed by a pool of processes (one per core, at most four), each of which loads the
templates once. Small batches are printed in this process."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from openchargeback.config import Settings
from openchargeback.rendering.statements import Branding, StatementRenderer, statement_context

POOL_THRESHOLD = 16
MAX_WORKERS = 4


def branding_of(settings: Settings) -> Branding:
    s = settings.statements
    b = s.branding
    return Branding(
        organisation=b.organisation,
        logo=b.logo,
        contact=b.contact,
        currency_symbol=b.currency_symbol,
        currency=settings.currency,
        locale=b.locale,
        date_format=b.date_format,
        paper=s.paper,
        timezone=s.timezone,
    )


def renderer_for(settings: Settings) -> StatementRenderer:
    return StatementRenderer(branding_of(settings), settings.statements.template_dir)


def context_for(renderer: StatementRenderer, data: dict, *, status: str | None = None) -> dict:
    """A stored statement's template context (``status`` overrides the stored one, so that
    a superseded version previews as such)."""
    if status is not None and status != data.get("status"):
        data = dict(data, status=status)
    return statement_context(data, renderer.branding_context())


_worker: StatementRenderer | None = None


def _init(branding: Branding, template_dir: str | None) -> None:
    global _worker
    _worker = StatementRenderer(branding, template_dir)


def _render(data: dict) -> bytes:
    if _worker is None:
        raise RuntimeError("a pool worker renders only after _init has loaded the templates")
    return _worker.statement_pdf(context_for(_worker, data))


def _workers() -> int:
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


def render_pdfs(
    settings: Settings, docs: list[dict], progress: Callable[[int, int], None] | None = None
) -> list[bytes]:
    """PDFs of the statements (their stored data), in order."""
    total = len(docs)
    out: list[bytes] = []
    workers = _workers()
    if total < POOL_THRESHOLD or workers == 1:
        renderer = renderer_for(settings)
        for data in docs:
            out.append(renderer.statement_pdf(context_for(renderer, data)))
            if progress:
                progress(len(out), total)
        return out
    branding = branding_of(settings)
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=get_context("spawn"),
        initializer=_init,
        initargs=(branding, settings.statements.template_dir),
    ) as pool:
        for pdf in pool.map(_render, docs, chunksize=max(1, min(16, total // (workers * 8) or 1))):
            out.append(pdf)
            if progress:
                progress(len(out), total)
    return out
