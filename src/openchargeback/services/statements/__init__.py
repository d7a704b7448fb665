"""Statements: generate a closed period's statements (:mod:`.generation`) from their lines
(:mod:`.lines`), print them (:mod:`.render`), keep their files in the output directory as
stored (:mod:`.files`), email them with a log of every message
(:mod:`.delivery`), and read them back (:mod:`.reading`).
"""

from openchargeback.services.statements.delivery import (
    DeliveryReport,
    MessageOutcome,
    decide_in_doubt,
    failed_messages,
    in_doubt_messages,
    message_log,
    resend_messages,
    send_period,
)
from openchargeback.services.statements.files import check_statement_files
from openchargeback.services.statements.generation import GenerateResult, StatementItem, generate
from openchargeback.services.statements.reading import (
    get_statement,
    list_statements,
    preview_html,
    statement_file,
)
from openchargeback.services.statements.render import context_for, renderer_for

__all__ = [
    "DeliveryReport",
    "MessageOutcome",
    "GenerateResult",
    "StatementItem",
    "check_statement_files",
    "context_for",
    "decide_in_doubt",
    "failed_messages",
    "generate",
    "get_statement",
    "in_doubt_messages",
    "list_statements",
    "message_log",
    "preview_html",
    "renderer_for",
    "resend_messages",
    "send_period",
    "statement_file",
]
