"""Delivering messages: an SMTP sender and a file outbox behind one Sender protocol,
chosen from the settings by :func:`make_sender`."""

from openchargeback.delivery.base import DeliveryError, RecipientOutcome, Sender, SendResult
from openchargeback.delivery.factory import make_sender
from openchargeback.domain.addresses import BadAddress, parse_address

__all__ = [
    "BadAddress",
    "DeliveryError",
    "RecipientOutcome",
    "SendResult",
    "Sender",
    "make_sender",
    "parse_address",
]
