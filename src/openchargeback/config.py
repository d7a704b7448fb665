"""Settings: YAML plus ``${ENV_VAR}`` expansion, validated once at start-up.

Unknown keys, wrong types and a missing file are errors that name the file and the
key; nothing silently falls back to a default.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Self

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


class ServerSettings(_Strict):
    """The web server (``openchargeback serve``)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    secret_key: str | None = None  # signs session and CSRF tokens; >= 32 characters
    session_lifetime_minutes: int = Field(default=480, ge=5, le=60 * 24 * 30)
    max_upload_mb: int = Field(default=500, ge=1, le=100_000)
    data_dir: str = "./instance/uploads"  # uploaded files are written only here
    # The address people reach the web UI at (https://billing.example.edu), for links
    # in command-line messages; None: the messages give paths only.
    public_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/\S*)?$")
    # Proxies (addresses or CIDRs) whose forwarded headers are believed: the client
    # address (login throttle, audit) and scheme come from them; from any other peer
    # they are ignored. Empty: the peer is the client.
    trusted_proxies: list[str] = []
    # The header the proxies write: X-Forwarded-For/-Proto, or RFC 7239 Forwarded. Only
    # one is read, since a proxy passes the other through unchanged (the client's own).
    forwarded_header: Literal["x-forwarded-for", "forwarded"] = "x-forwarded-for"

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        import ipaddress

        for item in v:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR network (e.g. 10.0.0.0/8)") from None
        return [item.strip() for item in v]


RoleName = Literal["admin", "reviewer", "viewer", "pi", "delegate"]


class OidcSettings(_Strict):
    """OpenID Connect sign-in (authorization code with PKCE, state and nonce)."""

    issuer: str = Field(pattern=r"^https?://\S+$")  # discovery: ISSUER/.well-known/openid-configuration
    client_id: str = Field(min_length=1)
    client_secret: str | None = None  # ${OIDC_CLIENT_SECRET}; None: a public client (PKCE only)
    scopes: list[str] = ["openid", "email", "profile"]
    email_claim: str = "email"
    name_claim: str = "name"
    groups_claim: str = "groups"
    label: str = "Sign in with your institution"  # the login page's button


class TrustedHeaderSettings(_Strict):
    """Sign-on by headers a SAML service provider (Shibboleth) in front sets; believed
    only from ``server.trusted_proxies``."""

    user_header: str = "remote-user"  # REMOTE_USER or eppn: the stable identifier
    email_header: str = "mail"
    name_header: str | None = "displayname"
    groups_header: str | None = None  # e.g. isMemberOf; values separated by ';'


class SsoSettings(_Strict):
    """Single sign-on: who may sign in and with which role."""

    oidc: OidcSettings | None = None
    trusted_header: TrustedHeaderSettings | None = None
    # group (from the groups claim or header) -> role of a user provisioned at first sign-in
    group_roles: dict[str, RoleName] = {}
    # the role when no group maps (None: such people are refused)
    default_role: RoleName | None = None
    allowed_domains: list[str] = []  # email domains allowed to sign in; empty: any
    # false: only single sign-on, except admins (the break-glass account made with the CLI)
    local_passwords: bool = True


