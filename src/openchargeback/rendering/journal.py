"""Journal files: data in, bytes out.

Built-in formats are written by the ``csv`` module (RFC 4180 quoting, CRLF line ends,
the header and each row on a line of its own) with every cell neutralised against
spreadsheet formulas (:mod:`openchargeback.rendering.csv_safe`):

- ``standard``: one row per approved charge;
- ``summary``: one row per PI, project and fund/org;
- ``gl``: balanced double entry in a university ledger layout (:data:`GL_HEADER`).

Any other format name is a Jinja2 template ``NAME.EXT.j2`` (or ``NAME.j2``): looked up in
the configured ``journal.template_dir`` first, then among the packaged ones (which a
site template can extend as ``default:NAME.EXT.j2``). Templates run sandboxed; an
error in one is reported naming the template and the line.

A draft's file starts with a line of its own saying so, before the header. Amounts are
plain decimal text at the currency's minor unit (``1062.50`` USD, ``19089`` JPY,
``3.125`` KWD: :func:`openchargeback.domain.money.minor_text`), exact in ``standard``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import traceback
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    FileSystemLoader,
    PackageLoader,
    PrefixLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    meta,
)
from jinja2.sandbox import SandboxedEnvironment

from openchargeback.domain.errors import InvalidInput, NotFound
from openchargeback.domain.journal import Posting
from openchargeback.domain.money import minor_text, to_str
from openchargeback.rendering.csv_safe import cell

BUILT_IN = ("standard", "summary", "gl")
GL_HEADER = (
    "Fund",
    "Orgn",
    "Account",
    "Program",
    "Activity",
    "Location",
    "Debit",
    "Credit",
    "Description",
    "Reference",
)
STANDARD_HEADER = (
    "period",
    "charge_id",
    "source",
    "pi_email",
    "project_id",
    "fund_org",
    "service",
    "resource_id",
    "resource_name",
    "currency",
    "list_cost",
    "billed_cost",
    "effective_cost",
    "charged",
    "account_code",
    "reference_1",
    "reference_2",
)
SUMMARY_HEADER = (
    "period",
    "pi_email",
    "project_id",
    "fund_org",
    "currency",
    "list_cost",
    "billed_cost",
    "charged",
    "charges",
)
TEMPLATE_SUFFIX = ".j2"
CONTROL_HEADER = ("file_name", "sha256", "lines", "currency", "debit_total", "credit_total", "charged_total")


# -- CSV ------------------------------------------------------------------------------------------
def cents(d: Decimal | None, currency: str | None = None) -> str:
    """An amount at the currency's minor unit as plain text ("1062.50", "-3.00", "19089");
    "" for None (the ``cents`` template filter; without a currency, two places)."""
    return minor_text(d, currency)


def draft_line(note: str) -> str:
    return f"DRAFT - not for posting: {note}"


def iter_csv(
    header: Sequence[str], rows: Iterable[Sequence], draft: str | None = None, chunk_rows: int = 2_000
) -> Iterator[bytes]:
    """The CSV file as UTF-8 chunks of ``chunk_rows`` rows (a large file is never held
    whole)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    if draft:
        w.writerow([cell(draft_line(draft))])
    w.writerow([cell(h) for h in header])
    for n, r in enumerate(rows, 1):
        w.writerow([cell(v) for v in r])
        if n % chunk_rows == 0:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    if buf.tell():
        yield buf.getvalue().encode("utf-8")


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence], draft: str | None = None) -> bytes:
    return b"".join(iter_csv(header, rows, draft))


def gl_row(p: Posting) -> list[str]:
    """A posting (:class:`openchargeback.domain.journal.Posting`) in the GL layout."""
    return [
        *p.parts[:2],
        p.account,
        *p.parts[3:],
        minor_text(p.debit, p.currency) if p.debit else "",
        minor_text(p.credit, p.currency) if p.credit else "",
        p.description,
        p.reference,
    ]


def render_gl(postings: Iterable, draft: str | None = None) -> bytes:
    return csv_bytes(GL_HEADER, (gl_row(p) for p in postings), draft)


def render_summary(rows: Iterable[dict], draft: str | None = None) -> bytes:
    """Amounts at the currency's minor unit (sums of the allocation's rounded lines)."""
    return csv_bytes(
        SUMMARY_HEADER,
        (
            [
                minor_text(v, r["currency"]) if isinstance(v, Decimal) else v
                for v in (r[k] for k in SUMMARY_HEADER)
            ]
            for r in rows
        ),
        draft,
    )


def render_control(
    file_name: str,
    sha256: str,
    lines: int,
    totals: Iterable[tuple[str, Decimal, Decimal, Decimal]],
    charges_only: bool = False,
) -> bytes:
    """The control totals of an export, one row per currency: what finance checks on
    receipt (the file's name, SHA-256 and data lines; debits and credits, or for the
    ``standard`` and ``summary`` formats the amount charged)."""
    rows = [
        [
            file_name,
            sha256,
            lines,
            currency,
            "" if charges_only else minor_text(debit, currency),
            "" if charges_only else minor_text(credit, currency),
            minor_text(charged, currency),
        ]
        for currency, debit, credit, charged in totals
    ]
    return csv_bytes(CONTROL_HEADER, rows or [[file_name, sha256, lines, "", "", "", ""]])


