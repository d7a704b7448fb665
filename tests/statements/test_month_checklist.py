"""The month's checklist (services/month.py) in each state of a month: nothing imported,
charges pending review, ready to close, closed, statements generated, sent, one failed,
the journal exported (a draft does not count), finalized. On SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest

from journal.conftest import DEBIT_ACCOUNTS, journal_sources
from openchargeback.services import month
from openchargeback.services.journal import export_journal
from openchargeback.services.periods import change_status, open_period
from openchargeback.services.statements import generate, send_period

from .conftest import load_sample, review_some

P = "2025-01"


def states(m: month.Month) -> dict[str, str]:
    return {s.key: s.state for s in m.steps}


@pytest.fixture
def mctx(db_url, make_stmt_ctx, smtp_server):
    return make_stmt_ctx(
        db_url, email={"smtp_port": smtp_server.port}, journal=DEBIT_ACCOUNTS, sources=journal_sources()
    )


def test_an_empty_month_starts_with_the_import(mctx):
    open_period(mctx, "2031-07")
    m = month.checklist(mctx, "2031-07")
    assert (m.files, m.rows, m.billed, m.pending) == (0, 0, (), 0)
    assert m.next.key == "import"
    assert m.step("review").reason == "nothing imported yet"
    assert m.step("statements").state == "blocked" and "still open" in m.step("statements").reason


def test_the_month_walks_from_review_to_finalized(mctx, smtp_server):
    load_sample(mctx, P)
    picked = review_some(mctx, P)
    m = month.checklist(mctx, P)
    assert m.files == 5 and m.rows > 0 and dict(m.billed)["USD"] > 0
    assert (m.pending, m.at_stake) == (1, Decimal(picked["pending"][1]))
    assert states(m) == {
        "import": "done",
        "review": "todo",
        "close": "blocked",
        "statements": "blocked",
        "journal": "blocked",
        "finalize": "blocked",
    }
    assert m.next.key == "review" and m.step("close").reason == "1 charge still wait for review"

    from openchargeback.services.review import Selection, approve

    approve(mctx, P, Selection(ids=(picked["pending"][0],)))
    m = month.checklist(mctx, P)
    assert m.pending == 0 and m.next.key == "close" and m.step("close").state == "todo"

    change_status(mctx, P, "close")
    m = month.checklist(mctx, P)
    assert m.next.key == "statements" and m.statements == 0
    assert states(m)["journal"] == "todo" and states(m)["finalize"] == "todo"

    made = generate(mctx, P)
    m = month.checklist(mctx, P)
    assert m.statements == len(made.statements) > 1 and (m.sent, m.unsent) == (0, m.statements)
    assert m.next.key == "statements"

    smtp_server.plan = ["554 5.0.0 refused"]  # the first PI's message fails (permanently)
    send_period(mctx, P)
    m = month.checklist(mctx, P)
    assert m.failed == 1 and 0 < m.sent < m.statements and m.next.key == "statements"

    export_journal(mctx, P, "gl", draft=True, write=False)
    m = month.checklist(mctx, P)
    assert (m.exports, m.posted) == (1, 0)  # a draft is not for posting

    export_journal(mctx, P, "gl", write=False)
    m = month.checklist(mctx, P)
    assert (m.exports, m.posted) == (2, 1) and states(m)["journal"] == "done"
    assert m.next.key == "statements"  # still: a message failed

    from openchargeback.services.statements import message_log, resend_messages

    failed = [x.id for x in message_log(mctx, P) if x.status == "failed"]
    resend_messages(mctx, failed, force=True)
    m = month.checklist(mctx, P)
    assert (m.failed, m.unsent) == (0, 0) and states(m)["statements"] == "done"
    assert m.next.key == "finalize"

    change_status(mctx, P, "finalize")
    m = month.checklist(mctx, P)
    assert m.next is None and set(states(m).values()) == {"done"}
