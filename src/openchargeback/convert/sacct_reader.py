"""Reading ``sacct --parsable2`` output: allocations x wall-clock seconds, per period.

Several files of one conversion are one data set: each file has its own header (its
own column order), and an allocation listed in more than one line or file (same
JobIDRaw and Start, as when weekly exports overlap) counts once. Of its copies the
latest state wins whatever the order of the files: a finished copy (with an End)
beats a running one, and of finished copies the one with the later End wins; the
report counts the copies merged.

Every data line read is counted once: used, skipped (with the reason) or a problem
(``file:line: column C: 'value': expected ...``). A last line without a line end is a
problem: the file was cut while being written or copied, and its last field may be
short (``cpu=1`` of ``cpu=16``).

Times are local times without an offset: ``tz`` names the zone they were written in
(run sacct with ``TZ=UTC`` to avoid DST). Pieces are split at month boundaries (UTC).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from openchargeback.convert.usage import ConversionReport
from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.periods import Period

SACCT_FORMAT = (
    "JobID,JobIDRaw,JobName,Account,User,Partition,QOS,State,ExitCode,Start,End,"
    "Elapsed,ElapsedRaw,AllocCPUS,ReqMem,AllocTRES,ReqTRES,NodeList"
)
DEFAULT_BILLABLE = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "PREEMPTED", "RUNNING")
MERGED = "copy of an allocation listed in another line or file (merged: its latest state is billed)"
_NO_TIME = frozenset({"", "None", "Unknown", "NONE", "UNKNOWN"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = _EPOCH.toordinal()
_SEC = timedelta(seconds=1)
_KIB = {"K": 1, "M": 1024, "G": 1024**2, "T": 1024**3, "P": 1024**4}
_RUNNING = -(1 << 62)  # the rank of a copy without an End: below every finished copy
_TIME_EXAMPLE = "a time such as 2026-01-31T23:59:59, None or Unknown"


class BadField(ValueError):
    """A field that cannot be read: its column, its text and what was expected."""

    def __init__(self, column: str, value: str, expected: str):
        super().__init__(f"column {column}: {value!r}: expected {expected}")


def _count(text: str, column: str, item: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise BadField(column, item, "a whole number of units, such as cpu=16") from None
    if n < 0:
        raise BadField(column, item, "a count of at least 0")
    return n


def parse_tres(text: str, column: str = "AllocTRES") -> tuple[tuple[tuple[str, str | None], int], ...]:
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
            try:
                out[("mem", None)] = mem_kib(value)
            except ValueError:
                raise BadField(column, item, "a memory size such as mem=500M, 1G or 3200K") from None
        elif name in ("cpu", "billing", "node"):
            out[(name, None)] = _count(value, column, item)
        elif name == "gres/gpu":
            untyped_gpus = _count(value, column, item)
        elif name.startswith("gres/gpu:"):
            gpu_type = name[len("gres/gpu:") :]
            n = _count(value, column, item)
            out[("gpu", gpu_type)] = out.get(("gpu", gpu_type), 0) + n
            typed_gpus += n
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
    try:
        d = Decimal(number) * _KIB[unit]
    except (InvalidOperation, KeyError):
        raise ValueError(f"{text!r} is not a memory size such as 500M, 1G or 3200K") from None
    if not d.is_finite() or d < 0:
        raise ValueError(f"{text!r} is not a memory size such as 500M, 1G or 3200K")
    return int(d)


class Clock:
    """Sacct's local times -> integer seconds since the epoch (UTC), and month bounds."""

    def __init__(self, tz: str):
        try:
            self.zone = None if tz.upper() == "UTC" else ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(
                f"time zone {tz!r} is unknown; use an IANA name such as Europe/Berlin, or UTC"
            ) from None
        self._bounds: dict[int, tuple[str, int, int]] = {}  # year*100+month -> (name, start, next)

    def _utc(self, text: str, column: str) -> datetime:
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise BadField(column, text, _TIME_EXAMPLE) from None
        if dt.tzinfo is None:
            if self.zone is None:
                return dt
            dt = dt.replace(tzinfo=self.zone)
        return dt.astimezone(UTC).replace(tzinfo=None)

    def seconds(self, text: str, column: str = "End") -> int:
        d = self._utc(text, column)
        return (d.toordinal() - _EPOCH_ORDINAL) * 86400 + d.hour * 3600 + d.minute * 60 + d.second

    def start(self, text: str) -> tuple[int, tuple[str, int, int]]:
        """Seconds of a start time, and (name, start, next start) of its month."""
        d = self._utc(text, "Start")
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


def _pieces(clock: Clock, s: int, e: int, window: tuple[int, int] | None) -> Iterator[tuple[str, int, int]]:
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


