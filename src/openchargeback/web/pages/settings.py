"""The settings page: the effective configuration (secrets masked by
:func:`openchargeback.services.admin.effective_settings`) grouped by section, each setting
with a label and a one-line explanation in plain words. The configuration reference
(docs/getting-started/configuration.md) says the rest."""

from __future__ import annotations

import re
from dataclasses import dataclass

from openchargeback.services import admin
from openchargeback.services.context import Context

# (section title, what it is about, the top-level keys it holds), in the page's order
SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Billing data", "Where charges come from and in which currency.", ("currency", "sources")),
    ("Importing files", "Bounds on one imported file, so that memory stays bounded.", ("ingest",)),
    ("Converting other inputs", "Turning Slurm and storage reports into priced FOCUS files.", ("convert",)),
    ("Review", "The rules a new database starts with; edit them below.", ("review",)),
    ("Billing periods", "The monthly lifecycle: open, closed, finalized.", ("periods",)),
    ("Budgets", "Budgets of projects and funds, and their alerts.", ("budgets",)),
    ("Statements", "What statements hold and how they look.", ("statements",)),
    ("Email", "How statements and alerts are sent.", ("email",)),
    ("Journal (GL) export", "How the accounting file is laid out.", ("journal",)),
    ("Web server and sign-in", "The web server, its users and sessions.", ("server", "dev_mode", "users")),
    ("Single sign-on", "Signing in through the institution's identity provider.", ("sso",)),
    ("Background jobs", "The workers that run imports, statements and exports.", ("jobs",)),
    ("Logging and monitoring", "What the processes log and the metrics endpoint.", ("logging", "metrics")),
    ("Database", "Where the data is kept.", ("database",)),
)

