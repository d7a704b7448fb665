"""Sending over SMTP: STARTTLS or implicit TLS, login when configured, a short command
timeout, retries with exponential backoff on temporary failures and a send rate.

Each recipient's reply is kept (:class:`~openchargeback.delivery.base.RecipientOutcome`):
``smtplib`` returns the refused recipients as a dict and raises only when all are
refused. A recipient refused with 4xx is retried (alone: those accepted already are not
sent the message again); 5xx is final.

The end of DATA is the point of no return (RFC 5321 4.5.3.2.6): once the message is
transmitted, the server may deliver it whether or not its reply reaches us. The final
reply is awaited for ``final_reply_timeout`` (10 minutes by default, as the RFC advises)
and a timeout or a dropped connection at that point is *in doubt*: reported, never
retried. A failure before the end of DATA (connecting, MAIL, RCPT, the DATA command) is
temporary and retried as before.

One connection serves a batch; it is opened on the first message and reopened after a
failure."""

from __future__ import annotations

import contextlib
import re
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses
from typing import TYPE_CHECKING

from openchargeback.delivery.base import (
    ACCEPTED,
    IN_DOUBT,
    NOT_ATTEMPTED,
    REFUSED_PERMANENT,
    REFUSED_TEMPORARY,
    DeliveryError,
    RecipientOutcome,
    SendResult,
)

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


@dataclass(frozen=True)
class SmtpOptions:
    host: str
    port: int
    security: str = "starttls"  # starttls | tls | none
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0  # connecting and each command
    retries: int = 3
    backoff: float = 2.0
    rate_per_minute: int = 60  # 0: no limit
    final_reply_timeout: float = 600.0  # the reply after the end of DATA


class InDoubt(smtplib.SMTPException):
    """The message was transmitted; its final reply never came."""


def _data(
    conn: smtplib.SMTP, msg: ReadableBuffer | str, final_timeout: float, timeout: float
) -> tuple[int, bytes]:
    """``SMTP.data`` with two changes: the final reply is awaited with its own timeout, and
    losing it raises InDoubt (never a retryable error)."""
    conn.putcmd("data")
    code, repl = conn.getreply()
    if code != 354:
        raise smtplib.SMTPDataError(code, repl)
    raw = re.sub(r"(?:\r\n|\n|\r(?!\n))", "\r\n", msg).encode("ascii") if isinstance(msg, str) else bytes(msg)
    q = re.sub(rb"(?m)^\.", b"..", raw)
    if q[-2:] != b"\r\n":
        q += b"\r\n"
    conn.send(q + b".\r\n")
    try:
        if conn.sock is not None:
            conn.sock.settimeout(final_timeout)
        code, repl = conn.getreply()
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        raise InDoubt(
            f"no final reply after the message was transmitted (waited up to {final_timeout:g} s): {exc}"
        ) from None
    if conn.sock is not None:
        conn.sock.settimeout(timeout)
    return code, repl


class _Smtp(smtplib.SMTP):
    final_reply_timeout: float = 600.0
    command_timeout: float = 30.0

    def data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        return _data(self, msg, self.final_reply_timeout, self.command_timeout)


class _SmtpSsl(smtplib.SMTP_SSL):
    final_reply_timeout: float = 600.0
    command_timeout: float = 30.0

    def data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        return _data(self, msg, self.final_reply_timeout, self.command_timeout)


class _Unreachable(Exception):
    def __init__(self, exc: BaseException):
        super().__init__(str(exc))
        self.exc = exc


