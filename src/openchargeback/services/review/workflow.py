"""Transitional: the review package's API under its former module name, for the callers
not moved yet (cli/review.py, services/ingest/loading.py, web/routes/pages.py and some
tests and benchmarks). Import :mod:`openchargeback.services.review` instead; this module
goes once they do."""

from openchargeback.services.review import *  # noqa: F403
from openchargeback.services.review import __all__  # noqa: F401