# A setting's key with list positions as [] and names of your own as NAME -> (label, explanation)
GUIDE: dict[str, tuple[str, str]] = {
    "database.url": ("Database address", "SQLite file or PostgreSQL server (the password is never shown)."),
    "currency": (
        "Site currency",
        "Given to rows of files without a BillingCurrency column; the dashboard's.",
    ),
    "sources": ("Sources", "None declared here; sources may be added on the Sources page."),
    "sources[].tag_mapping": (
        "Own tag mapping",
        "Tags this source reads instead of the site's (none: the site's).",
    ),
    "sources[].name": ("Short name", "How commands and files name the source."),
    "sources[].display_name": ("Display name", "The name people see on pages and statements."),
    "sources[].file_pattern": ("File names", "Files matching this pattern are offered for this source."),
    "sources[].cost_basis": ("Cost charged", "Which FOCUS cost statements charge: billed or effective."),
    "sources[].gl_fund_org": ("Recovery fund/org", "Credited in the journal for this source's charges."),
    "sources[].gl_account": ("Recovery account", "The account of that credit."),
    "sources[].tag_mapping.pi_email": ("PI tag", "Which tag names the PI, for this source only."),
    "sources[].tag_mapping.project_id": ("Project tag", "Which tag names the project, for this source only."),
    "sources[].tag_mapping.fund_org": ("Fund/org tag", "Which tag names the fund/org, for this source only."),
    "sources[].tag_mapping.cost_center": (
        "Cost center tag",
        "Which tag names the cost center, for this source only.",
    ),
    "sources[].tag_mapping.account_code": (
        "Account tag",
        "Which tag names the GL account, for this source only.",
    ),
    "sources[].tag_mapping.reference_1": ("Reference 1 tag", "A free reference, for this source only."),
    "sources[].tag_mapping.reference_2": (
        "Reference 2 tag",
        "A second free reference, for this source only.",
    ),
    "ingest.max_expanded_mb": (
        "Largest unpacked file (MB)",
        "A compressed file growing past this is refused.",
    ),
    "ingest.max_line_kb": ("Longest line (KB)", "A CSV line longer than this is refused, naming the line."),
    "ingest.max_value_chars": (
        "Longest value (characters)",
        "A longer text value refuses its row (tags: 16 times).",
    ),
    "convert.fiscal_year_start_month": (
        "Fiscal year starts in month",
        "Fiscal-year caps of subsidies count from it.",
    ),
    "convert.rates": ("Rate table", "Used when a conversion names none."),
    "convert.attribution": ("Attribution map", "Used when a conversion names none."),
    "convert.slurm_billable_states": (
        "Billed Slurm job states",
        "Job states that are charged (default: the usual).",
    ),
    "convert.slurm_timezone": ("Slurm time zone", "The zone sacct's times are written in."),
    "review.fund_org_patterns": ("Known fund/orgs", "A fund/org matching none of these is flagged."),
    "review.flag_patterns": ("Flag patterns", "Patterns in a charge's fields that flag it (none set)."),
    "review.flag_patterns[].name": ("Flag name", "Short name of a pattern that flags charges."),
    "review.flag_patterns[].field": ("Looks at", "The field the pattern is searched in."),
    "review.flag_patterns[].pattern": ("Pattern", "Regular expression, case-insensitive."),
    "review.flag_patterns[].reason": ("Reason", "What reviewers are told."),
    "review.max_charge": ("Largest charge", "A single charge above this is flagged."),
    "review.large_credit": ("Largest credit", "A credit larger than this is flagged."),
    "review.growth_percent": (
        "Growth (percent)",
        "A project growing more than this over a period is flagged...",
    ),
    "review.growth_amount": ("Growth (amount)", "... when it also grew by more than this amount."),
    "periods.close_when_clear": (
        "Close when clear",
        "Generating statements closes an open period with nothing to review.",
    ),
    "budgets.fiscal_year_start_month": ("Fiscal year starts in month", "For budgets per fiscal year."),
    "budgets.alert_thresholds": (
        "Alert at (percent)",
        "Spending reaching these shares of a budget raises an alert.",
    ),
    "budgets.email_alerts": ("Email alerts", "Also email alerts to the PI and their billing contacts."),
    "statements.number_prefix": ("Number prefix", "First part of statement numbers (ST-202501-0007)."),
    "statements.per_pi_summary": ("Summary per PI", "Also one statement per PI covering all their projects."),
    "statements.detail_line_limit": (
        "Detail lines",
        "Most detail lines shown; the full detail is attached as CSV.",
    ),
    "statements.template_dir": ("Own templates", "A folder of templates replacing the packaged ones."),
    "statements.output_dir": ("Output folder", "Where statement PDFs are written."),
    "statements.timezone": ("Time zone", "The zone dates are shown in."),
    "statements.paper": ("Paper size", "Letter or A4."),
    "statements.branding.organisation": (
        "Organisation",
        "Named at the top of statements and in email subjects.",
    ),
    "statements.branding.logo": ("Logo", "Image at the top of statements."),
    "statements.branding.contact": ("Contact", "Address and telephone at the foot of statements."),
    "statements.branding.currency_symbol": (
        "Currency sign",
        "The sign written before amounts of the site currency.",
    ),
    "statements.branding.locale": ("Number style", "How amounts are written everywhere people read them."),
    "statements.branding.date_format": ("Date format", "How dates are written on statements."),
    "email.smtp_host": ("Mail server", "The SMTP server messages are sent through."),
    "email.smtp_port": ("Mail server port", "Default: 587 (STARTTLS), 465 (TLS) or 25."),
    "email.security": ("Encryption", "STARTTLS, TLS, or none (refused with a login outside dev mode)."),
    "email.username": ("Mail login", "The user the server is logged in as."),
    "email.password": ("Mail password", "Never shown; give it through the environment."),
    "email.timeout_seconds": ("Timeout (seconds)", "For connecting and each command."),
    "email.final_reply_timeout_seconds": (
        "Final reply wait (seconds)",
        "Past it a message is 'in doubt', never resent by itself.",
    ),
    "email.retries": ("Retries", "Further attempts after a temporary failure."),
    "email.backoff_seconds": ("Wait before retry (seconds)", "Doubled after each attempt."),
    "email.rate_per_minute": ("Messages per minute", "At most this many (0: no limit)."),
    "email.from_address": ("From", "The sender of every message."),
    "email.reply_to": ("Reply to", "Where replies go, for example the billing team."),
    "email.subject": ("Subject", "The subject line; {period} and {organisation} are filled in."),
    "email.outbox_dir": ("Outbox folder", "In dev mode messages are written here instead of sent."),
    "email.cc": ("Copies for a project", "Addresses copied on the PI's message for that project."),
    "email.allowed_domains": (
        "Allowed recipient domains",
        "Recipients outside these are refused (empty: any).",
    ),
    "journal.fund_org_regex": ("Fund/org layout", "How a fund/org is cut into the ledger's columns."),
    "journal.account_code_regex": ("Account code layout", "Every account code must match it."),
    "journal.default_account": ("Default account", "When nothing more specific gives one."),
    "journal.debit_account": ("Debit account", "The expense account a PI's fund is charged on by default."),
    "journal.sources.NAME.debit_account": ("Debit account", "The expense account of this source's charges."),
    "journal.sources.NAME.service_accounts": (
        "Account of a service",
        "This service's charges are debited here.",
    ),
    "journal.sources.NAME.subsidy_fund_org": (
        "Subsidy paid by",
        "The fund/org debited for the subsidy of this source.",
    ),
    "journal.sources.NAME.subsidy_account": ("Subsidy account", "The account of that debit."),
    "journal.sources.NAME.subsidy_description": (
        "Subsidy in words",
        "Who pays the subsidy, as statements say it.",
    ),
    "journal.description": ("Debit line text", "Description of each debit line."),
    "journal.credit_description": ("Credit line text", "Description of each source's recovery line."),
    "journal.subsidy_description": ("Subsidy line text", "Description of each funded subsidy's line."),
    "journal.description_max_length": ("Longest description", "Longer descriptions are shortened at a word."),
    "journal.reference": ("Reference", "The Reference column of debit lines."),
    "journal.credit_reference": ("Credit reference", "The Reference of recovery and subsidy lines."),
    "journal.reference_max_length": ("Longest reference", "Longer references are shortened."),
    "journal.reversal_prefix": ("Reversal prefix", "Put before the description of a reversed line."),
    "journal.adjustment_fund_org": (
        "Adjustments credited to",
        "Recovery fund/org of adjustments without a source.",
    ),
    "journal.adjustment_account": ("Adjustment account", "Its account."),
    "journal.template_dir": ("Own formats", "A folder of journal templates of your own."),
    "journal.output_dir": ("Output folder", "Where journal files are written."),
    "dev_mode": ("Development mode", "Demo accounts and plain http; never on a server others reach."),
    "server.host": ("Listens on", "The address the web server listens on."),
    "server.port": ("Port", "The port the web server listens on."),
    "server.secret_key": ("Secret key", "Signs sessions and forms; never shown."),
    "server.session_lifetime_minutes": ("Session length (minutes)", "People sign in again after this."),
    "server.max_upload_mb": ("Largest upload (MB)", "Larger files are imported with the command line."),
    "server.data_dir": ("Upload folder", "Uploaded files are written only here, then removed."),
    "server.public_url": ("Public address", "Where people reach this site, for links in messages."),
    "server.trusted_proxies": ("Trusted proxies", "Proxies whose forwarded client address is believed."),
    "server.forwarded_header": ("Forwarded header", "The header those proxies write."),
    "users": ("Users from this file", "None: users are managed on the Users page."),
    "users[].username": ("User", "A user created at start when missing."),
    "users[].password_hash": ("Password", "Stored as a hash; never shown."),
    "users[].role": ("Role", "Admin, reviewer or viewer."),
    "sso.oidc": ("OpenID Connect", "Sign-in through an OpenID Connect provider (not set: off)."),
    "sso.trusted_header": ("SAML proxy headers", "Sign-in by headers a SAML proxy sets (not set: off)."),
    "sso.oidc.issuer": ("Identity provider", "The OpenID Connect issuer's address."),
    "sso.oidc.client_id": ("Client ID", "This site as registered at the provider."),
    "sso.oidc.client_secret": ("Client secret", "Never shown."),
    "sso.oidc.scopes": ("Scopes", "What is asked of the provider."),
    "sso.oidc.email_claim": ("Email claim", "The claim holding the email."),
    "sso.oidc.name_claim": ("Name claim", "The claim holding the name."),
    "sso.oidc.groups_claim": ("Groups claim", "The claim holding the groups."),
    "sso.oidc.label": ("Button text", "The sign-in button's words."),
    "sso.trusted_header.user_header": ("User header", "The stable identifier set by the SAML proxy."),
    "sso.trusted_header.email_header": ("Email header", "The header holding the email."),
    "sso.trusted_header.name_header": ("Name header", "The header holding the name."),
    "sso.trusted_header.groups_header": ("Groups header", "The header holding the groups."),
    "sso.group_roles": ("Role of a group", "Members of this group get this role at first sign-in."),
    "sso.default_role": ("Default role", "For people no group maps (none: refused)."),
    "sso.allowed_domains": (
        "Allowed email domains",
        "Who may sign in (empty: anyone the provider vouches for).",
    ),
    "sso.local_passwords": ("Passwords for all", "Off: only admins sign in with a password."),
    "jobs.serve_runs_worker": ("Web server runs jobs", "Off when separate worker processes run them."),
    "jobs.lease_seconds": ("Lease (seconds)", "A job silent this long with its worker gone is interrupted."),
    "jobs.poll_seconds": ("Poll interval (seconds)", "How often an idle worker looks for work."),
    "jobs.max_attempts": ("Most attempts", "Then an interrupted job stays interrupted."),
    "logging.level": ("Log level", "The least severe line written."),
    "logging.format": ("Log format", "Text lines or JSON objects."),
    "logging.file": ("Log file", "None: standard error of the server and workers."),
    "metrics.enabled": ("Metrics", "Serve Prometheus metrics."),
    "metrics.token": ("Metrics token", "Scrapers send it; never shown."),
    "metrics.listen": ("Metrics address", "A separate address for scrapes, without a token."),
}