def _temporary(exc: BaseException) -> bool:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(400 <= c < 500 for c in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
        return True
    return isinstance(exc, TimeoutError | ConnectionError | OSError) and not isinstance(exc, ssl.SSLError)


def _text(msg: bytes | str) -> str:
    return msg.decode(errors="replace") if isinstance(msg, bytes) else str(msg)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "recipients refused: " + "; ".join(
            f"{addr}: {code} {_text(msg)}" for addr, (code, msg) in exc.recipients.items()
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, InDoubt):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _outcome(address: str, code: int, msg: bytes | str) -> RecipientOutcome:
    status = REFUSED_TEMPORARY if 400 <= code < 500 else REFUSED_PERMANENT
    return RecipientOutcome(address, status, f"{code} {_text(msg)}")


def envelope_recipients(message: EmailMessage) -> list[str]:
    return [a for _, a in getaddresses(message.get_all("To", []) + message.get_all("Cc", [])) if a]


class SmtpSender:
    transport = "smtp"

    def __init__(
        self,
        options: SmtpOptions,
        *,
        ssl_context: ssl.SSLContext | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.o = options
        self.ssl_context = ssl_context
        self.sleep = sleep
        self.clock = clock
        self._conn: smtplib.SMTP | None = None
        self._last_send: float | None = None

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        o = self.o
        conn: _Smtp | _SmtpSsl
        try:
            if o.security == "tls":
                conn = _SmtpSsl(o.host, o.port, timeout=o.timeout, context=self._context())
            else:
                conn = _Smtp(o.host, o.port, timeout=o.timeout)
        except (smtplib.SMTPException, OSError) as exc:
            raise _Unreachable(exc) from None
        conn.final_reply_timeout = o.final_reply_timeout
        conn.command_timeout = o.timeout
        try:
            conn.ehlo()
            if o.security == "starttls":
                conn.starttls(context=self._context())
                conn.ehlo()
            if o.username:
                conn.login(o.username, o.password or "")
        except BaseException:
            _quietly_close(conn)
            raise
        return conn

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (smtplib.SMTPException, OSError):
                _quietly_close(self._conn)
            self._conn = None

    def _pace(self) -> None:
        if self.o.rate_per_minute <= 0 or self._last_send is None:
            return
        wait = 60.0 / self.o.rate_per_minute - (self.clock() - self._last_send)
        if wait > 0:
            self.sleep(wait)

    def send(self, message: EmailMessage, recipients: list[str] | None = None) -> SendResult:
        """Deliver to ``recipients`` (default: To and Cc). Returns when at least one
        recipient accepted it (the others' refusals are in the result); raises
        DeliveryError when nobody did, or when the outcome is in doubt."""
        pending = list(recipients if recipients is not None else envelope_recipients(message))
        done: dict[str, RecipientOutcome] = {}
        attempts = 0
        delay = self.o.backoff
        where = f"{self.o.host}:{self.o.port}"
        while True:
            attempts += 1
            self._pace()
            try:
                if self._conn is None:
                    self._conn = self._connect()
                self._last_send = self.clock()
                refused = self._conn.send_message(message, to_addrs=pending)
                for addr in pending:
                    done[addr] = (
                        _outcome(addr, *refused[addr])
                        if addr in refused
                        else RecipientOutcome(addr, ACCEPTED)
                    )
                error: BaseException | None = None
            except smtplib.SMTPRecipientsRefused as exc:  # every one of them refused
                for addr in pending:
                    code, msg = exc.recipients.get(addr, (451, b"not tried"))
                    done[addr] = _outcome(addr, code, msg)
                error = exc
                self._close()
            except InDoubt as exc:
                self._close()
                for addr in pending:
                    done[addr] = RecipientOutcome(addr, IN_DOUBT, str(exc))
                raise DeliveryError(
                    f"in doubt after {attempts} attempt(s) via {where}: {exc}; not retried "
                    f"(the server may have delivered it)",
                    temporary=False,
                    attempts=attempts,
                    in_doubt=True,
                    recipients=self._ordered(done, recipients, message),
                ) from None
            except (_Unreachable, smtplib.SMTPException, OSError) as exc:
                self._last_send = self.clock()
                self._close()
                cause = exc.exc if isinstance(exc, _Unreachable) else exc
                temporary = _temporary(cause)
                if not temporary or attempts > self.o.retries:
                    what = "temporary failure, retries exhausted" if temporary else "permanent failure"
                    reply = _describe(cause)
                    status = REFUSED_TEMPORARY if temporary else REFUSED_PERMANENT
                    for addr in pending:
                        done[addr] = RecipientOutcome(
                            addr, status if not isinstance(exc, _Unreachable) else NOT_ATTEMPTED, reply
                        )
                    raise DeliveryError(
                        f"{what} after {attempts} attempt(s) via {where}: {reply}",
                        temporary=temporary,
                        attempts=attempts,
                        unreachable=isinstance(exc, _Unreachable),
                        recipients=self._ordered(done, recipients, message),
                    ) from None
                self.sleep(delay)
                delay *= 2
                continue
            pending = [a for a in pending if done[a].status == REFUSED_TEMPORARY]
            accepted = any(o.status == ACCEPTED for o in done.values())
            if not pending or attempts > self.o.retries:
                result = self._ordered(done, recipients, message)
                if accepted:
                    return SendResult(attempts=attempts, recipients=result)
                temporary = any(o.status == REFUSED_TEMPORARY for o in result)
                what = "temporary failure, retries exhausted" if temporary else "permanent failure"
                raise DeliveryError(
                    f"{what} after {attempts} attempt(s) via {where}: {_describe(error)}"
                    if error is not None
                    else f"{what}: every recipient refused",
                    temporary=temporary,
                    attempts=attempts,
                    recipients=result,
                )
            self.sleep(delay)
            delay *= 2

    @staticmethod
    def _ordered(
        done: dict[str, RecipientOutcome], recipients: list[str] | None, message: EmailMessage
    ) -> tuple[RecipientOutcome, ...]:
        order = recipients if recipients is not None else envelope_recipients(message)
        return tuple(done.get(a, RecipientOutcome(a, NOT_ATTEMPTED)) for a in order)


def _quietly_close(conn: smtplib.SMTP) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection must not mask the error
        conn.close()
