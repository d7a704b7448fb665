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
period's end or ``now``. An allocation seen twice (same JobIDRaw and Start, as when
two exports are concatenated) counts once. Times are local times without an offset:
``tz`` names the zone they were written in (run sacct with ``TZ=UTC`` to avoid DST).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from operator import itemgetter
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from openchargeback.convert.attribution import AttributionMap
from openchargeback.convert.focus_writer import LineInfo, line_info
from openchargeback.convert.usage import ConversionReport, Usage, quantity
from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.periods import Period
from openchargeback.domain.pricing import UsageLine

SACCT_FORMAT = (
    "JobID,JobIDRaw,JobName,Account,User,Partition,QOS,State,ExitCode,Start,End,"
    "Elapsed,ElapsedRaw,AllocCPUS,ReqMem,AllocTRES,ReqTRES,NodeList"
)
DEFAULT_BILLABLE = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "PREEMPTED", "RUNNING")
_NO_TIME = frozenset({"", "None", "Unknown", "NONE", "UNKNOWN"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = _EPOCH.toordinal()
_SEC = timedelta(seconds=1)
_KIB = {"K": 1, "M": 1024, "G": 1024**2, "T": 1024**3, "P": 1024**4}
# resource -> (divisor of the integer amount x seconds, what it measures)
DIVISORS = {"cpu": 3600, "gpu": 3600, "billing": 3600, "node": 3600, "mem": 1024 * 1024 * 3600}
DESCRIPTIONS = {
    "cpu": "CPU core-hours",
    "gpu": "GPU-hours",
    "mem": "memory GB-hours",
    "billing": "billing-unit hours",
    "node": "node-hours",
}


def parse_tres(text: str) -> tuple[tuple[tuple[str, str | None], int], ...]:
    """``billing=6,cpu=2,gres/gpu:a100=1,gres/gpu=1,mem=2000M,node=1`` ->
    ((('billing', None), 6), (('cpu', None), 2), (('gpu', 'a100'), 1), (('mem', None), KiB),
    (('node', None), 1)). Unknown TRES (energy, fs/disk, licenses) are left out."""
    out: dict[tuple[str, str | None], int] = {}
    typed_gpus = 0
    untyped_gpus = 0
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep:
            continue
        if name == "mem":
            out[("mem", None)] = mem_kib(value)
        elif name in ("cpu", "billing", "node"):
            out[(name, None)] = int(value)
        elif name == "gres/gpu":
            untyped_gpus = int(value)
        elif name.startswith("gres/gpu:"):
            gpu_type = name[len("gres/gpu:") :]
            out[("gpu", gpu_type)] = out.get(("gpu", gpu_type), 0) + int(value)
            typed_gpus += int(value)
    if untyped_gpus > typed_gpus:
        out[("gpu", None)] = untyped_gpus - typed_gpus
    return tuple(sorted(out.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")))


def mem_kib(text: str) -> int:
    """``500M``, ``1G``, ``3200K``, ``1.50G``, or old ``1000Mc``/``4000Mn`` -> KiB."""
    t = text.strip()
    if t and t[-1] in "cn" and len(t) > 1 and t[-2] in _KIB:
        t = t[:-1]
    unit = t[-1].upper() if t and t[-1].isalpha() else "M"
    number = t[:-1] if t and t[-1].isalpha() else t
    return int(Decimal(number) * _KIB[unit])


class _Clock:
    """Sacct's local times -> integer seconds since the epoch (UTC), and month bounds."""

    def __init__(self, tz: str):
        try:
            self.zone = None if tz.upper() == "UTC" else ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(
                f"time zone {tz!r} is unknown; use an IANA name such as Europe/Berlin, or UTC"
            ) from None
        self._bounds: dict[int, tuple[str, int, int]] = {}  # year*100+month -> (name, start, next)

    def _utc(self, text: str) -> datetime:
        dt = datetime.fromisoformat(text)
        if dt.tzinfo is None:
            if self.zone is None:
                return dt
            dt = dt.replace(tzinfo=self.zone)
        return dt.astimezone(UTC).replace(tzinfo=None)

    def seconds(self, text: str) -> int:
        d = self._utc(text)
        return (d.toordinal() - _EPOCH_ORDINAL) * 86400 + d.hour * 3600 + d.minute * 60 + d.second

    def start(self, text: str) -> tuple[int, tuple[str, int, int]]:
        """Seconds of a start time, and (name, start, next start) of its month."""
        d = self._utc(text)
        s = (d.toordinal() - _EPOCH_ORDINAL) * 86400 + d.hour * 3600 + d.minute * 60 + d.second
        b = self._bounds.get(d.year * 100 + d.month)
        return s, (b if b is not None else self.bounds(d.year, d.month))

    def bounds(self, year: int, month: int) -> tuple[str, int, int]:
        key = year * 100 + month
        b = self._bounds.get(key)
        if b is None:
            nxt = Period(year, month).next()
            b = self._bounds[key] = (
                f"{year:04d}-{month:02d}",
                self.month_start(year, month),
                self.month_start(nxt.year, nxt.month),
            )
        return b

    @staticmethod
    def month_start(year: int, month: int) -> int:
        return (datetime(year, month, 1).toordinal() - _EPOCH_ORDINAL) * 86400

    def month_of(self, seconds: int) -> tuple[str, int, int]:
        dt = _EPOCH + seconds * _SEC
        return self.bounds(dt.year, dt.month)


def _pieces(clock: _Clock, s: int, e: int, window: tuple[int, int] | None) -> Iterator[tuple[str, int, int]]:
    """(period name, from, to) of [s, e) split at month starts (or cut to the window)."""
    if window is not None:
        lo, hi = max(s, window[0]), min(e, window[1])
        if hi > lo:
            yield clock.month_of(lo)[0], lo, hi
        return
    while s < e:
        name, _start, nxt = clock.month_of(s)
        yield name, s, min(e, nxt)
        s = nxt


def read_sacct(
    lines: Iterable[str],
    source: str,
    *,
    period: Period | None = None,
    billable: Iterable[str] = DEFAULT_BILLABLE,
    tz: str = "UTC",
    now: datetime | None = None,
    per_job: bool = False,
):
    """Parse sacct output; returns (groups or pieces, report). See ``convert_slurm``.

    Groups are {(period name, account, user, partition, QOS): {(TRES, GPU type): amount x
    seconds}}; while reading, jobs with the same AllocTRES text only add their seconds
    and the TRES are expanded once per group at the end. Pieces (per job) are tuples of
    the job's share of each period."""
    report = ConversionReport("slurm", source)
    billable = frozenset(s.strip().upper() for s in billable)
    clock = _Clock(tz)
    it = iter(lines)
    header_line = next(it, None)
    if header_line is None or "|" not in header_line:
        raise InvalidInput(
            f"{source}: not sacct --parsable2 output (expected a header line such as "
            f"JobID|JobIDRaw|Account|...; run sacct with --parsable2 and without -n)"
        )
    header = header_line.rstrip("\r\n").split("|")
    col = {h.strip(): i for i, h in enumerate(header)}
    missing = [c for c in ("JobID", "State", "Start", "End") if c not in col]
    if "AllocTRES" not in col and "AllocCPUS" not in col:
        missing.append("AllocTRES")
    if missing:
        raise InvalidInput(
            f"{source}: sacct output lacks column(s) {', '.join(missing)}; use --format={SACCT_FORMAT}"
        )
    width = len(header)
    i_job, i_state, i_start, i_end = col["JobID"], col["State"], col["Start"], col["End"]
    i_raw = col.get("JobIDRaw", i_job)
    i_acct, i_user = col.get("Account"), col.get("User")
    i_part, i_qos = col.get("Partition"), col.get("QOS")
    i_name = col.get("JobName")
    # AllocTRES, else (older sacct) AllocCPUS: the header check above made sure of one
    i_alloc, cpus_only = (col["AllocTRES"], False) if "AllocTRES" in col else (col["AllocCPUS"], True)
    window = None
    if period is not None:
        window = (
            clock.month_start(period.year, period.month),
            clock.month_start(period.next().year, period.next().month),
        )
    now_s = ((now or datetime.now(UTC)) - _EPOCH) // _SEC
    states: dict[str, str | None] = {}  # State text -> skip reason, or None when billable
    tres_cache: dict[str, tuple] = {}
    groups: dict[tuple, int] = {}
    pieces: list[tuple] = []
    seen: set[str] = set()
    # Missing optional columns read an empty field appended to each row.
    pad = any(i is None for i in (i_acct, i_user, i_part, i_qos, i_name))
    who = itemgetter(*(width if i is None else i for i in (i_acct, i_user, i_part, i_qos)))
    i_name_or_pad = width if i_name is None else i_name
    groups_get, seen_add, clock_start, clock_seconds = groups.get, seen.add, clock.start, clock.seconds
    records = used = 0
    for lineno, raw in enumerate(it, start=2):
        f = raw.rstrip("\r\n").split("|")
        if len(f) != width:
            if f == [""]:
                continue
            if len(f) > width and i_name is not None:  # a '|' inside JobName
                extra = len(f) - width
                f = f[:i_name] + ["|".join(f[i_name : i_name + extra + 1])] + f[i_name + extra + 1 :]
            else:
                report.problems.append(f"{source}:{lineno}: {len(f)} fields, the header has {width}")
                continue
        records += 1
        jobid = f[i_job]
        if "." in jobid:
            report.skip("job step (billed through its allocation)")
            continue
        state_text = f[i_state]
        reason = states.get(state_text, "?")
        if reason == "?":
            state = state_text.split(" ", 1)[0].upper()
            reason = states[state_text] = None if state in billable else f"state {state} not billable"
        if reason is not None:
            report.skip(reason)
            continue
        start_text = f[i_start]
        if start_text in _NO_TIME:
            report.skip("never started")
            continue
        dup_key = f[i_raw] + "@" + start_text
        if dup_key in seen:
            report.skip("allocation listed twice")
            continue
        seen_add(dup_key)
        end_text = f[i_end]
        try:
            s, month = clock_start(start_text)
            if end_text in _NO_TIME:
                e = min(now_s, window[1]) if window else now_s
            else:
                e = clock_seconds(end_text)
            tres_text = f"cpu={int(f[i_alloc] or 0)}" if cpus_only else f[i_alloc]
            if tres_text not in tres_cache:
                tres_cache[tres_text] = parse_tres(tres_text)
        except (ValueError, KeyError, ArithmeticError) as exc:
            report.problems.append(f"{source}:{lineno}: job {jobid}: {exc}")
            continue
        if e <= s or not tres_text:
            report.skip("no usage (zero elapsed time or no allocated resources)")
            continue
        if pad:
            f.append("")
        account, user, part, qos = who(f)
        if window is None and e <= month[2] and not per_job:  # the common case: one month
            key = (month[0], account, user, part, qos, tres_text)
            groups[key] = groups_get(key, 0) + e - s
            used += 1
            continue
        split = ((month[0], s, e),) if window is None and e <= month[2] else _pieces(clock, s, e, window)
        any_piece = False
        for name, lo, hi in split:
            any_piece = True
            if per_job:
                pieces.append(
                    (
                        name,
                        account,
                        user,
                        part,
                        qos,
                        lo,
                        hi,
                        jobid,
                        f[i_name_or_pad],
                        tres_cache[tres_text],
                        hi - lo,
                    )
                )
                continue
            key = (name, account, user, part, qos, tres_text)
            groups[key] = groups_get(key, 0) + hi - lo
        if any_piece:
            used += 1
        else:
            report.skip("outside the period")
    report.records, report.used = records, used
    if per_job:
        return pieces, report
    expanded: dict[tuple, dict] = {}  # (period, account, user, partition, QOS) -> {TRES: amount x s}
    for (*group, tres_text), secs in groups.items():
        acc = expanded.setdefault(tuple(group), {})
        for rk, amount in tres_cache[tres_text]:
            acc[rk] = acc.get(rk, 0) + amount * secs
    return expanded, report


def convert_slurm(
    lines: Iterable[str],
    source: str,
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
    """Usage lines, one per period, account (or user when only the user is mapped),
    partition, QOS and resource (per job with ``per_job``), for the ``priced`` resources."""
    data, report = read_sacct(
        lines, source, period=period, billable=billable, tz=tz, now=now, per_job=per_job
    )
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
