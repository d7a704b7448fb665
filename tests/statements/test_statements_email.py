"""Emailing statements through a real SMTP server in this process (aiosmtpd): recipients,
subject, both body parts, PDF attachments; temporary failures retried; permanent ones
logged and resendable; nothing emailed twice unless asked; STARTTLS, implicit TLS and
login; the send rate; the dev-mode outbox."""

from __future__ import annotations

import json
import ssl
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from openchargeback.delivery.base import DeliveryError
from openchargeback.delivery.outbox import OutboxSender
from openchargeback.delivery.smtp import SmtpOptions, SmtpSender
from openchargeback.domain.errors import Conflict
from openchargeback.services import statements
from openchargeback.services.statements import reading as views
from openchargeback.services.statements.delivery import resend_messages, send_period
from openchargeback.services.statements.generation import generate

from .conftest import Recorder, close, free_port, load_sample, statement_settings
from .pdf_text import pdf_text, usd

PI = "quib.flannister@example.edu"


def _ctx(make_stmt_ctx, url, port, **email):
    return make_stmt_ctx(url, email={"smtp_port": port, **email})


def _generated(ctx, pi=PI):
    load_sample(ctx)
    close(ctx)
    return generate(ctx, "2025-01", pi=pi)


def test_one_message_per_pi_with_both_parts_and_the_pdfs(db_url, make_stmt_ctx, smtp_server):
    ctx = _ctx(make_stmt_ctx, db_url, smtp_server.port)
    result = _generated(ctx)
    assert len(result.statements) == 2
    report = send_period(ctx, "2025-01")
    assert (report.sent, report.failed, report.transport) == (1, 0, "smtp")
    (got,) = smtp_server.messages
    assert got["from"] == "billing@rc.example.edu"
    assert sorted(got["rcpt"]) == sorted([PI, "dept-admin@example.edu"])  # CC from config
    msg = got["message"]
    assert msg["To"] == PI and msg["Cc"] == "dept-admin@example.edu"
    assert msg["Subject"] == "Research Computing Services: statement for 2025-01"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for s in result.statements:
        for body in (text, html):
            assert s.project_id in body and s.number in body and usd(s.due_total).lstrip("$") in body
    attachments = {a.get_filename(): a.get_content() for a in msg.iter_attachments()}
    pdfs = {n: c for n, c in attachments.items() if n.endswith(".pdf")}
    assert sorted(pdfs) == sorted(f"{s.number}-v1.pdf" for s in result.statements)
    for s in result.statements:
        content = pdfs[f"{s.number}-v1.pdf"]
        assert content.startswith(b"%PDF") and s.number in pdf_text(content)
    assert all(n.endswith("-detail.csv") for n in attachments if not n.endswith(".pdf"))
    (logged,) = statements.message_log(ctx, "2025-01")
    assert (logged.status, logged.attempts) == ("sent", 1)
    assert (logged.to, logged.cc) == ((PI,), ("dept-admin@example.edu",))
    assert sorted(logged.statements) == sorted(f"{s.number} v1" for s in result.statements)
    assert all(r.sent_at is not None for r in views.list_statements(ctx, "2025-01"))

    # Sending twice does not email twice, unless asked.
    again = send_period(ctx, "2025-01")
    assert again.messages == () and again.skipped_sent == 2 and len(smtp_server.messages) == 1
    forced = send_period(ctx, "2025-01", resend=True)
    assert forced.sent == 1 and len(smtp_server.messages) == 2


def test_temporary_failures_are_retried(sqlite_url, make_stmt_ctx, smtp_server):
    ctx = _ctx(make_stmt_ctx, sqlite_url, smtp_server.port)
    _generated(ctx, pi="tarn.voxley@example.edu")
    smtp_server.plan = ["451 4.3.0 mailbox busy", "421 4.7.0 try again later"]
    report = send_period(ctx, "2025-01")
    (m,) = report.messages
    assert (m.status, m.attempts) == ("sent", 3)
    assert len(smtp_server.messages) == 1 and smtp_server.data_calls == 3


