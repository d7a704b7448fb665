"""The one way to get a :class:`~openchargeback.delivery.base.Sender` from the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from openchargeback.delivery.base import Sender
from openchargeback.delivery.outbox import OutboxSender
from openchargeback.delivery.smtp import SmtpOptions, SmtpSender
from openchargeback.domain.errors import ConfigError

if TYPE_CHECKING:
    from openchargeback.config import Settings


def make_sender(settings: Settings) -> Sender:
    """The outbox in dev mode, SMTP otherwise. Sending as the example address, or a
    password in clear text, is refused outside dev mode."""
    from openchargeback.config import EmailSettings  # config checks addresses with this package

    e = settings.email
    if settings.dev_mode:
        return OutboxSender(e.outbox_dir)
    if e.from_address == EmailSettings.model_fields["from_address"].default:
        raise ConfigError(
            f"email.from_address is the example address ({e.from_address}); set the "
            f"address statements are sent from (only dev_mode may send as the example)"
        )
    if e.security == "none" and e.username:
        raise ConfigError(
            "email.security is none but email.username is set: the password would "
            "cross the network in clear text; use starttls or tls"
        )
    return SmtpSender(
        SmtpOptions(
            host=e.smtp_host,
            port=e.port,
            security=e.security,
            username=e.username,
            password=e.password,
            timeout=e.timeout_seconds,
            retries=e.retries,
            backoff=e.backoff_seconds,
            rate_per_minute=e.rate_per_minute,
            final_reply_timeout=e.final_reply_timeout_seconds,
        )
    )
