"""Transitional: the review package's API under its former module name, for the callers
not moved yet (cli/review.py, services/ingest/loading.py, web/routes/pages.py and some
tests and benchmarks). Import :mod:`openchargeback.services.review` (or, inside
``services``, its submodule) instead; this module goes once they do.
"""

from openchargeback.services.review import (
    STATUSES,
    Action,
    ActionResult,
    Example,
    Preview,
    Queue,
    QueueItem,
    ReasonCount,
    Selection,
    apply_growth_rule,
    approve,
    carry_over,
    correct,
    current_rules,
    history,
    list_queue,
    pending,
    preview_rules,
    recheck,
    reject,
    set_rules,
)

__all__ = ["STATUSES", "Action", "ActionResult", "Example", "Preview", "Queue", "QueueItem",
           "ReasonCount", "Selection", "apply_growth_rule", "approve", "carry_over", "correct",
           "current_rules", "history", "list_queue", "pending", "preview_rules", "recheck",
           "reject", "set_rules"]
