"""Slurm ``sacct --parsable2`` output to usage lines.

What is billed: job allocations (rows whose JobID has no ``.``), never steps: the
``.extern`` step repeats the job's whole AllocTRES, so adding steps would count a
job twice. Each allocation contributes AllocTRES x wall-clock seconds between Start
and End, split at month boundaries (UTC) so that each billing period gets exactly
its share; with a period given only that share is kept. Resources: ``cpu``
(core-hours), ``gpu`` by type (GPU-hours; ``gres/gpu:a100=1,gres/gpu=1`` is one GPU,
typed and untyped), ``mem`` (GB-hours, GB = 1024 MiB as Slurm counts), ``billing``
and ``node`` - whichever the rate table prices for the service.

Only allocations in a billable state count (``DEFAULT_BILLABLE`` unless configured);
``CANCELLED by 0`` is CANCELLED. A job cancelled while pending has Start ``None`` and
no AllocTRES: nothing to bill. A RUNNING job (End ``Unknown``) is billed up to the
period's end or ``now``. Several inputs are one data set: an allocation seen twice
(same JobIDRaw and Start, as when weekly exports overlap) counts once, in its latest
state (``convert.sacct_reader``). Times are local times without an offset: ``tz``
names the zone they were written in (``run_sacct`` asks for UTC).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from openchargeback.convert.attribution import AttributionMap
from openchargeback.convert.focus_writer import LineInfo, line_info
from openchargeback.convert.sacct_reader import (
    DEFAULT_BILLABLE,
    SACCT_FORMAT,
    mem_kib,  # noqa: F401 (re-exported)
    parse_tres,  # noqa: F401 (re-exported)
    read_sacct,
)
from openchargeback.convert.usage import Usage, quantity
from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.periods import Period
from openchargeback.domain.pricing import UsageLine

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SEC = timedelta(seconds=1)
# resource -> (divisor of the integer amount x seconds, what it measures)
DIVISORS = {"cpu": 3600, "gpu": 3600, "billing": 3600, "node": 3600, "mem": 1024 * 1024 * 3600}
DESCRIPTIONS = {
    "cpu": "CPU core-hours",
    "gpu": "GPU-hours",
    "mem": "memory GB-hours",
    "billing": "billing-unit hours",
    "node": "node-hours",
}


def convert_slurm(lines: Iterable[str], source: str, **kw: Any) -> Usage:
    """One input: see :func:`convert_slurm_files`."""
    return convert_slurm_files([(source, lines)], **kw)


def convert_slurm_files(
    inputs: Iterable[tuple[str, Iterable[str]]],
    *,
    amap: AttributionMap,
    priced: tuple[str, ...],
    service: str = "hpc",
    period: Period | None = None,
    billable: Iterable[str] = DEFAULT_BILLABLE,
    tz: str = "UTC",
    now: datetime | None = None,
    per_job: bool = False,
    skip_invalid: bool = False,
) -> Usage:
    """Usage lines of every (name, lines) input read as one data set (an allocation in
    several inputs counts once), one per period, account (or user when only the user is mapped),
    partition, QOS and resource (per job with ``per_job``), for the ``priced`` resources."""
    data, report = read_sacct(inputs, period=period, billable=billable, tz=tz, now=now, per_job=per_job)
    report.refuse_if_problems(skip_invalid)
    resolved: dict[tuple[str, str], object] = {}

    def who(account: str, user: str):
        key = (account, user)
        if key not in resolved:
            resolved[key] = amap.resolve(("account", account), ("user", user))
        return resolved[key]

    lines_out: list[UsageLine] = []
    not_priced: set[str] = set()
    periods: dict[str, Period] = {}
    if per_job:
        for name_p, account, user, part, qos, lo, hi, jobid, name, tres, secs in data:
            p = periods.get(name_p) or periods.setdefault(name_p, Period.parse(name_p))
            r = who(account, user)
            for (res, gpu_type), amount in tres:
                if res not in priced:
                    not_priced.add(res)
                    continue
                q = quantity(amount * secs, DIVISORS[res])
                if not q:
                    continue
                info = _info(
                    r,
                    account,
                    user,
                    part,
                    qos,
                    res,
                    gpu_type,
                    per_user=True,
                    resource_id=jobid,
                    resource_name=name or None,
                    start=_EPOCH + lo * _SEC,
                    end=_EPOCH + hi * _SEC,
                )
                lines_out.append(_line(p, service, res, gpu_type, q, part, qos, account, r, info))
        lines_out.sort(
            key=lambda u: (
                u.period,
                line_info(u).charge_start,
                line_info(u).resource_id,
                u.resource,
                u.gpu_type or "",
            )
        )
    else:
        merged: dict[tuple, dict] = {}
        for (p, account, user, part, qos), acc in data.items():
            r = who(account, user)
            by_user = r.matched is not None and r.matched.startswith("user")
            key = (p, account, user if by_user or r.matched is None and not account else "", part, qos)
            m = merged.setdefault(key, {})
            for rk, v in acc.items():
                m[rk] = m.get(rk, 0) + v
        for (name_p, account, user, part, qos), acc in merged.items():
            p = periods.get(name_p) or periods.setdefault(name_p, Period.parse(name_p))
            r = who(account, user)
            for (res, gpu_type), amount in sorted(acc.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
                if res not in priced:
                    not_priced.add(res)
                    continue
                q = quantity(amount, DIVISORS[res])
                if not q:
                    continue
                rid = f"slurm:{account or '(none)'}:{part}:{qos}" + (f":{user}" if user else "")
                info = _info(
                    r,
                    account,
                    user,
                    part,
                    qos,
                    res,
                    gpu_type,
                    per_user=bool(user),
                    resource_id=rid,
                    resource_name=f"{account or '(no account)'} on {part}",
                    start=None,
                    end=None,
                )
                lines_out.append(_line(p, service, res, gpu_type, q, part, qos, account, r, info))
        lines_out.sort(
            key=lambda u: (
                u.period,
                u.project or "",
                u.account or "",
                line_info(u).resource_id,
                u.resource,
                u.gpu_type or "",
            )
        )
    for u in lines_out:
        unmapped = line_info(u).unmapped
        if unmapped:
            report.unmapped[unmapped] = report.unmapped.get(unmapped, 0) + 1
    if not_priced:
        report.notes.append(
            f"resources not priced by the rate table (left out): {', '.join(sorted(not_priced))}"
        )
    return Usage(lines_out, report)


def _info(
    r, account, user, part, qos, res, gpu_type, *, per_user, resource_id, resource_name, start, end
) -> LineInfo:
    what = DESCRIPTIONS[res] + (f" ({gpu_type})" if gpu_type else "")
    tags = [("slurm_account", account), ("partition", part), ("qos", qos)]
    if per_user and user:
        tags.append(("slurm_user", user))
    if gpu_type:
        tags.append(("gpu_type", gpu_type))
    return LineInfo(
        sub_account=account or None,
        resource_id=resource_id,
        resource_name=resource_name,
        resource_type="Slurm job" if start is not None else "Slurm account usage",
        description=f"{what}, partition {part or '-'}, QOS {qos or '-'}",
        charge_start=start,
        charge_end=end,
        attribution=r.entry,
        tags=tuple((k, v) for k, v in tags if v),
        unmapped=r.missing,
    )


def _line(p, service, res, gpu_type, q, part, qos, account, r, info) -> UsageLine:
    return UsageLine(
        p,
        service,
        res,
        q,
        partition=part or None,
        qos=qos or None,
        gpu_type=gpu_type,
        account=account or None,
        project=r.project,
        ref=info,
    )


def run_sacct(period: Period, *, sacct: str = "sacct", extra_args: tuple[str, ...] = ()) -> str:
    """``sacct --parsable2 -a -X`` for the period, in UTC; the output text."""
    exe = shutil.which(sacct)
    if exe is None:
        raise InvalidInput(
            f"{sacct} is not on the PATH: give the sacct output as a file "
            f"(sacct --parsable2 -a -X --format={SACCT_FORMAT} -S ... -E ...)"
        )
    start = period.start.strftime("%Y-%m-%dT%H:%M:%S")
    end = period.end.strftime("%Y-%m-%dT%H:%M:%S")
    args = [exe, "--parsable2", "-a", "-X", f"--format={SACCT_FORMAT}", "-S", start, "-E", end, *extra_args]
    try:
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=3600, env={**os.environ, "TZ": "UTC"}, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InvalidInput(f"running {' '.join(args)} failed: {exc}") from None
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise InvalidInput(f"sacct exited with {done.returncode}: {first}")
    return done.stdout