class LoggingSettings(_Strict):
    """What the processes log (openchargeback.logs): one line per request, command, job."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"
    # None: serve and worker log to standard error (the journal), other commands nowhere
    file: str | None = None


class MetricsSettings(_Strict):
    """The Prometheus endpoint (off by default): ``/metrics`` on the web's port behind a
    token, or on an address of its own (``listen``)."""

    enabled: bool = False
    # A scraper sends it as ``Authorization: Bearer TOKEN`` to /metrics on the web's port.
    token: str | None = Field(default=None, min_length=16)
    # HOST:PORT served by `serve` itself, without a token (instead of /metrics on the web's port).
    listen: str | None = None

    @field_validator("listen")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        m = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+):(\d{1,5})", v) if v is not None else None
        if v is not None and (m is None or not 0 < int(m.group(2)) < 65536):
            raise ValueError(f"{v!r}: expected HOST:PORT, such as 127.0.0.1:9464 ([::1]:9464 for IPv6)")
        return v

    @model_validator(mode="after")
    def _protected(self) -> Self:
        if self.listen and self.token:
            raise ValueError(
                "metrics.token protects /metrics on the web's port, which metrics.listen replaces: "
                "leave one out"
            )
        if self.enabled and not (self.token or self.listen):
            raise ValueError(
                "metrics.enabled needs metrics.token (at least 16 characters: ${METRICS_TOKEN}) "
                "or metrics.listen (an address of its own, such as 127.0.0.1:9464)"
            )
        return self

    @property
    def listen_address(self) -> tuple[str, int]:
        """(host, port) of ``listen`` (an IPv6 host without its brackets)."""
        host, _, port = (self.listen or "").rpartition(":")
        return host.strip("[]"), int(port or 0)


class UserSettings(_Strict):
    """A bootstrap user, created at server start when missing."""

    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password_hash: str = Field(pattern=r"^\$(argon2id|2b|2y)\$")
    role: Literal["admin", "reviewer", "viewer"] = "viewer"


class FlagPatternSettings(_Strict):
    name: str = Field(pattern=r"^[a-z0-9_-]{1,40}$")
    field: str  # service, resource_id, resource_name, sku, description, any_tag or tag:<key>
    pattern: str
    reason: str = ""


class ReviewSettings(_Strict):
    """The review rules a new database starts with; afterwards they live in the database
    (edited with `review rules set` or in the web Settings)."""

    fund_org_patterns: list[str] = []
    flag_patterns: list[FlagPatternSettings] = []
    max_charge: Decimal | None = None
    large_credit: Decimal | None = None
    growth_percent: Decimal | None = None
    growth_amount: Decimal | None = None

    @field_validator("max_charge", "large_credit", "growth_percent", "growth_amount", mode="before")
    @classmethod
    def _no_float(cls, v: object) -> object:
        # YAML reads 1000.50 as a float: take its text, never its binary value.
        return str(v) if isinstance(v, float) else v


class IngestSettings(_Strict):
    """Bounds on what one imported file may hold, so that memory stays bounded."""

    max_expanded_mb: int = Field(default=10_000, ge=1)  # a .csv.gz's decompressed size
    max_line_kb: int = Field(default=1024, ge=1)  # one CSV line (a record's physical line)
    max_value_chars: int = Field(default=4096, ge=64)  # one text value (Tags: 16x this)


class ConvertSettings(_Strict):
    """Converters (``openchargeback convert``) and their allowance ledger."""

    fiscal_year_start_month: int = Field(default=1, ge=1, le=12)
    rates: str | None = None  # default rate table file for convert / ingest --convert
    attribution: str | None = None  # default attribution map file
    slurm_billable_states: list[str] | None = None  # None: the converter's default list
    slurm_timezone: str = "UTC"  # zone of sacct's times (IANA name)


class BrandingSettings(_Strict):
    """How statements and emails look: who sends them and how amounts are written."""

    organisation: str = "Research Computing"
    logo: str | None = None  # path to a PNG, JPEG or SVG file shown on statements
    contact: str = ""  # postal address, telephone, email: shown at the foot of statements
    currency_symbol: str | None = None  # e.g. "$"; None: the ISO code ("USD 1,234.56")
    # how numbers are written everywhere (web, statements, emails, CLI): a CLDR locale name
    locale: str = "en_US"
    date_format: str = "%d %b %Y"  # strftime format of dates on statements

    @field_validator("locale")
    @classmethod
    def _locale(cls, v: str) -> str:
        from babel import Locale, UnknownLocaleError

        try:
            Locale.parse(v.replace("-", "_"))
        except (UnknownLocaleError, ValueError, TypeError):
            raise ValueError(f"unknown locale {v!r} (a CLDR name such as en_US, de_DE or ja_JP)") from None
        return v


class StatementSettings(_Strict):
    """Statements (``openchargeback generate``)."""

    number_prefix: str = Field(default="ST", pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,19}$")
    per_pi_summary: bool = False  # also one statement per PI covering all their projects
    detail_line_limit: int = Field(default=40, ge=0, le=10_000)
    template_dir: str | None = None  # templates here override the packaged ones
    output_dir: str = "./instance/statements"
    timezone: str = "UTC"  # zone in which dates are shown (IANA name)
    paper: Literal["letter", "a4"] = "letter"
    branding: BrandingSettings = BrandingSettings()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (an IANA name such as Europe/Paris)") from None
        return v


class EmailSettings(_Strict):
    """Sending statements (``openchargeback generate --send``)."""

    smtp_host: str = "localhost"
    smtp_port: int | None = Field(default=None, ge=1, le=65535)  # None: 587, 465 (tls) or 25
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: str | None = None  # use ${SMTP_PASSWORD}
    timeout_seconds: float = Field(default=30, gt=0, le=600)  # connecting and each command
    # The reply after the end of DATA (RFC 5321 4.5.3.2.6 advises 10 minutes): past it the
    # message is "in doubt" and never retried automatically.
    final_reply_timeout_seconds: float = Field(default=600, gt=0, le=3600)
    retries: int = Field(default=3, ge=0, le=20)  # further attempts after a temporary failure
    backoff_seconds: float = Field(default=2, ge=0, le=600)  # doubled after each attempt
    rate_per_minute: int = Field(default=60, ge=0, le=100_000)  # 0: no limit
    from_address: str = "research-computing@example.edu"
    reply_to: str | None = None
    subject: str = "{organisation}: statement for {period}"
    outbox_dir: str = "./instance/outbox"  # with dev_mode: true, messages are written here
    cc: dict[str, list[str]] = {}  # project id -> addresses copied on that PI's message
    # Recipients must be in one of these domains (or a subdomain); empty: any domain.
    allowed_domains: list[str] = []

    @field_validator("cc", mode="before")
    @classmethod
    def _cc_lists(cls, v: object) -> object:
        if isinstance(v, dict):
            return {k: [x] if isinstance(x, str) else x for k, x in v.items()}
        return v

    @model_validator(mode="after")
    def _addresses(self) -> EmailSettings:
        # Each address is exactly one address (no list, no CR/LF): it reaches an envelope.
        from openchargeback.domain.addresses import BadAddress, parse_address

        checks: list[tuple[str, str, list[str]]] = [("from_address", self.from_address, [])]
        checks += [("reply_to", self.reply_to, [])] if self.reply_to else []
        checks += [(f"cc.{p}", a, self.allowed_domains) for p, addrs in self.cc.items() for a in addrs]
        for where, value, domains in checks:
            try:
                parse_address(value, domains)
            except BadAddress as exc:
                raise ValueError(f"email.{where}: {exc}") from None
        return self

    @property
    def port(self) -> int:
        if self.smtp_port:
            return self.smtp_port
        return {"starttls": 587, "tls": 465, "none": 25}[self.security]


class BudgetSettings(_Strict):
    """Budgets of projects and funds (set in the registry) and their alerts."""

    fiscal_year_start_month: int | None = Field(default=None, ge=1, le=12)  # None: convert's
    alert_thresholds: list[int] = Field(default=[80, 100])  # percent of the budget
    email_alerts: bool = False  # also email the PI and billing contacts

    @field_validator("alert_thresholds")
    @classmethod
    def _thresholds(cls, v: list[int]) -> list[int]:
        if any(t < 1 or t > 1000 for t in v):
            raise ValueError("thresholds are percentages from 1 to 1000")
        return sorted(set(v))


class JobSettings(_Strict):
    """Background jobs (imports, statements, journal exports) and the processes that run them."""

    # `serve` runs one worker inside itself (the embedded default: nothing else to start);
    # off when `openchargeback worker` processes run the jobs.
    serve_runs_worker: bool = True
    # A running job whose worker has not renewed its lease for this long (and whose
    # process is gone) is interrupted: re-run when its kind is safe to repeat.
    lease_seconds: int = Field(default=60, ge=2, le=3600)
    poll_seconds: float = Field(default=1.0, gt=0, le=60)  # how often an idle worker looks for jobs
    max_attempts: int = Field(default=3, ge=1, le=20)  # claims of one job before it stays interrupted


class PeriodSettings(_Strict):
    """The period lifecycle."""

    # `generate` closes an open period first when no charge waits for review (cron's month)
    close_when_clear: bool = False


JOURNAL_PARTS = ("fund", "orgn", "account", "program", "activity", "location")


class JournalSourceSettings(_Strict):
    """``journal.sources.NAME``: a source's debit accounts and its funded subsidy."""

    debit_account: str | None = None  # expense account the PI's fund is charged on
    service_accounts: dict[str, str] = {}  # service name -> debit account (before debit_account)
    subsidy_fund_org: str | None = None  # debited for list price minus amount due
    subsidy_account: str | None = None  # its account (default: its fund/org's account part)
    subsidy_description: str | None = None  # on statements: "subsidised by ..." (default: the fund)

    @model_validator(mode="after")
    def _subsidy(self) -> Self:
        if (self.subsidy_account or self.subsidy_description) and not self.subsidy_fund_org:
            raise ValueError("subsidy_account and subsidy_description need subsidy_fund_org")
        return self


