"""Sending over SMTP: STARTTLS or implicit TLS, login when configured, a timeout, retries
with exponential backoff on temporary failures (4xx replies, dropped connections,
timeouts) and a send rate. Permanent failures (5xx) are not retried.

One connection serves a batch; it is opened on the first message and reopened after a
failure."""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage

from openchargeback.delivery.base import DeliveryError, SendResult


@dataclass(frozen=True)
class SmtpOptions:
    host: str
    port: int
    security: str = "starttls"  # starttls | tls | none
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 2.0
    rate_per_minute: int = 60  # 0: no limit


def _temporary(exc: BaseException) -> bool:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(400 <= c < 500 for c in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
        return True
    return isinstance(exc, TimeoutError | ConnectionError | OSError) and not isinstance(exc, ssl.SSLError)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "recipients refused: " + "; ".join(
            f"{addr}: {code} {msg.decode(errors='replace') if isinstance(msg, bytes) else msg}"
            for addr, (code, msg) in exc.recipients.items()
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        msg = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return f"{exc.smtp_code} {msg}"
    return f"{type(exc).__name__}: {exc}"


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

    def __exit__(self, *exc) -> None:
        self._close()

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        o = self.o
        if o.security == "tls":
            conn = smtplib.SMTP_SSL(o.host, o.port, timeout=o.timeout, context=self._context())
        else:
            conn = smtplib.SMTP(o.host, o.port, timeout=o.timeout)
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

    def send(self, message: EmailMessage) -> SendResult:
        attempts = 0
        delay = self.o.backoff
        while True:
            attempts += 1
            self._pace()
            try:
                if self._conn is None:
                    self._conn = self._connect()
                self._last_send = self.clock()
                self._conn.send_message(message)
                return SendResult(attempts=attempts)
            except (smtplib.SMTPException, OSError) as exc:
                self._last_send = self.clock()
                temporary = _temporary(exc)
                self._close()
                if not temporary or attempts > self.o.retries:
                    what = "temporary failure, retries exhausted" if temporary else "permanent failure"
                    where = f"{self.o.host}:{self.o.port}"
                    raise DeliveryError(
                        f"{what} after {attempts} attempt(s) via {where}: {_describe(exc)}",
                        temporary=temporary,
                        attempts=attempts,
                    ) from None
                self.sleep(delay)
                delay *= 2


def _quietly_close(conn: smtplib.SMTP) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection must not mask the error
        conn.close()
