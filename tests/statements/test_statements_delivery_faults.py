"""Statement email against a real SMTP server in its own process that misbehaves on
demand (smtp_fault_server.py): refused recipients, a final reply that comes too late or
never, dropped connections, a server that is down; two batches at once; a batch killed
while sending. Every PI ends with exactly one of: delivered once, failed with a reason,
in doubt; and the log says what the server received."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import update

from openchargeback.domain.addresses import BadAddress, parse_address
from openchargeback.domain.errors import Conflict
from openchargeback.services.statements import list_statements, sendlock
from openchargeback.services.statements.delivery import (
    decide_in_doubt,
    failed_messages,
    message_log,
    resend_messages,
    send_period,
)
from openchargeback.services.statements.generation import generate

from .conftest import close, fault_email, free_port, load_sample, statement_settings

PI = "quib.flannister@example.edu"  # copied to dept-admin@example.edu (climate-modeling)
CC = "dept-admin@example.edu"
OTHER = "tarn.voxley@example.edu"
CLI = [str(Path(sys.executable).parent / "openchargeback")]


def _ready(make_stmt_ctx, url, server, pi=PI, **email):
    ctx = make_stmt_ctx(url, email=fault_email(server, **email))
    load_sample(ctx)
    close(ctx)
    generate(ctx, "2025-01", pi=pi)
    return ctx


def _statuses(ctx) -> dict[int, str]:
    return {m.id: m.status for m in message_log(ctx, "2025-01")}


def _outcome(m, address) -> dict:
    (o,) = [r for r in m.recipients if r["address"] == address]
    return o


# -- 1. a refused recipient is not "sent" ---------------------------------------------------------
def test_a_refused_pi_is_failed_and_resent_to_the_pi_only(sqlite_url, make_stmt_ctx, fault_smtp):
    ctx = _ready(make_stmt_ctx, sqlite_url, fault_smtp)
    fault_smtp.plan(rcpt={PI: "550 5.1.1 no such mailbox"})
    (m,) = send_period(ctx, "2025-01").messages
    assert m.status == "failed"  # before: "sent", because the CC accepted it
    assert _outcome(m, PI) == {
        "address": PI,
        "kind": "to",
        "status": "refused_permanent",
        "reply": "550 5.1.1 no such mailbox",
    }
    assert _outcome(m, CC)["status"] == "accepted"
    assert fault_smtp.copies() == {CC: 1}
    assert failed_messages(ctx, "2025-01") == [m.id]

    fault_smtp.plan()
    (r,) = resend_messages(ctx, [m.id]).messages
    assert r.status == "sent" and r.resend_of == m.id
    assert fault_smtp.copies() == {CC: 1, PI: 1}  # the CC is not sent it twice
    first, second = fault_smtp.received()
    assert first["message_id"] == second["message_id"] == m.message_id  # recognisable
    assert second["to"] == PI and second["cc"] == CC  # the same headers
    assert failed_messages(ctx, "2025-01") == []
    assert send_period(ctx, "2025-01").messages == ()  # the statements count as sent


def test_a_refused_cc_makes_the_message_partial(db_url, make_stmt_ctx, fault_smtp):
    ctx = _ready(make_stmt_ctx, db_url, fault_smtp)
    fault_smtp.plan(rcpt={CC: "551 5.1.6 moved"})
    report = send_period(ctx, "2025-01")
    (m,) = report.messages
    assert m.status == "partial" and report.sent == 1 and report.failed == 0
    assert "551 5.1.6 moved" in m.error and _outcome(m, CC)["status"] == "refused_permanent"
    assert fault_smtp.copies() == {PI: 1}
    assert failed_messages(ctx, "2025-01") == [m.id]
    fault_smtp.plan()
    (r,) = resend_messages(ctx, [m.id]).messages
    assert r.status == "sent" and fault_smtp.copies() == {PI: 1, CC: 1}


def test_a_temporarily_refused_recipient_is_retried_alone(sqlite_url, make_stmt_ctx, fault_smtp):
    ctx = _ready(make_stmt_ctx, sqlite_url, fault_smtp)
    fault_smtp.plan(rcpt={CC: ["451 4.2.1 greylisted"]})
    (m,) = send_period(ctx, "2025-01").messages
    assert (m.status, m.attempts) == ("sent", 2)
    assert [r["rcpt"] for r in fault_smtp.received()] == [[PI], [CC]]


def test_every_recipient_refused_temporarily_until_retries_run_out(sqlite_url, make_stmt_ctx, fault_smtp):
    ctx = _ready(make_stmt_ctx, sqlite_url, fault_smtp, pi=OTHER)
    fault_smtp.plan(rcpt={OTHER: "450 4.2.0 mailbox busy"})
    (m,) = send_period(ctx, "2025-01").messages
    assert (m.status, m.attempts) == ("failed", 3)
    assert _outcome(m, OTHER) == {
        "address": OTHER,
        "kind": "to",
        "status": "refused_temporary",
        "reply": "450 4.2.0 mailbox busy",
    }
    assert fault_smtp.received() == []


# -- 3. the final reply after DATA ----------------------------------------------------------------
def test_a_slow_final_reply_is_in_doubt_never_retried(
    db_url, make_stmt_ctx, fault_smtp, write_config, run_cli, tmp_path
):
    ctx = _ready(make_stmt_ctx, db_url, fault_smtp, pi=OTHER)
    fault_smtp.plan(data=["delay:2.5"])  # the final reply comes after the 1 s final timeout
    report = send_period(ctx, "2025-01")
    (m,) = report.messages
    assert (m.status, m.attempts) == ("in_doubt", 1)  # before: retried, 3 copies, "failed"
    assert "no final reply" in m.error and _outcome(m, OTHER)["status"] == "in_doubt"
    assert report.in_doubt == 1
    fault_smtp.wait_for(lambda: len(fault_smtp.received()) == 1)
    assert len(fault_smtp.data_started()) == 1

    # --send skips it and says so; resend needs the explicit decision; --failed leaves it.
    again = send_period(ctx, "2025-01")
    assert again.messages == () and again.in_doubt_held == (m.id,)
    assert failed_messages(ctx, "2025-01") == []
    with pytest.raises(Conflict, match="in doubt"):
        resend_messages(ctx, [m.id])
    config = write_config(db_url, **statement_settings(tmp_path, email=fault_email(fault_smtp)))
    code, out, err = run_cli("generate", "-p", "2025-01", "--send", "-c", config)
    assert code == 0 and f"in-doubt message(s) {m.id}" in err
    code, out, err = run_cli("statements", "mark-delivered", m.id, "--note", "PI has it", "-c", config)
    assert code == 0 and "is now sent" in out
    (logged,) = [x for x in message_log(ctx, "2025-01") if x.id == m.id]
    assert logged.status == "sent" and "PI has it" in logged.decision
    assert fault_smtp.copies()[OTHER] == 1  # exactly one copy, ever (the others went to other PIs)


def test_a_connection_dropped_after_data_is_in_doubt_and_resent_only_when_asked(
    sqlite_url, make_stmt_ctx, fault_smtp, write_config, run_cli, tmp_path
):
    ctx = _ready(make_stmt_ctx, sqlite_url, fault_smtp, pi=OTHER)
    fault_smtp.plan(data=["accept_drop"])
    (m,) = send_period(ctx, "2025-01").messages
    assert m.status == "in_doubt" and len(fault_smtp.received()) == 1
    config = write_config(sqlite_url, **statement_settings(tmp_path, email=fault_email(fault_smtp)))
    code, out, err = run_cli("statements", "resend", m.id, "-c", config)
    assert code == 1 and "in doubt" in err
    code, out, err = run_cli("statements", "resend", "--in-doubt", "-p", "2025-01", "-c", config, "--json")
    assert code == 0, err
    (r,) = json.loads(out)["messages"]
    assert r["status"] == "sent" and r["resend_of"] == m.id
    first, second = fault_smtp.received()
    assert first["message_id"] == second["message_id"]  # the PI can tell it is the same message
    (old,) = [x for x in message_log(ctx, "2025-01") if x.id == m.id]
    assert old.status == "in_doubt" and f"resent as message {r['id']}" in old.decision


def test_a_drop_before_the_reply_without_keeping_it_marked_failed_is_sent_again(
    sqlite_url, make_stmt_ctx, fault_smtp
):
    ctx = _ready(make_stmt_ctx, sqlite_url, fault_smtp, pi=OTHER)
    fault_smtp.plan(data=["drop"])
    (m,) = send_period(ctx, "2025-01").messages
    assert m.status == "in_doubt" and fault_smtp.received() == []
    decided = decide_in_doubt(ctx, m.id, delivered=False, note="not in the PI's mailbox")
    assert decided.status == "failed"
    (again,) = send_period(ctx, "2025-01").messages
    assert again.status == "sent" and again.id != m.id and fault_smtp.copies() == {OTHER: 1}


def test_a_failure_before_data_is_still_retried(sqlite_url, make_stmt_ctx, fault_smtp):
    ctx = _ready(make_stmt_ctx, sqlite_url, fault_smtp, pi=OTHER)
    fault_smtp.plan(data=["451 4.3.0 try later", "421 4.7.0 closing"])
    (m,) = send_period(ctx, "2025-01").messages
    assert (m.status, m.attempts) == ("sent", 3) and fault_smtp.copies() == {OTHER: 1}


# -- 5. recipients ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad",
    [
        "victim.pi@example.edu, attacker@evil.test",
        "victim.pi@example.edu\r\nBcc: attacker@evil.test",
        "Victim <victim.pi@example.edu>",
        "not an address",
    ],
)
def test_parse_address_refuses_anything_but_one_address(bad):
    with pytest.raises(BadAddress):
        parse_address(bad)


def test_parse_address_and_allowed_domains():
    assert parse_address(" a.b@example.edu ") == "a.b@example.edu"
    assert parse_address("a@dept.example.edu", ["example.edu"]) == "a@dept.example.edu"
    with pytest.raises(BadAddress, match="allowed domains"):
        parse_address("a@example.com", ["example.edu"])


def test_a_bad_pi_address_fails_its_message_and_the_run_goes_on(sqlite_url, make_stmt_ctx, fault_smtp):
    from openchargeback.storage.statement_tables import statements

    ctx = make_stmt_ctx(sqlite_url, email=fault_email(fault_smtp))
    load_sample(ctx)
    close(ctx)
    generate(ctx, "2025-01")
    hostile = {
        PI: "victim.pi@example.edu, attacker@evil.test",
        OTHER: "victim.pi@example.edu\r\nBcc: attacker@evil.test",
    }
    with ctx.engine.begin() as conn:
        for pi, value in hostile.items():
            conn.execute(update(statements).where(statements.c.pi_email == pi).values(pi_email=value))
    report = send_period(ctx, "2025-01")
    by_pi = {m.pi_email: m for m in report.messages}
    for value in hostile.values():
        assert by_pi[value].status == "failed" and "PI address is refused" in by_pi[value].error
    others = [m for m in report.messages if m.pi_email not in hostile.values()]
    assert others and all(m.status == "sent" for m in others)
    got = fault_smtp.copies()
    assert "attacker@evil.test" not in got and not any("victim" in a for a in got)
    assert got == {m.pi_email: 1 for m in others}  # the CC of a refused PI gets nothing either


def test_allowed_domains_refuse_a_pi_outside_them(sqlite_url, make_stmt_ctx, fault_smtp):
    ctx = _ready(make_stmt_ctx, sqlite_url, fault_smtp, pi=OTHER, allowed_domains=["rc.example.edu"], cc={})
    (m,) = send_period(ctx, "2025-01").messages
    assert m.status == "failed" and "outside the allowed domains" in m.error
    assert fault_smtp.received() == []


def test_a_cc_that_is_not_one_address_is_refused_in_the_configuration(sqlite_url, make_stmt_ctx):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="exactly one address"):
        make_stmt_ctx(sqlite_url, email={"cc": {"climate-modeling": ["a@example.edu, b@evil.test"]}})


# -- 6. fail fast -------------------------------------------------------------------------------------
def test_a_server_that_is_down_stops_the_batch_after_the_first_message(sqlite_url, make_stmt_ctx):
    ctx = make_stmt_ctx(sqlite_url, email={"smtp_port": free_port(), "retries": 1, "timeout_seconds": 1})
    load_sample(ctx)
    close(ctx)
    generate(ctx, "2025-01")
    started = time.monotonic()
    report = send_period(ctx, "2025-01")
    assert time.monotonic() - started < 10
    first, *rest = report.messages
    assert first.status == "failed" and first.attempts == 2 and "ConnectionRefused" in first.error
    assert rest and all(m.status == "failed" and m.attempts == 0 for m in rest)
    assert all("not attempted" in m.error and "could not be reached" in m.error for m in rest)
    assert report.stopped and "could not be reached" in report.stopped
    assert len(failed_messages(ctx, "2025-01")) == len(report.messages)  # all sent by the next run


# -- 2. one batch at a time -------------------------------------------------------------------------
def test_a_second_batch_is_refused_naming_the_first(sqlite_url, make_stmt_ctx, fault_smtp):
    ctx = _ready(make_stmt_ctx, sqlite_url, fault_smtp, pi=OTHER)
    with ctx.read() as conn:
        from openchargeback.services import lookup

        pid = lookup.period(conn, "2025-01").id
    with (
        sendlock.holding(ctx, pid, "2025-01") as batch,
        pytest.raises(Conflict, match=f"being sent by another batch {batch.token[:8]} started by tester"),
    ):
        send_period(ctx, "2025-01")
    assert send_period(ctx, "2025-01").sent == 1


def _cli(config, *args, **kw):
    return subprocess.Popen(
        [*CLI, *args, "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw
    )


@pytest.mark.slow
def test_two_concurrent_sends_email_each_pi_once(db_url, make_stmt_ctx, fault_smtp, write_config, tmp_path):
    ctx = make_stmt_ctx(db_url, email=fault_email(fault_smtp))
    load_sample(ctx)
    close(ctx)
    made = generate(ctx, "2025-01")
    pis = {s.pi_email for s in made.statements if s.pi_email}
    fault_smtp.plan(data=["delay:0.3"] * 20)  # a batch takes a few seconds: they overlap
    config = write_config(
        db_url, **statement_settings(tmp_path, email=fault_email(fault_smtp, final_reply_timeout_seconds=5))
    )
    procs = [_cli(config, "generate", "-p", "2025-01", "--send") for _ in range(2)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    for code, out, err in results:
        assert code == 0 or "being sent by another batch" in err, (code, out, err)
    assert any(code == 0 for code, _, _ in results)
    got = fault_smtp.copies()
    assert {a: n for a, n in got.items() if a in pis} == {p: 1 for p in pis}  # before: 2 each
    assert sorted(m.pi_email for m in message_log(ctx, "2025-01") if m.status == "sent") == sorted(pis)


# -- 4. a batch killed while sending ------------------------------------------------------------------
@pytest.mark.slow
def test_a_batch_killed_while_sending_is_not_sent_twice(
    db_url, make_stmt_ctx, fault_smtp, write_config, tmp_path
):
    ctx = make_stmt_ctx(db_url, email=fault_email(fault_smtp))
    load_sample(ctx)
    close(ctx)
    made = generate(ctx, "2025-01")
    pis = sorted({s.pi_email for s in made.statements if s.pi_email})
    fault_smtp.plan(data=["250", "delay:3"])  # the second message is in the server's hands
    config = write_config(
        db_url, **statement_settings(tmp_path, email=fault_email(fault_smtp, final_reply_timeout_seconds=30))
    )
    proc = _cli(config, "generate", "-p", "2025-01", "--send", start_new_session=True)
    fault_smtp.wait_for(lambda: len(fault_smtp.data_started()) == 2, timeout=60)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)  # reaped: its pid is gone
    in_flight = fault_smtp.data_started()[1].split(",")[0]
    fault_smtp.wait_for(lambda: len(fault_smtp.received()) == 2)

    again = _cli(config, "generate", "-p", "2025-01", "--send")
    code = again.wait(timeout=120)
    err = again.stderr.read()
    assert code == 0 and "now in doubt" in err and "in-doubt message(s)" in err, err
    log = message_log(ctx, "2025-01")
    doubt = [m for m in log if m.status == "in_doubt"]
    assert [m.pi_email for m in doubt] == [in_flight] and "process sending it stopped" in doubt[0].error
    assert not [m for m in log if m.status in ("queued", "sending")]
    copies = fault_smtp.copies()
    assert {p: copies.get(p) for p in pis} == {p: 1 for p in pis}  # nothing twice, nobody forgotten
    assert set(copies.values()) == {1}  # nor a CC
    delivered = sorted(m.pi_email for m in log if m.status == "sent")
    assert delivered == [p for p in pis if p != in_flight]


def test_an_imported_pi_that_is_not_one_address_is_flagged_and_never_a_recipient(
    sqlite_url, make_stmt_ctx, fault_smtp, tmp_path
):
    from focus_builders import row, write_csv
    from openchargeback.services import review as rv
    from openchargeback.services.ingest.loading import ingest

    hostile = "victim.pi@example.edu, attacker@evil.test"
    ctx = make_stmt_ctx(sqlite_url, email=fault_email(fault_smtp))
    good = {"pi_email": OTHER, "project_id": "proj-ok", "fund_org": "FUND-1"}
    path = write_csv(
        tmp_path / "hostile.csv",
        [
            row(cost="10.00", tags=good),
            row(cost="20.00", tags={"pi_email": hostile, "project_id": "proj-x", "fund_org": "FUND-1"}),
        ],
    )
    ingest(ctx, path, "aws", period="2025-01")
    queue = rv.list_queue(ctx, "2025-01", rv.Selection(reason="pi_not_email"))
    assert [i.pi_email for i in queue.items] == [hostile]
    assert "not exactly one plain email address" in queue.items[0].reasons[0]
    rv.approve(ctx, "2025-01", rv.Selection(reason="pi_not_email"), note="approved anyway")
    close(ctx)
    generate(ctx, "2025-01")
    report = send_period(ctx, "2025-01")
    by_pi = {m.pi_email: m for m in report.messages}
    assert by_pi[hostile].status == "failed" and "PI address is refused" in by_pi[hostile].error
    assert by_pi[OTHER].status == "sent"
    assert fault_smtp.copies() == {OTHER: 1}  # neither the victim nor the attacker


# -- 6. a withdrawn statement is announced ------------------------------------------------------
def test_a_project_moved_to_another_pi_after_sending_is_announced_once(db_url, make_stmt_ctx, fault_smtp):
    from openchargeback.services import review as rv
    from openchargeback.services.periods import change_status

    ctx = make_stmt_ctx(db_url, email=fault_email(fault_smtp))
    load_sample(ctx)
    close(ctx)
    (v1,) = generate(ctx, "2025-01", project="climate-modeling").statements
    assert v1.pi_email == PI
    (first,) = send_period(ctx, "2025-01").messages
    assert first.status == "sent" and fault_smtp.copies() == {PI: 1, CC: 1}

    change_status(ctx, "2025-01", "reopen", "the project belongs to another PI")
    rv.correct(ctx, "2025-01", rv.Selection(project_id="climate-modeling", status="all"), pi_email=OTHER)
    close(ctx)
    made = generate(ctx, "2025-01", project="climate-modeling")
    (new,) = [s for s in made.statements if s.action != "withdrawn"]
    assert new.pi_email == OTHER

    report = send_period(ctx, "2025-01")
    by_kind = {m.kind: m for m in report.messages}
    assert sorted(by_kind) == ["notice", "statement"] and len(report.messages) == 2
    statement, notice = by_kind["statement"], by_kind["notice"]
    assert statement.status == "sent" and statement.to == (OTHER,)
    assert statement.statements == (f"{new.number} v{new.version}",)
    assert notice.status == "sent" and notice.to == (PI,) and notice.cc == (CC,)
    assert notice.statements == (f"{v1.number} v{v1.version}",)
    assert fault_smtp.copies() == {PI: 2, CC: 3, OTHER: 1}
    (got,) = [r for r in fault_smtp.received() if r["message_id"] == notice.message_id]
    assert "correction" in got["subject"]
    text = got["text"]
    assert f"{v1.number} version {v1.version}" in text and f"{new.number} version {new.version}" in text
    assert f"${v1.due_total:,.2f}".replace(",", "") in text.replace(",", "")
    assert f"${new.due_total:,.2f}".replace(",", "") in text.replace(",", "")
    assert "nothing is due from you" in text

    again = send_period(ctx, "2025-01")
    assert again.messages == () and fault_smtp.copies() == {PI: 2, CC: 3, OTHER: 1}
    assert [m.kind for m in message_log(ctx, "2025-01")] == ["statement", "statement", "notice"]
    assert failed_messages(ctx, "2025-01") == []


def test_a_withdrawn_statement_is_announced_as_nothing_due_and_a_failed_notice_is_sent_again(
    sqlite_url, make_stmt_ctx, fault_smtp
):
    from openchargeback.services import review as rv
    from openchargeback.services.periods import change_status

    ctx = make_stmt_ctx(sqlite_url, email=fault_email(fault_smtp, cc={}))
    load_sample(ctx)
    close(ctx)
    (v1,) = generate(ctx, "2025-01", project="climate-modeling").statements
    send_period(ctx, "2025-01")
    change_status(ctx, "2025-01", "reopen", "not billable")
    rv.reject(ctx, "2025-01", rv.Selection(project_id="climate-modeling", status="all"), note="not ours")
    close(ctx)
    generate(ctx, "2025-01", project="climate-modeling")
    fault_smtp.plan(rcpt={PI: "550 5.1.1 no such mailbox"})
    (notice,) = send_period(ctx, "2025-01").messages
    assert (notice.kind, notice.status) == ("notice", "failed")
    assert failed_messages(ctx, "2025-01") == [notice.id]
    fault_smtp.plan()
    (again,) = send_period(ctx, "2025-01").messages
    assert (again.kind, again.status) == ("notice", "sent") and again.id != notice.id
    statement_copy, got = fault_smtp.received()  # the statement of the first send, the notice
    assert got["message_id"] == again.message_id != statement_copy["message_id"]
    assert f"{v1.number} version {v1.version}" in got["text"] and "nothing is due on it" in got["text"]
    assert failed_messages(ctx, "2025-01") == []  # the failed one was announced by the second
    assert send_period(ctx, "2025-01").messages == ()


# -- randomized: any schedule of refusals, slow replies and drops ---------------------------------
DATA_STEPS = ("250", "250", "451 4.3.0 busy", "554 5.6.0 rejected", "delay:2", "drop", "accept_drop")
RCPT_REPLIES = ("550 5.1.1 no such mailbox", "451 4.2.0 try later", ["451 4.2.0 try later"])


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6))
def test_random_schedules_leave_each_pi_in_one_state_that_matches_the_server(
    seed, sqlite_url, make_stmt_ctx, fault_smtp
):
    """For a random schedule of refused recipients and DATA outcomes (refusal, a final
    reply after the timeout, a dropped connection with or without the message kept),
    every PI with a statement has exactly one message, in exactly one of delivered
    (sent/partial, the server kept one copy for the PI), failed (no copy) or in doubt
    (at most one copy); nobody gets two copies."""
    rnd = random.Random(seed)
    ctx = make_stmt_ctx(sqlite_url, email=fault_email(fault_smtp))
    load_sample(ctx)
    close(ctx)
    generate(ctx, "2025-01")
    pis = sorted({s.pi_email for s in list_statements(ctx, "2025-01") if s.pi_email})
    assert len(pis) >= 3
    rcpt = {pi: rnd.choice(RCPT_REPLIES) for pi in pis if rnd.random() < 0.3}
    data = [rnd.choice(DATA_STEPS) for _ in range(len(pis) * 2)]
    fault_smtp.plan(rcpt=rcpt, data=data)

    report = send_period(ctx, "2025-01")
    log = message_log(ctx, "2025-01")
    assert {m.id for m in report.messages} == {m.id for m in log}
    by_pi: dict[str, list] = {}
    for m in log:
        by_pi.setdefault(m.pi_email, []).append(m)
    assert sorted(by_pi) == pis  # every PI, one message each
    copies = fault_smtp.copies()
    for pi, (m,) in by_pi.items():
        got = copies.get(pi, 0)
        assert m.status in ("sent", "partial", "failed", "in_doubt"), (seed, m)
        if m.status in ("sent", "partial"):
            assert got == 1, (seed, pi, m)
            assert _outcome(m, pi)["status"] == "accepted"
        elif m.status == "failed":
            assert got == 0 and m.error, (seed, pi, m)
        else:
            assert got <= 1, (seed, pi, m)
    assert all(n <= 1 for n in copies.values()), (seed, copies)

    # a second --send sends nothing twice: whatever the server kept stays one copy
    fault_smtp.plan()
    send_period(ctx, "2025-01")
    assert all(n <= 1 for a, n in fault_smtp.copies().items() if a in pis), seed
