"""Converters: Slurm, storage-usage and CSV inputs to FOCUS priced by a rate table, with
the allowance ledger (:mod:`.conversion`), and the rate tables themselves (:mod:`.rates`).
"""

from openchargeback.services.convert.conversion import ConvertRequest, ConvertResult, convert, convert_file
from openchargeback.services.convert.rates import check_rates, rates_in_force

__all__ = ["ConvertRequest", "ConvertResult", "check_rates", "convert", "convert_file", "rates_in_force"]