def test_temporary_failures_until_retries_run_out(sqlite_url, make_stmt_ctx, smtp_server):
    ctx = _ctx(make_stmt_ctx, sqlite_url, smtp_server.port)
    _generated(ctx, pi="tarn.voxley@example.edu")
    smtp_server.plan = ["451 4.3.0 busy"] * 3
    (m,) = send_period(ctx, "2025-01").messages
    assert (m.status, m.attempts) == ("failed", 3)
    assert "retries exhausted" in m.error and "451" in m.error
    smtp_server.plan = []
    (r,) = resend_messages(ctx, [m.id]).messages
    assert r.status == "sent" and r.resend_of == m.id


def test_permanent_failure_is_logged_and_resent_exactly(
    db_url, make_stmt_ctx, smtp_server, write_config, run_cli, tmp_path
):
    ctx = _ctx(make_stmt_ctx, db_url, smtp_server.port)
    result = _generated(ctx)
    smtp_server.plan = ["550 5.1.1 mailbox unavailable"]
    (m,) = send_period(ctx, "2025-01").messages
    assert (m.status, m.attempts) == ("failed", 1) and "550" in m.error and "permanent" in m.error
    assert smtp_server.messages == []
    assert all(r.sent_at is None for r in views.list_statements(ctx, "2025-01"))

    config = write_config(db_url, **statement_settings(tmp_path, email={"smtp_port": smtp_server.port}))
    code, out, err = run_cli(
        "statements", "messages", "-p", "2025-01", "--status", "failed", "-c", config, "--json"
    )
    assert code == 0 and [x["id"] for x in json.loads(out)] == [m.id]
    code, out, err = run_cli("statements", "resend", m.id, "-c", config, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["sent"] == 1 and report["messages"][0]["resend_of"] == m.id
    (got,) = smtp_server.messages
    assert sorted(got["rcpt"]) == sorted([PI, "dept-admin@example.edu"])
    names = sorted(
        a.get_filename() for a in got["message"].iter_attachments() if a.get_filename().endswith(".pdf")
    )
    assert names == sorted(f"{s.number}-v1.pdf" for s in result.statements)
    # Resending it again, or resending what was delivered, is refused.
    code, out, err = run_cli("statements", "resend", m.id, "-c", config)
    assert code == 1 and "was delivered" in err
    with pytest.raises(Conflict):
        resend_messages(ctx, [report["messages"][0]["id"]])
    code, out, err = run_cli("statements", "resend", "--failed", "-p", "2025-01", "-c", config)
    assert code == 0 and "no failed messages" in out


def test_dev_mode_writes_eml_files_to_the_outbox(sqlite_url, make_stmt_ctx, tmp_path):
    ctx = make_stmt_ctx(sqlite_url, dev_mode=True)
    result = _generated(ctx)
    report = send_period(ctx, "2025-01")
    assert report.transport == "outbox" and report.sent == 1
    (path,) = sorted((tmp_path / "outbox").glob("*.eml"))
    assert report.messages[0].outbox_path == str(path)
    msg = BytesParser(policy=policy.default).parse(path.open("rb"))
    assert msg["To"] == PI
    pdfs = [a for a in msg.iter_attachments() if a.get_filename().endswith(".pdf")]
    assert len(pdfs) == len(result.statements) and pdfs[0].get_content().startswith(b"%PDF")
    send_period(ctx, "2025-01", resend=True)
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2


def test_outbox_file_names_never_collide(tmp_path):
    msg = EmailMessage()
    msg["To"] = "a@example.edu"
    msg.set_content("x")
    paths = {OutboxSender(tmp_path, prefix="2025-01-m1-").send(msg).outbox_path for _ in range(3)}
    assert len(paths) == 3 and all(Path(p).exists() for p in paths)


def _simple_message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.edu", "b@example.edu", "hello"
    msg.set_content("body")
    return msg


def _auth(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login == b"billing" and data.password == b"s3cret"
    return AuthResult(success=ok, handled=False)


def test_starttls_with_login(tls_cert):
    cert, key = tls_cert
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    handler = Recorder()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=server_ctx,
        require_starttls=True,
        authenticator=_auth,
        auth_require_tls=True,
    )
    controller.start()
    try:
        client_ctx = ssl.create_default_context(cafile=str(cert))
        opts = SmtpOptions(
            "127.0.0.1", controller.port, "starttls", "billing", "s3cret", timeout=10, retries=0
        )
        with SmtpSender(opts, ssl_context=client_ctx) as sender:
            assert sender.send(_simple_message()).attempts == 1
        assert len(handler.messages) == 1
    finally:
        controller.stop()


def test_a_refused_login_is_a_permanent_failure():
    handler = Recorder()
    controller = Controller(
        handler, hostname="127.0.0.1", port=free_port(), authenticator=_auth, auth_require_tls=False
    )
    controller.start()
    try:
        bad = SmtpOptions("127.0.0.1", controller.port, "none", "billing", "wrong", timeout=10, retries=2)
        with SmtpSender(bad) as sender, pytest.raises(DeliveryError) as info:
            sender.send(_simple_message())
        assert not info.value.temporary and info.value.attempts == 1 and "535" in info.value.message
        assert handler.messages == []
    finally:
        controller.stop()


def test_implicit_tls(tls_cert):
    cert, key = tls_cert
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    handler = Recorder()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), ssl_context=server_ctx)
    controller.start()
    try:
        opts = SmtpOptions("127.0.0.1", controller.port, "tls", timeout=10, retries=0)
        with SmtpSender(opts, ssl_context=ssl.create_default_context(cafile=str(cert))) as sender:
            sender.send(_simple_message())
        assert len(handler.messages) == 1
    finally:
        controller.stop()


