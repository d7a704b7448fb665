"""Email addresses checked before they reach a message or an SMTP envelope; the rules
live in :mod:`openchargeback.domain.addresses` (shared with the import's
``pi_not_email`` flag)."""

from openchargeback.domain.addresses import BadAddress, is_address, parse_address

__all__ = ["BadAddress", "is_address", "parse_address"]
