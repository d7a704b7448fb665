"""Settings: YAML plus ``${ENV_VAR}`` expansion, validated once at start-up.

Unknown keys, wrong types and a missing file are errors that name the file and the
key; nothing silently falls back to a default.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from openchargeback.domain.attribution import FIELDS as ATTRIBUTION_FIELDS
from openchargeback.domain.errors import ConfigError

ENV_FILE = "OPENCHARGEBACK_CONFIG"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

TagCandidates = str | list[str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Strict):
    url: str = "sqlite:///./instance/billing.db"


class TagMappingSettings(_Strict):
    """Which Tags key (case- and whitespace-insensitive) or ``x_`` column supplies each
    attribution field. A list gives candidates tried in order."""

    pi_email: TagCandidates = "pi_email"
    project_id: TagCandidates = "project_id"
    fund_org: TagCandidates = "fund_org"
    cost_center: TagCandidates = "cost_center"
    account_code: TagCandidates = "account_code"
    reference_1: TagCandidates = "reference_1"
    reference_2: TagCandidates = "reference_2"


class TagMappingOverride(_Strict):
    pi_email: TagCandidates | None = None
    project_id: TagCandidates | None = None
    fund_org: TagCandidates | None = None
    cost_center: TagCandidates | None = None
    account_code: TagCandidates | None = None
    reference_1: TagCandidates | None = None
    reference_2: TagCandidates | None = None


class SourceSettings(_Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    display_name: str | None = None
    file_pattern: str | None = None
    cost_basis: Literal["billed", "effective"] = "billed"
    gl_fund_org: str | None = None
    gl_account: str | None = None
    tag_mapping: TagMappingOverride | None = None


class Settings(_Strict):
    database: DatabaseSettings = DatabaseSettings()
    currency: str = Field(default="USD", pattern=r"^[A-Za-z]{3}$")
    tag_mapping: TagMappingSettings = TagMappingSettings()
    sources: list[SourceSettings] = []

    # Where the settings came from (for messages); not a YAML key.
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("currency")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()

    @model_validator(mode="after")
    def _unique_sources(self):
        seen: set[str] = set()
        for s in self.sources:
            key = s.name.lower()
            if key in seen:
                raise ValueError(f"source name {s.name!r} is declared twice (names are case-insensitive)")
            seen.add(key)
        return self

    def source_dicts(self) -> list[dict]:
        out = []
        for s in self.sources:
            d = s.model_dump()
            d["display_name"] = s.display_name or s.name
            d["tag_mapping"] = {k: v for k, v in (s.tag_mapping.model_dump() if s.tag_mapping else {}).items()
                                if v is not None} or None
            out.append(d)
        return out

    def mapping(self) -> dict[str, list[str]]:
        return {f: _as_list(getattr(self.tag_mapping, f)) for f in ATTRIBUTION_FIELDS}


def _as_list(v: TagCandidates) -> list[str]:
    return [v] if isinstance(v, str) else list(v)


def _expand(value, where: str, file: str):
    if isinstance(value, str):
        def sub(m: re.Match) -> str:
            name, default = m.group(1), m.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            raise ConfigError(f"{file}: {where}: environment variable {name} is not set")
        return _ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand(v, f"{where}.{k}" if where else str(k), file) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{where}[{i}]", file) for i, v in enumerate(value)]
    return value


def load_settings(path: str | Path | None) -> Settings:
    """Read and validate a config file (or $OPENCHARGEBACK_CONFIG)."""
    if path is None:
        path = os.environ.get(ENV_FILE)
        if not path:
            raise ConfigError(f"no configuration given: pass -c CONFIG or set {ENV_FILE}")
    file = str(path)
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{file}: configuration file not found")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: expected a mapping of settings at the top level")
    raw = _expand(raw, "", file)
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            lines.append(f"{file}: {loc}: {msg}")
        raise ConfigError("\n".join(lines)) from None