def test_unreachable_server_is_a_temporary_failure_after_retries():
    slept = []
    opts = SmtpOptions("127.0.0.1", free_port(), "none", timeout=2, retries=2, backoff=0.5, rate_per_minute=0)
    with SmtpSender(opts, sleep=slept.append) as sender, pytest.raises(DeliveryError) as info:
        sender.send(_simple_message())
    assert info.value.temporary and info.value.attempts == 3 and slept == [0.5, 1.0]


def test_send_rate_is_respected(smtp_server):
    now = [100.0]
    slept = []

    def sleep(seconds):
        slept.append(round(seconds, 3))
        now[0] += seconds

    opts = SmtpOptions("127.0.0.1", smtp_server.port, "none", rate_per_minute=30, retries=0)
    with SmtpSender(opts, sleep=sleep, clock=lambda: now[0]) as sender:
        for _ in range(3):
            sender.send(_simple_message())
            now[0] += 0.5
    assert slept == [1.5, 1.5] and len(smtp_server.messages) == 3


def test_unsafe_email_settings_are_refused_outside_dev_mode(sqlite_url, make_stmt_ctx):
    from openchargeback.config import EmailSettings
    from openchargeback.delivery import make_sender
    from openchargeback.domain.errors import ConfigError

    default = EmailSettings.model_fields["from_address"].default
    ctx = make_stmt_ctx(sqlite_url, email={"from_address": default})
    with pytest.raises(ConfigError, match="example address"):
        make_sender(ctx.settings)
    ctx = make_stmt_ctx(sqlite_url, email={"username": "u", "password": "p"})  # security: none
    with pytest.raises(ConfigError, match="clear text"):
        make_sender(ctx.settings)
    ctx = make_stmt_ctx(sqlite_url, dev_mode=True, email={"from_address": default})
    assert make_sender(ctx.settings).transport == "outbox"
