"""The bash blocks of README.md that the tests run as written, and the environment they
run in (the suite's installed ``openchargeback`` first on PATH)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
QUICK_START = "Quick Start"
CRON = "The month, from cron"


def script(heading: str) -> str:
    """The text of the first ``bash`` block under the README heading ``## heading``, as
    written."""
    text = README.read_text(encoding="utf-8")
    marker = f"\n## {heading}\n"
    assert marker in text, f"README.md has no section '## {heading}'"
    section = text.split(marker, 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```bash\n(.*?)```", section, re.S)
    assert found, f"README.md: the section '## {heading}' has no bash block"
    return found.group(1)


def block(heading: str) -> list[str]:
    """The command lines (comments and blank lines left out) of the first ``bash`` block
    under the README heading ``## heading``."""
    return [
        ln.strip() for ln in script(heading).splitlines() if ln.strip() and not ln.strip().startswith("#")
    ]


def cli_env() -> dict[str, str]:
    """The environment for running the blocks in bash: this interpreter's scripts first on
    PATH, no configuration inherited from the caller."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    env.pop("OPENCHARGEBACK_CONFIG", None)
    return env
