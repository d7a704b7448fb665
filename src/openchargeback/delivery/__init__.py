"""Delivering messages: an SMTP sender and a file outbox behind one Sender protocol,
chosen from the settings by :func:`make_sender`."""

from openchargeback.delivery.base import DeliveryError, Sender, SendResult
from openchargeback.delivery.factory import make_sender

__all__ = ["DeliveryError", "SendResult", "Sender", "make_sender"]
