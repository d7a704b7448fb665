"""Converters from HPC, storage and any CSV to FOCUS 1.2, priced by a rate table.

Reading files and running ``sacct`` happen here; prices and subsidies are the
domain's (``domain.rates``, ``domain.pricing``); the allowance ledger is the
service's (``services.convert``). No SQL here.
"""
