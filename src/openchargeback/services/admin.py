"""The effective configuration, as the settings page shows it: every key with its value,
secrets masked."""

from __future__ import annotations

import re
from dataclasses import dataclass

from openchargeback.services.context import Context
from openchargeback.storage.db import masked_url

MASK = "********"
_SECRET_NAME = re.compile(r"password|secret|token|api_key", re.IGNORECASE)


@dataclass(frozen=True)
class SettingsView:
    items: tuple[tuple[str, str], ...]  # dotted key, value as shown
    tag_mapping: tuple[tuple[str, tuple[str, ...]], ...]


def _masked(name: str, value: object) -> object:
    """A setting's value fit to show: secrets (by their name: password, secret_key,
    password_hash, tokens) masked, credentials in URLs masked."""
    if value in (None, ""):
        return value
    if _SECRET_NAME.search(name):
        return MASK
    if isinstance(value, str) and "://" in value:
        return masked_url(value)
    return value


def effective_settings(ctx: Context) -> SettingsView:
    s = ctx.settings
    data = s.model_dump(mode="json")
    items: list[tuple[str, str]] = []

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, _masked(str(k), v))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for i, v in enumerate(value):
                walk(f"{prefix}[{i}]", v)
        else:
            items.append(
                (
                    prefix,
                    "(not set)"
                    if value is None
                    else ", ".join(map(str, value))
                    if isinstance(value, list)
                    else str(value),
                )
            )

    walk("", {k: v for k, v in data.items() if k != "tag_mapping"})
    return SettingsView(tuple(items), tuple((f, tuple(c)) for f, c in s.mapping().items()))