class JournalSettings(_Strict):
    """Journal (GL) exports (``openchargeback export-journal``)."""

    # How a fund/org string is cut into the ledger's columns: named groups among
    # fund, orgn, account, program, activity, location; the whole string must match.
    fund_org_regex: str = r"(?P<fund>[^-]+)(?:-(?P<orgn>.+))?"
    account_code_regex: str | None = None  # every account code must match it fully
    default_account: str | None = None  # when neither the charge nor the source gives one
    debit_account: str | None = None  # debit (expense) account when no tag, service or source gives one
    sources: dict[str, JournalSourceSettings] = {}  # source name -> its accounts and funded subsidy
    description: str = "{source} {period} {project}"  # of debit lines
    credit_description: str = "{source} {period} recovery"  # of each source's credit line
    description_max_length: int = Field(default=35, ge=1, le=1000)
    reference: str = "OCB-{period}-{source}"  # {statement}: the debit line's statement number
    credit_reference: str | None = None  # of recovery and subsidy lines (default: reference)
    reference_max_length: int = Field(default=30, ge=1, le=1000)
    subsidy_description: str = "{source} {period} subsidy"  # of each funded subsidy's debit line
    reversal_prefix: str = "REV "  # before the description of a reversed line (--delta)
    adjustment_fund_org: str | None = None  # recovery fund/org of adjustments without a source
    adjustment_account: str | None = None  # and their account (default: default_account)
    template_dir: str | None = None  # templates for formats other than standard, summary, gl
    output_dir: str = "./instance/journals"

    @field_validator("fund_org_regex")
    @classmethod
    def _fund_org_regex(cls, v: str) -> str:
        try:
            compiled = re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        unknown = sorted(set(compiled.groupindex) - set(JOURNAL_PARTS))
        if unknown:
            raise ValueError(
                f"unknown named group(s) {', '.join(unknown)}; expected some of {', '.join(JOURNAL_PARTS)}"
            )
        if "fund" not in compiled.groupindex:
            raise ValueError("needs a named group (?P<fund>...)")
        return v

    @field_validator("account_code_regex")
    @classmethod
    def _account_regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return v

    @field_validator(
        "description", "credit_description", "reference", "credit_reference", "subsidy_description"
    )
    @classmethod
    def _pattern(cls, v: str | None) -> str | None:
        from string import Formatter

        if v is None:
            return v
        allowed = {"source", "source_name", "period", "project", "pi", "fund_org", "account", "currency"}
        allowed.add("statement")
        try:
            names = {f for _, f, _, _ in Formatter().parse(v) if f is not None}
        except ValueError as exc:
            raise ValueError(f"not a valid pattern: {exc}") from None
        unknown = sorted(n for n in names if n not in allowed)
        if unknown:
            raise ValueError(
                f"unknown placeholder(s) {', '.join('{' + n + '}' for n in unknown)}; "
                f"expected some of {', '.join('{' + n + '}' for n in sorted(allowed))}"
            )
        return v


