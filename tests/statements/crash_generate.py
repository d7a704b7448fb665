"""``openchargeback generate`` in its own process, made to fail while it writes statement
files (run by tests/statements/test_statements_issued.py):

    crash_generate.py CONFIG PERIOD kill   # SIGKILL itself while the third file is written
    crash_generate.py CONFIG PERIOD full   # the disk "fills up" after the first file:
                                           # RLIMIT_FSIZE makes every later write fail (EFBIG)

The process is real and so are its failures; only the moment is chosen, by counting the
files it has finished (its calls of os.replace)."""

from __future__ import annotations

import os
import resource
import signal
import sys

from openchargeback.cli.app import main


def arm(mode: str) -> None:
    real_replace = os.replace
    done = 0

    def replace(src, dst, *args, **kwargs):
        nonlocal done
        if str(src).endswith(".tmp"):
            if mode == "kill" and done == 2:
                os.kill(os.getpid(), signal.SIGKILL)  # the third file is in its temporary name
            if mode == "full" and done == 1:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a signal death
                _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
                resource.setrlimit(resource.RLIMIT_FSIZE, (512, hard))
            done += 1
        return real_replace(src, dst, *args, **kwargs)

    os.replace = replace


if __name__ == "__main__":
    config, period, how = sys.argv[1:4]
    arm(how)
    main(["generate", "-p", period, "-c", config])
