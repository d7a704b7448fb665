"""One pass over a file's bytes: SHA-256, size and newline count. It runs on its own
thread while the file is read (hashlib and zlib release the GIL)."""

from __future__ import annotations

import hashlib
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

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


def scan(path: Path, fmt: str) -> FileScan:
    digest = hashlib.sha256()
    size = newlines = 0
    last = b""
    inflate = zlib.decompressobj(wbits=47) if fmt == "csv.gz" else None
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if fmt == "parquet":
                continue
            text = inflate.decompress(chunk) if inflate else chunk
            if text:
                newlines += text.count(b"\n")
                last = text[-1:]
    return FileScan(digest.hexdigest(), size, newlines, last == b"\n")


class BackgroundScan:
    """Start :func:`scan` now; ``result()`` waits for it (and re-raises its error)."""

    def __init__(self, path: Path, fmt: str):
        self._result: FileScan | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(path, fmt), name="focus-scan", daemon=True)
        self._thread.start()

    def _run(self, path: Path, fmt: str) -> None:
        try:
            self._result = scan(path, fmt)
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