class _Columns:
    """One file's header: where each column is."""

    def __init__(self, source: str, header_line: str | None):
        if header_line is not None:
            header_line = header_line.lstrip("\ufeff")  # a byte-order mark is not part of JobID
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
        self.width = width = len(header)
        self.job, self.state, self.start, self.end = col["JobID"], col["State"], col["Start"], col["End"]
        self.raw = col.get("JobIDRaw", self.job)
        self.name = col.get("JobName")
        # AllocTRES, else (older sacct) AllocCPUS: the check above made sure of one
        self.alloc, self.cpus_only = (
            (col["AllocTRES"], False) if "AllocTRES" in col else (col["AllocCPUS"], True)
        )
        self.alloc_name = "AllocTRES" if not self.cpus_only else "AllocCPUS"
        optional = [col.get(c) for c in ("Account", "User", "Partition", "QOS")]
        # Missing optional columns read an empty field appended to each row.
        self.pad = any(i is None for i in (*optional, self.name))
        self.who = itemgetter(*(width if i is None else i for i in optional))
        self.name_or_pad = width if self.name is None else self.name


class SacctReader:
    """Reads one or more files into groups (or per-job pieces) and a report."""

    def __init__(
        self,
        *,
        period: Period | None = None,
        billable: Iterable[str] = DEFAULT_BILLABLE,
        tz: str = "UTC",
        now: datetime | None = None,
        per_job: bool = False,
    ):
        self.report = ConversionReport("slurm", "")
        self.billable = frozenset(s.strip().upper() for s in billable)
        self.clock = Clock(tz)
        self.per_job = per_job
        self.window: tuple[int, int] | None = None
        if period is not None:
            nxt = period.next()
            self.window = (
                self.clock.month_start(period.year, period.month),
                self.clock.month_start(nxt.year, nxt.month),
            )
        self.now_s = ((now or datetime.now(UTC)) - _EPOCH) // _SEC
        self.states: dict[str, str | None] = {}  # State text -> skip reason, or None when billable
        self.tres_cache: dict[str, tuple[Any, ...]] = {}
        # (period, account, user, partition, QOS, AllocTRES text) -> seconds
        self.groups: dict[tuple[str, ...], int] = {}
        self.pieces: list[tuple[Any, ...] | None] = []
        # JobIDRaw@Start -> (rank, what the copy counted): see _undo. Flat tuples and shared
        # group keys (canon): one small entry per allocation.
        self.kept: dict[str, tuple[int, Any, Any]] = {}
        self.canon: dict[tuple[str, ...], tuple[str, ...]] = {}
        self.names: list[str] = []

    def feed(self, source: str, lines: Iterable[str]) -> None:
        """Read one file (its header first)."""
        self.names.append(source)
        report = self.report
        it = iter(lines)
        c = _Columns(source, next(it, None))
        width = c.width
        i_name = c.name
        billable, states, clock, window = self.billable, self.states, self.clock, self.window
        kept, kept_get = self.kept, self.kept.get
        groups, groups_get, canon_set = self.groups, self.groups.get, self.canon.setdefault
        one_month = window is None and not self.per_job
        for lineno, raw in enumerate(it, start=2):
            f = raw.rstrip("\r\n").split("|")
            if f == [""]:
                continue
            report.records += 1
            if not raw.endswith("\n"):
                report.problems.append(
                    f"{source}:{lineno}: the file ends inside this record (no line end after it): "
                    f"it was cut short, and its last field may be incomplete; export it again"
                )
                continue
            if len(f) != width:
                if len(f) > width and i_name is not None:  # a '|' inside JobName
                    extra = len(f) - width
                    f = f[:i_name] + ["|".join(f[i_name : i_name + extra + 1])] + f[i_name + extra + 1 :]
                else:
                    report.problems.append(f"{source}:{lineno}: {len(f)} fields, the header has {width}")
                    continue
            jobid = f[c.job]
            if "." in jobid:
                report.skip("job step (billed through its allocation)")
                continue
            state_text = f[c.state]
            reason = states.get(state_text, "?")
            if reason == "?":
                state = state_text.split(" ", 1)[0].upper()
                reason = states[state_text] = None if state in billable else f"state {state} not billable"
            start_text = f[c.start]
            if start_text in _NO_TIME:
                report.skip(reason or "never started")
                continue
            end_text = f[c.end]
            finished = end_text not in _NO_TIME
            try:
                s, month = clock.start(start_text)
                e_end = clock.seconds(end_text) if finished else 0
                tres_text = ""
                if reason is None:
                    if c.cpus_only:
                        tres_text = f"cpu={_count(f[c.alloc] or '0', 'AllocCPUS', f[c.alloc])}"
                    else:
                        tres_text = f[c.alloc]
                    if tres_text not in self.tres_cache:
                        self.tres_cache[tres_text] = parse_tres(tres_text, c.alloc_name)
            except ValueError as exc:
                if reason is not None:  # an unbillable line is skipped whatever its times
                    report.skip(reason)
                else:
                    report.problems.append(f"{source}:{lineno}: job {jobid}: {exc}")
                continue
            rank = e_end if finished else _RUNNING
            dup_key = f[c.raw] + "@" + start_text
            prev = kept_get(dup_key)
            if prev is not None:
                if prev[0] >= rank:
                    report.skip(MERGED)
                    continue
                self._undo(prev)
                report.skip(MERGED)
            if reason is not None:
                report.skip(reason)
                kept[dup_key] = (rank, reason, None)
                continue
            # a running job: billed to the period's end, or now
            e = e_end if finished else min(self.now_s, window[1]) if window else self.now_s
            if e <= s or not tres_text:
                reason = "no usage (zero elapsed time or no allocated resources)"
                report.skip(reason)
                kept[dup_key] = (rank, reason, None)
                continue
            if c.pad:
                f.append("")
            if one_month and e <= month[2]:  # the common case, inline: one month, groups
                account, user, part, qos = c.who(f)
                key: tuple[str, ...] = (month[0], account, user, part, qos, tres_text)
                key = canon_set(key, key)  # one object per group, shared by its jobs
                groups[key] = groups_get(key, 0) + e - s
                report.used += 1
                kept[dup_key] = (rank, key, e - s)
                continue
            what, secs = self._add(f, c, s, e, month, jobid, tres_text)
            if what:
                report.used += 1
                kept[dup_key] = (rank, what, secs)
            else:
                reason = "outside the period"
                report.skip(reason)
                kept[dup_key] = (rank, reason, None)

    def _add(
        self, f: list[str], c: _Columns, s: int, e: int, month: tuple[str, int, int], jobid: str, tres: str
    ) -> tuple[Any, int | None]:
        """Adds an allocation's seconds; what was added, so that a later copy of the
        allocation can take it back: (group key, seconds) in the common case, else
        (((group key, seconds) or piece index, ...), None); ((), None) when nothing."""
        account, user, part, qos = c.who(f)
        groups = self.groups
        if self.window is None and e <= month[2] and not self.per_job:  # the common case: one month
            k: tuple[str, ...] = (month[0], account, user, part, qos, tres)
            k = self.canon.setdefault(k, k)  # one object per group, shared by its jobs
            groups[k] = groups.get(k, 0) + e - s
            return k, e - s
        if self.window is None and e <= month[2]:
            split: Iterable[tuple[str, int, int]] = ((month[0], s, e),)
        else:
            split = _pieces(self.clock, s, e, self.window)
        added: list[Any] = []
        for name, lo, hi in split:
            if self.per_job:
                added.append(len(self.pieces))
                what = f[c.name_or_pad]
                piece = (name, account, user, part, qos, lo, hi, jobid, what, self.tres_cache[tres], hi - lo)
                self.pieces.append(piece)
                continue
            key = (name, account, user, part, qos, tres)
            groups[key] = groups.get(key, 0) + hi - lo
            added.append((key, hi - lo))
        return tuple(added), None

    def _undo(self, prev: tuple[int, Any, Any]) -> None:
        """Takes back what an earlier copy of an allocation counted: (rank, skip reason,
        None), (rank, group key, seconds) or (rank, (what _add added, ...), None)."""
        _rank, what, secs = prev
        report = self.report
        if isinstance(what, str):
            reason = what
            n = report.skipped.get(reason, 0) - 1
            if n > 0:
                report.skipped[reason] = n
            else:
                report.skipped.pop(reason, None)
            return
        report.used -= 1
        if secs is not None:
            self.groups[what] -= secs
            return
        for item in what:
            if self.per_job:
                self.pieces[item] = None
            else:
                key, secs = item
                self.groups[key] -= secs

    def result(self) -> tuple[Any, ConversionReport]:
        """Groups {(period name, account, user, partition, QOS): {(TRES, GPU type): amount x
        seconds}}, or (per job) the pieces; and the report."""
        self.report.source = ", ".join(self.names)
        if self.per_job:
            return [p for p in self.pieces if p is not None], self.report
        expanded: dict[tuple[str, ...], dict[tuple[str, str | None], int]] = {}
        for (*group, tres_text), secs in self.groups.items():
            if not secs:
                continue
            acc = expanded.setdefault(tuple(group), {})
            for rk, amount in self.tres_cache[tres_text]:
                acc[rk] = acc.get(rk, 0) + amount * secs
        return expanded, self.report


def read_sacct(
    inputs: Iterable[tuple[str, Iterable[str]]],
    *,
    period: Period | None = None,
    billable: Iterable[str] = DEFAULT_BILLABLE,
    tz: str = "UTC",
    now: datetime | None = None,
    per_job: bool = False,
) -> tuple[Any, ConversionReport]:
    """Every (name, lines) input read as one data set; see :class:`SacctReader`."""
    reader = SacctReader(period=period, billable=billable, tz=tz, now=now, per_job=per_job)
    for name, lines in inputs:
        reader.feed(name, lines)
    return reader.result()
