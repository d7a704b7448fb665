"""The review workflow: the queue of flagged charges (queue), decisions and a charge's
history (decide), attribution corrections optionally saved as rules for future imports
(correct), the review rules, their preview and re-checking a period (rules), and keeping
decisions across a --replace re-import (carryover). Which charges an action is about is
a :class:`Selection` (selection).

This package's public API is what it imports here; callers inside ``services`` import
the exact submodule.
"""

from openchargeback.services.review.carryover import carry_over
from openchargeback.services.review.correct import correct
from openchargeback.services.review.decide import Action, approve, history, reject
from openchargeback.services.review.queue import Queue, QueueItem, list_queue, pending
from openchargeback.services.review.rules import (
    Example,
    Preview,
    ReasonCount,
    apply_growth_rule,
    current_rules,
    preview_rules,
    recheck,
    set_rules,
)
from openchargeback.services.review.selection import STATUSES, ActionResult, Selection

__all__ = [
    "STATUSES",
    "Action",
    "ActionResult",
    "Example",
    "Preview",
    "Queue",
    "QueueItem",
    "ReasonCount",
    "Selection",
    "apply_growth_rule",
    "approve",
    "carry_over",
    "correct",
    "current_rules",
    "history",
    "list_queue",
    "pending",
    "preview_rules",
    "recheck",
    "reject",
    "set_rules",
]