class Settings(_Strict):
    database: DatabaseSettings = DatabaseSettings()
    currency: str = Field(default="USD", pattern=r"^[A-Za-z]{3}$")
    tag_mapping: TagMappingSettings = TagMappingSettings()
    sources: list[SourceSettings] = []
    convert: ConvertSettings = ConvertSettings()
    ingest: IngestSettings = IngestSettings()
    dev_mode: bool = False
    server: ServerSettings = ServerSettings()
    users: list[UserSettings] = []
    review: ReviewSettings = ReviewSettings()
    periods: PeriodSettings = PeriodSettings()
    budgets: BudgetSettings = BudgetSettings()
    statements: StatementSettings = StatementSettings()
    email: EmailSettings = EmailSettings()
    journal: JournalSettings = JournalSettings()
    jobs: JobSettings = JobSettings()
    logging: LoggingSettings = LoggingSettings()
    metrics: MetricsSettings = MetricsSettings()
    sso: SsoSettings = SsoSettings()

    # Where the settings came from (for messages); not a YAML key.
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("currency")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()

    @model_validator(mode="after")
    def _unique_sources(self) -> Self:
        seen: set[str] = set()
        for s in self.sources:
            key = s.name.lower()
            if key in seen:
                raise ValueError(f"source name {s.name!r} is declared twice (names are case-insensitive)")
            seen.add(key)
        names: set[str] = set()
        for u in self.users:
            if u.username.lower() in names:
                raise ValueError(f"user {u.username!r} is declared twice (user names are case-insensitive)")
            names.add(u.username.lower())
        return self

    def source_dicts(self) -> list[dict[str, Any]]:
        out = []
        for s in self.sources:
            d = s.model_dump()
            d["display_name"] = s.display_name or s.name
            d["tag_mapping"] = {
                k: v
                for k, v in (s.tag_mapping.model_dump() if s.tag_mapping else {}).items()
                if v is not None
            } or None
            out.append(d)
        return out

    def mapping(self) -> dict[str, list[str]]:
        return {f: _as_list(getattr(self.tag_mapping, f)) for f in ATTRIBUTION_FIELDS}


