"""Hand-made sacct --parsable2 output for edge cases (the real recordings are in
tests/fixtures/sacct/)."""

from __future__ import annotations

HEADER = (
    "JobID|JobIDRaw|JobName|Account|User|Partition|QOS|State|ExitCode|Start|End|Elapsed|"
    "ElapsedRaw|AllocCPUS|ReqMem|AllocTRES|ReqTRES|NodeList"
)


def job(
    jobid,
    start,
    end,
    tres="billing=1,cpu=1,mem=1G,node=1",
    *,
    account="genomics",
    user="alice",
    partition="cpu",
    qos="normal",
    state="COMPLETED",
    raw=None,
    name="job",
    cpus=1,
):
    return "|".join(
        [
            jobid,
            raw or jobid,
            name,
            account,
            user,
            partition,
            qos,
            state,
            "0:0",
            start,
            end,
            "00:00:00",
            "0",
            str(cpus),
            "1G",
            tres,
            tres,
            "n1",
        ]
    )


def step(jobid, start, end, tres="cpu=1,mem=1G,node=1", state="COMPLETED"):
    return "|".join(
        [
            jobid,
            jobid,
            "batch",
            "genomics",
            "",
            "",
            "",
            state,
            "0:0",
            start,
            end,
            "00:00:00",
            "0",
            "1",
            "",
            tres,
            "",
            "n1",
        ]
    )


def sacct(*rows: str) -> list[str]:
    return [HEADER + "\n", *(r + "\n" for r in rows)]
