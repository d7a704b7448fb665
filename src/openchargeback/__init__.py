"""OpenChargeback: billing for research computing."""

__version__ = "0.1.0"
