"""Delivering messages: an SMTP sender and a file outbox behind one Sender protocol."""

from openchargeback.delivery.base import DeliveryError, Sender, SendResult

__all__ = ["DeliveryError", "SendResult", "Sender"]
