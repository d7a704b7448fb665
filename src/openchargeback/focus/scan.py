"""One pass over a file's bytes: SHA-256, size and newline count. It runs on its own
thread while the file is read (hashlib, zlib and numpy release the GIL)."""

from __future__ import annotations

import hashlib
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openchargeback.domain.errors import FileRefused

_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class FileScan:
    sha256: str
    size: int
    newlines: int  # newline characters in the (decompressed) text
    ends_with_newline: bool


def detect_format(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head[:2] == b"\x1f\x8b":
        return "csv.gz"
    if head == b"PAR1":
        return "parquet"
    return "csv"


def scan(path: Path, fmt: str, limits: Limits | None = None) -> FileScan:
    """One pass; a .csv.gz is inflated in bounded steps. FileRefused when the text
    expands beyond ``limits.expanded`` bytes or holds a line longer than ``limits.line``."""
    limits = limits or Limits()
    digest = hashlib.sha256()
    size = newlines = expanded = current = 0  # current: length of the line being read
    last = b""
    inflate = zlib.decompressobj(wbits=47) if fmt == "csv.gz" else None
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if fmt == "parquet":
                continue
            data = chunk
            while data:
                if inflate:
                    text = inflate.decompress(data, _CHUNK)  # at most _CHUNK bytes at a time
                    data = inflate.unconsumed_tail
                else:
                    text, data = data, b""
                if not text:
                    break
                expanded += len(text)
                if expanded > limits.expanded:
                    raise FileRefused(
                        f"{path.name}: expands to more than {limits.expanded // 2**20:,} MB of text "
                        f"(ingest.max_expanded_mb); refused"
                    )
                # each line's length, found with numpy (a split and a loop over the lines
                # held the GIL 0.4 s of a 300,000-row import, issue 21)
                ends = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == 10)
                if len(ends):
                    lengths = np.diff(ends, prepend=-1) - 1  # the lines this text ends
                    lengths[0] += current  # the first continues the line before
                    over = np.flatnonzero(lengths > limits.line)
                    if len(over):
                        raise FileRefused(
                            f"{path.name}: line {newlines + 1 + int(over[0])} "
                            f"is longer than {limits.line // 1024:,} KB (ingest.max_line_kb); refused"
                        )
                    current = len(text) - int(ends[-1]) - 1
                else:
                    current += len(text)
                if current > limits.line:
                    raise FileRefused(
                        f"{path.name}: line {newlines + len(ends) + 1} is longer than "
                        f"{limits.line // 1024:,} KB (ingest.max_line_kb); refused"
                    )
                newlines += len(ends)
                last = text[-1:]
    return FileScan(digest.hexdigest(), size, newlines, last == b"\n")


@dataclass(frozen=True)
class Limits:
    """Bounds on a file (settings ``ingest.*``): expanded text, line, text value."""

    expanded: int = 10_000 * 2**20
    line: int = 2**20
    value: int = 4096


class BackgroundScan:
    """Start :func:`scan` now; ``result()`` waits for it (and re-raises its error)."""

    def __init__(self, path: Path, fmt: str, limits: Limits | None = None):
        self._result: FileScan | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(path, fmt, limits), name="focus-scan", daemon=True
        )
        self._thread.start()

    def _run(self, path: Path, fmt: str, limits: Limits | None) -> None:
        try:
            self._result = scan(path, fmt, limits)
        except BaseException as exc:  # re-raised by result()
            self._error = exc

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self) -> FileScan:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result