def iter_standard(rows: Iterable[dict], draft: str | None = None) -> Iterator[bytes]:
    """Amounts exact, as stored (a charge is not rounded; its statement line is); in chunks."""
    return iter_csv(
        STANDARD_HEADER,
        ([to_str(v) if isinstance(v, Decimal) else v for v in (r[k] for k in STANDARD_HEADER)] for r in rows),
        draft,
    )


def csv_row(*values: object) -> str:
    """One CSV line (no line end) of neutralised cells: the ``csv_row`` template global."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([cell(v) for v in values])
    return buf.getvalue()


# -- templates ------------------------------------------------------------------------------------
def template_env(template_dir: str | Path | None) -> SandboxedEnvironment:
    package = PackageLoader("openchargeback.rendering", "templates")
    loaders: list[BaseLoader] = [FileSystemLoader(str(template_dir))] if template_dir else []
    loaders += [PrefixLoader({"default": package}, delimiter=":"), package]
    env = SandboxedEnvironment(
        loader=ChoiceLoader(loaders),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=lambda name: bool(name) and name.endswith((".html.j2", ".xml.j2")),
    )
    env.filters.update(cents=cents, cell=cell)
    env.globals.update(csv_row=csv_row)
    return env


def template_formats(env: SandboxedEnvironment) -> tuple[str, ...]:
    """Names of the formats the templates provide (``NAME`` of ``NAME[.EXT].j2``)."""
    names = set()
    for t in env.list_templates(
        filter_func=lambda n: n.endswith(TEMPLATE_SUFFIX) and ":" not in n and "/" not in n
    ):
        names.add(t.split(".", 1)[0])
    return tuple(sorted(names - set(BUILT_IN)))


def find_template(env: SandboxedEnvironment, fmt: str) -> tuple[str, str]:
    """(template name, file extension) of format ``fmt``."""
    matches = sorted(
        t
        for t in env.list_templates(
            filter_func=lambda n: n.endswith(TEMPLATE_SUFFIX) and "/" not in n and ":" not in n
        )
        if t.split(".", 1)[0] == fmt
    )
    if not matches:
        known = ", ".join(BUILT_IN + template_formats(env))
        raise NotFound(
            f"journal format {fmt!r} is neither built in nor a template "
            f"({fmt}.EXT.j2 in journal.template_dir); available: {known}"
        )
    name = matches[0]
    middle = name[: -len(TEMPLATE_SUFFIX)].split(".", 1)
    return name, (middle[1] if len(middle) > 1 and middle[1] else "txt")


def _source(env: SandboxedEnvironment, name: str) -> str:
    if env.loader is None:  # template_env always gives one
        raise NotFound(f"journal template {name!r} not found")
    try:
        return env.loader.get_source(env, name)[0]
    except TemplateNotFound:
        raise NotFound(f"journal template {name!r} not found") from None


def template_hash(env: SandboxedEnvironment, name: str) -> str:
    return hashlib.sha256(_source(env, name).encode("utf-8")).hexdigest()


def needs(env: SandboxedEnvironment, name: str) -> frozenset[str] | None:
    """The variables a template (and what it extends or includes) refers to; None when a
    dynamic include makes that unknowable."""
    seen, todo, out = set(), [name], set()
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        try:
            ast = env.parse(_source(env, n), n)
        except TemplateSyntaxError as exc:
            raise _template_error(name, exc) from None
        out |= meta.find_undeclared_variables(ast)
        for ref in meta.find_referenced_templates(ast):
            if ref is None:
                return None
            todo.append(ref)
    return frozenset(out)


def render_template(env: SandboxedEnvironment, name: str, context: dict) -> bytes:
    try:
        return env.get_template(name).render(context).encode("utf-8")
    except TemplateSyntaxError as exc:
        raise _template_error(name, exc) from None
    except TemplateNotFound as exc:
        raise InvalidInput(f"journal template {name}: includes {exc.name!r}, which does not exist") from None
    except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
        raise _template_error(name, exc) from None


def _template_error(name: str, exc: Exception) -> InvalidInput:
    where, line = name, getattr(exc, "lineno", None)
    if isinstance(exc, TemplateSyntaxError):
        where = exc.name or Path(exc.filename or name).name
        message = exc.message or str(exc)
    else:
        message = str(exc) or type(exc).__name__
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if frame.filename and frame.filename.endswith(TEMPLATE_SUFFIX):
                where, line = Path(frame.filename).name, frame.lineno
                break
    at = f", line {line}" if line else ""
    return InvalidInput(f"journal template {where}{at}: {message}")
