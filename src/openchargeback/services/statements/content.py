"""What a statement tells its PI besides its lines: the PI's and project's names from the
registry, the grant and reference numbers its charges carry, and which funds are charged
how much (with the fund's description from the registry).

The reference numbers are the attribution fields ``reference_1`` and ``reference_2``
(``tag_mapping``: e.g. a ``grant_number`` tag); each is labelled after the first tag key
mapped to it ("grant_number" -> "Grant number"), so the statement names what the site
tags. A PI's summary shows those of all its projects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from openchargeback.config import Settings
from openchargeback.domain.statements import Draft

REFERENCE_FIELDS = ("reference_1", "reference_2")


def reference_labels(settings: Settings) -> dict[str, str]:
    """reference field -> its label on statements, from the tag mapping."""
    mapping = settings.mapping()
    out = {}
    for f in REFERENCE_FIELDS:
        key = (mapping.get(f) or [f])[0]
        words = key.removeprefix("x_").replace("_", " ").replace("-", " ").strip() or f
        out[f] = words[0].upper() + words[1:]
    return out


def _fold(email: str | None) -> str:
    return (email or "").lower()


def references_by_statement(
    rows: Iterable[Any], projects: dict[str, tuple[str, str | None]]
) -> dict[tuple[str, str | None, str], dict[str, set[str]]]:
    """(PI folded, project, currency) -> reference field -> values, from the rows of
    :func:`storage.statements.references`; a charge without a PI is its project's PI's, as
    in the allocation."""
    out: dict[tuple[str, str | None, str], dict[str, set[str]]] = {}
    for r in rows:
        pi = r.pi_email
        if pi is None and r.project_id in projects:
            pi = projects[r.project_id][0]
        slot = out.setdefault(
            (_fold(pi), r.project_id, r.billing_currency), {f: set() for f in REFERENCE_FIELDS}
        )
        for f in REFERENCE_FIELDS:
            value = getattr(r, f)
            if value:
                slot[f].add(value)
    return out


def add_to(
    drafts: Sequence[Draft],
    names: dict[str, dict[str, str]],
    references: dict[tuple[str, str | None, str], dict[str, set[str]]],
    labels: dict[str, str],
    fund_descriptions: dict[str, str | None],
) -> None:
    """Add to each draft's content: ``pi_name``, ``project_name``, ``references`` and
    ``charged_to`` (see docs/admin-guide/statements.md, template variables)."""
    for d in drafts:
        k = d.key
        d.data["pi_name"] = names["pis"].get(_fold(k.pi_email))
        d.data["project_name"] = names["projects"].get(k.project_id) if k.project_id else None
        found: dict[str, set[str]] = {f: set() for f in REFERENCE_FIELDS}
        projects = [p.project_id for p in d.projects] if k.kind == "pi" else [k.project_id]
        for p in projects:
            for f, values in references.get((_fold(k.pi_email), p, k.currency), {}).items():
                found[f] |= values
        d.data["references"] = [
            {"label": labels[f], "numbers": sorted(found[f])} for f in REFERENCE_FIELDS if found[f]
        ]
        d.data["charged_to"] = [
            {"fund": b["fund"], "description": fund_descriptions.get(b["fund"] or ""), "due": b["due"]}
            for b in d.data["fund_blocks"]
        ]
