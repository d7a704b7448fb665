"""The PI portal: who holds which PIs (:mod:`.access`), what they see (:mod:`.views`),
disputes and acknowledgements (:mod:`.disputes`). Every read takes a Scope."""

from openchargeback.domain.scope import ALL, Scope
from openchargeback.services.portal.access import (
    Link,
    delegates_of,
    grant,
    link_by_email,
    link_pi,
    list_links,
    scope_for,
    unlink,
)
from openchargeback.services.portal.disputes import (
    DECISIONS,
    Dispute,
    acknowledge,
    decide_dispute,
    list_disputes,
    raise_dispute,
)
from openchargeback.services.portal.views import (
    Home,
    ProjectCost,
    SentStatement,
    home,
    sent_statement,
    sent_statements,
    statement_file,
    statement_preview,
    totals,
)

__all__ = [
    "ALL",
    "DECISIONS",
    "Dispute",
    "Home",
    "Link",
    "ProjectCost",
    "Scope",
    "SentStatement",
    "acknowledge",
    "decide_dispute",
    "delegates_of",
    "grant",
    "home",
    "link_by_email",
    "link_pi",
    "list_disputes",
    "list_links",
    "raise_dispute",
    "scope_for",
    "sent_statement",
    "sent_statements",
    "statement_file",
    "statement_preview",
    "totals",
    "unlink",
]
