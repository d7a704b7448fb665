"""One pass over a file's bytes before it is read: SHA-256, size, format, and whether
record line numbers can be derived from the records themselves (no blank lines)."""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class FileScan:
    sha256: str
    size: int
    format: str  # csv, csv.gz or parquet
    blank_lines: bool  # a blank line somewhere: count lines with the csv module instead
    newlines: int  # newline characters in the (decompressed) text
    ends_with_newline: bool


def detect_format(head: bytes) -> str:
    if head[:2] == b"\x1f\x8b":
        return "csv.gz"
    if head[:4] == b"PAR1":
        return "parquet"
    return "csv"


def scan(path: Path) -> FileScan:
    digest = hashlib.sha256()
    size = 0
    blank = False
    fmt = None
    inflate = None
    tail = b""
    newlines = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            if fmt is None:
                fmt = detect_format(chunk)
                if fmt == "csv.gz":
                    inflate = zlib.decompressobj(wbits=47)
            digest.update(chunk)
            size += len(chunk)
            if fmt == "parquet":
                continue
            text = inflate.decompress(chunk) if inflate else chunk
            if not text:
                continue
            newlines += text.count(b"\n")
            # An empty line may also sit inside a quoted value; erring towards True only
            # costs speed (line numbers are then counted by the csv module).
            joint = tail + text[:2]
            blank = blank or any(p in t for p in (b"\n\n", b"\n\r\n") for t in (text, joint))
            tail = text[-2:]
    return FileScan(digest.hexdigest(), size, fmt or "csv", blank, newlines, tail.endswith(b"\n"))
