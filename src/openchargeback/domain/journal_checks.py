"""Validation of a journal before it is built: an ordered list of pure passes
(:data:`PASSES`), each returning the problems it finds as messages that name the charge,
source, fund/org or setting, the value found and what was expected."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from openchargeback.domain.journal import (
    NO_SOURCE,
    Entry,
    Recovery,
    Rules,
    TagCode,
    account_ok,
    debit_account,
    parse_fund_org,
    recovery_account,
    subsidy_account,
)
from openchargeback.domain.money import to_str


@dataclass(frozen=True)
class _Input:
    period: str
    entries: tuple[Entry, ...]
    recoveries: dict[str, Recovery]
    tag_codes: tuple[TagCode, ...]
    rules: Rules
    sources_used: tuple[str, ...] = field(default=())


def _where(e: Entry) -> str:
    bits = (
        [f"source {e.source}"]
        + ([f"project {e.project_id}"] if e.project_id else [])
        + ([f"PI {e.pi_email}"] if e.pi_email else [])
        + ([f"service {e.service}"] if e.service else [])
    )
    return ", ".join(bits)


def _missing_fund(inp: _Input) -> list[str]:
    out = []
    for e in inp.entries:
        if not (e.fund_org or "").strip() and e.amount:
            out.append(
                f"{e.kind}s of {_where(e)} ({to_str(e.amount)} {e.currency}) have no fund/org; "
                f"expected one (tag, project default or split)"
            )
    return out


def _fund_orgs(inp: _Input) -> list[str]:
    out, seen = [], set()
    for e in inp.entries:
        f = (e.fund_org or "").strip()
        if f and f not in seen:
            seen.add(f)
            if parse_fund_org(f, inp.rules.fund_org_regex) is None:
                out.append(
                    f"fund/org {f!r} (charged to {_where(e)}) does not match "
                    f"journal.fund_org_regex {inp.rules.fund_org_regex!r}"
                )
    for name in inp.sources_used:
        r = inp.recoveries[name]
        f = (r.fund_org or "").strip()
        if f and parse_fund_org(f, inp.rules.fund_org_regex) is None:
            where = "journal.adjustment_fund_org" if name == NO_SOURCE else f"source {name}'s gl_fund_org"
            out.append(
                f"recovery fund/org {f!r} ({where}) does not match journal.fund_org_regex "
                f"{inp.rules.fund_org_regex!r}"
            )
    return out


def _recoveries(inp: _Input) -> list[str]:
    out = []
    for name in inp.sources_used:
        r = inp.recoveries[name]
        account, _ = recovery_account(r, inp.rules)
        if name == NO_SOURCE:
            if not r.fund_org or not account:
                out.append(
                    "adjustments without a source need a recovery fund/org and account: set "
                    "journal.adjustment_fund_org and journal.adjustment_account (or "
                    "journal.default_account); the journal would not balance"
                )
            continue
        missing = [
            what
            for what, v in (
                ("fund/org (gl_fund_org)", r.fund_org),
                ("account (gl_account or journal.default_account)", account),
            )
            if not v
        ]
        if missing:
            out.append(
                f"source {name} has no recovery {' and no '.join(missing)}; set the source's "
                f"gl_fund_org and gl_account (in the configuration, or on the source's page of the "
                f"web UI); the journal would not balance"
            )
    return out


def _debit_accounts(inp: _Input) -> list[str]:
    out = []
    for e in inp.entries:
        if e.amount and (e.fund_org or "").strip() and debit_account(e, inp.rules)[0] is None:
            out.append(
                f"{e.kind}s of {_where(e)} have no debit account: expected an account_code tag, "
                f"an account part in fund/org {e.fund_org!r}, journal.sources.{e.source}."
                f"service_accounts or .debit_account, journal.debit_account or journal.default_account"
            )
    return list(dict.fromkeys(out))


def _distinct_accounts(inp: _Input) -> list[str]:
    """A PI's fund is charged on an expense (debit) account, never on the recovery account
    the source's income is credited to."""
    out = []
    for e in inp.entries:
        if not (e.amount and (e.fund_org or "").strip()):
            continue
        debit, origin = debit_account(e, inp.rules)
        credit, _ = recovery_account(inp.recoveries[e.source], inp.rules)
        if debit is not None and debit == credit:
            out.append(
                f"source {e.source}: the debit account {debit!r} (from {_ORIGINS.get(origin, origin)}) is "
                f"also the source's recovery (credit) account; expected a distinct expense "
                f"account: set journal.sources.{e.source}.debit_account or journal.debit_account"
            )
    return list(dict.fromkeys(out))