# The demo admin of config.example.yaml (password "demo-admin") and its dev secret:
# accepted only with dev_mode: true.
EXAMPLE_PASSWORD_HASHES = frozenset(
    {
        "$argon2id$v=19$m=65536,t=3,p=4$b3BlbmNoYXJnZWJhY2stZGVtbw$"
        "nCrhOmzm5Fy2WbZryuKQmTPW08TH+J3PQaQCdDArj6E",
    }
)
EXAMPLE_SECRET_KEYS = frozenset({"dev-only-secret-change-me-0123456789abcdef"})
_WEAK_SECRETS = {"changeme", "secret", "password", "development", "dev", "test"}
MIN_SECRET_LENGTH = 32


MIN_SECRET_GUESSES_LOG10 = 24  # about 80 bits; a random 32-character key scores 28 or more


def _guessable(key: str) -> bool:
    """zxcvbn's estimate of the guesses a key needs is too low (it finds sequences such as
    ``abcdefghijklmnopqrstuvwxyz012345``, keyboard rows, dictionary words, repeats)."""
    from zxcvbn import zxcvbn  # loaded only when a server starts

    return bool(zxcvbn(key[:100])["guesses_log10"] < MIN_SECRET_GUESSES_LOG10)


def serve_problems(settings: Settings) -> list[str]:
    """Why the web server must not start with these settings (empty when it may).

    Outside dev mode: a missing, short or published secret_key, or a user declared
    with the example password hash, is refused."""
    if settings.dev_mode:
        return []
    out = []
    key = settings.server.secret_key
    if not key:
        out.append(
            "server.secret_key is not set: generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
        )
    elif (
        key in EXAMPLE_SECRET_KEYS
        or key.lower() in _WEAK_SECRETS
        or len(key) < MIN_SECRET_LENGTH
        or len(set(key)) < 10
        or _guessable(key)
    ):
        out.append(
            f"server.secret_key is weak (the example's, shorter than {MIN_SECRET_LENGTH} characters, "
            f"or guessable: a sequence, a keyboard row, words or repetitions); generate a random one "
            f"with `python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
        )
    for u in settings.users:
        if u.password_hash in EXAMPLE_PASSWORD_HASHES:
            out.append(
                f"users: {u.username!r} has the example password hash; set a real one "
                f"with `openchargeback users hash-password` or remove the user"
            )
    return out


def ensure_safe_to_serve(settings: Settings) -> None:
    problems = serve_problems(settings)
    if problems:
        raise ConfigError("refusing to start the web server outside dev_mode:\n  " + "\n  ".join(problems))


def _as_list(v: TagCandidates) -> list[str]:
    return [v] if isinstance(v, str) else list(v)


def _expand(value: object, where: str, file: str) -> object:
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in os.environ:
                return os.environ[name]
            secret = os.environ.get(f"{name}_FILE")
            if secret:  # a secret in a file (Docker secrets, systemd credentials)
                try:
                    return Path(secret).read_text(encoding="utf-8").rstrip("\r\n")
                except OSError as exc:
                    raise ConfigError(
                        f"{file}: {where}: cannot read {name}_FILE={secret}: {exc.strerror or exc}"
                    ) from None
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
