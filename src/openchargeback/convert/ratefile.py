"""Load a rate table file (YAML) into the domain's RateTable."""

from __future__ import annotations

from pathlib import Path

from openchargeback.convert.yamlfile import load_yaml
from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.rate_checks import check
from openchargeback.domain.rates import RateTable, build_rate_table


def load_rate_table(path: str | Path) -> RateTable:
    return build_rate_table(load_yaml(path, "rate table"), where=str(path))


def load_checked(path: str | Path) -> RateTable:
    """A rate table fit for pricing: its errors (not its warnings) refuse it."""
    table = load_rate_table(path)
    errors = [p for p in check(table) if p.severity == "error"]
    if errors:
        raise InvalidInput(
            f"rate table {path}: {len(errors)} error(s); see "
            f"`openchargeback rates check {path}`:\n" + "\n".join("  " + p.describe() for p in errors)
        )
    return table


__all__ = ["load_checked", "load_rate_table"]