_ORIGINS = {
    "charge": "the account_code tag",
    "fund_org": "the fund/org's account part",
    "service": "journal.sources.*.service_accounts",
    "source": "journal.sources.*.debit_account",
    "journal": "journal.debit_account",
    "default": "journal.default_account",
}


def _subsidies(inp: _Input) -> list[str]:
    out = []
    for name in inp.sources_used:
        funded = inp.rules.of(name).subsidy
        if funded is None or not any(e.subsidy for e in inp.entries if e.source == name):
            continue
        if parse_fund_org(funded.fund_org.strip(), inp.rules.fund_org_regex) is None:
            out.append(
                f"subsidy fund/org {funded.fund_org!r} (journal.sources.{name}.subsidy_fund_org) does "
                f"not match journal.fund_org_regex {inp.rules.fund_org_regex!r}"
            )
        if subsidy_account(funded, inp.rules)[0] is None:
            out.append(
                f"source {name} funds its subsidies from {funded.fund_org!r} but has no subsidy "
                f"account: set journal.sources.{name}.subsidy_account or journal.debit_account"
            )
    return out


def _accounts(inp: _Input) -> list[str]:
    pattern = inp.rules.account_code_regex
    if pattern is None:
        return []
    want = f"journal.account_code_regex {pattern!r}"
    out = [
        f"charge {t.first_charge_id} (source {t.source}"
        + (f", and {t.charges - 1} more charge(s) with this code" if t.charges > 1 else "")
        + f"): account code {t.code!r} does not match {want}"
        for t in inp.tag_codes
        if not account_ok(t.code, pattern)
    ]
    for name in inp.sources_used:
        r = inp.recoveries[name]
        if r.account and not account_ok(r.account, pattern):
            what = "journal.adjustment_account" if name == NO_SOURCE else f"source {name}: gl_account"
            out.append(f"{what} {r.account!r} does not match {want}")
    settings = [("journal.default_account", inp.rules.default_account)]
    settings += [("journal.debit_account", inp.rules.debit_account)]
    for name, acc in sorted(inp.rules.sources.items()):
        settings += [(f"journal.sources.{name}.debit_account", acc.debit_account)]
        settings += [
            (f"journal.sources.{name}.service_accounts[{s!r}]", a) for s, a in acc.service_accounts.items()
        ]
        if acc.subsidy is not None:
            settings += [(f"journal.sources.{name}.subsidy_account", acc.subsidy.account)]
    for what, value in settings:
        if value and not account_ok(value, pattern):
            out.append(f"{what} {value!r} does not match {want}")
    for e in inp.entries:
        parsed = parse_fund_org(e.fund_org or "", inp.rules.fund_org_regex) if e.fund_org else None
        acct = (parsed or {}).get("account")
        if acct and not e.account_code and not account_ok(acct, pattern):
            out.append(
                f"fund/org {e.fund_org!r} ({_where(e)}): its account part {acct!r} does not match {want}"
            )
    return list(dict.fromkeys(out))


PASSES = (_missing_fund, _recoveries, _fund_orgs, _debit_accounts, _distinct_accounts, _subsidies, _accounts)


def check(
    period: str,
    entries: Iterable[Entry],
    recoveries: dict[str, Recovery],
    tag_codes: Iterable[TagCode],
    rules: Rules,
) -> list[str]:
    """Every problem that stops the export, in the order of :data:`PASSES`."""
    entries = tuple(entries)
    used = tuple(sorted({e.source for e in entries}))
    for name in used:
        if name not in recoveries:
            recoveries = {**recoveries, name: Recovery(name, name, None, None)}
    inp = _Input(period, entries, recoveries, tuple(tag_codes), rules, used)
    problems: list[str] = []
    for p in PASSES:
        problems += p(inp)
    return problems