_POSITION = re.compile(r"\[\d+\]")
_ITEM = re.compile(r"(.*?\[\d+\])\.")
_NAMED = {"journal.sources": 1, "email.cc": 1, "sso.group_roles": 1}  # keys of your own under these


@dataclass(frozen=True)
class Setting:
    key: str  # as in the configuration file (sources[0].name)
    label: str
    explanation: str
    value: str


@dataclass(frozen=True)
class Section:
    title: str
    about: str
    settings: tuple[Setting, ...]


@dataclass(frozen=True)
class SettingsPage:
    sections: tuple[Section, ...]
    tag_mapping: tuple[tuple[str, tuple[str, ...]], ...]  # field, tag keys tried in order


def guide_key(key: str) -> tuple[str, str | None]:
    """``key``'s entry in GUIDE and the name of your own it holds, if any:
    ``journal.sources.aws.debit_account`` -> (``journal.sources.NAME.debit_account``, ``aws``)."""
    key = _POSITION.sub("[]", key)
    for prefix in _NAMED:
        if key.startswith(prefix + "."):
            rest = key[len(prefix) + 1 :]
            if prefix == "journal.sources":
                name, _, field = rest.partition(".")
                field, _, inner = field.partition(".")
                return f"{prefix}.NAME.{field}", name + (f": {inner}" if inner else "")
            return prefix, rest
    return key, None


def page(ctx: Context) -> SettingsPage:
    """The settings page: its sections, then the tag mapping."""
    view = admin.effective_settings(ctx)
    values = dict(view.items)
    grouped: dict[str, list[Setting]] = {title: [] for title, _, _ in SECTIONS}
    home = {top: title for title, _, tops in SECTIONS for top in tops}
    for key, value in view.items:
        entry, own = guide_key(key)
        label, explanation = GUIDE.get(entry, (key, ""))
        item = _ITEM.match(key)  # a list's item is told by its name: "Display name (aws)"
        own = own or (item and (values.get(item[1] + ".name") or values.get(item[1] + ".username")))
        if own:
            label = f"{label} ({own})"
        top = re.split(r"[.\[]", key, maxsplit=1)[0]
        grouped.setdefault(home.get(top, "Other"), []).append(Setting(key, label, explanation, value))
    about = {t: a for t, a, _ in SECTIONS} | {"Other": ""}
    sections = tuple(Section(t, about[t], tuple(items)) for t, items in grouped.items() if items)
    return SettingsPage(sections, view.tag_mapping)
