"""focus.scan: line lengths and newlines counted over chunks, checked against the lines
themselves (the count is vectorised; a line may span chunks)."""

from __future__ import annotations

import hashlib
import random

import pytest

from openchargeback.domain.errors import FileRefused
from openchargeback.focus import scan as scan_mod
from openchargeback.focus.scan import Limits, scan


@pytest.mark.parametrize("seed", range(6))
def test_newlines_and_the_first_overlong_line_as_the_lines_say(tmp_path, monkeypatch, seed):
    monkeypatch.setattr(scan_mod, "_CHUNK", 97)  # lines span chunks
    rng = random.Random(seed)
    sizes = [0, 1, 5, 40, 150] + ([300] if seed % 3 else [])  # seeds 0 and 3: none too long
    lines = [b"x" * rng.choice(sizes) for _ in range(400)]
    data = b"\n".join(lines) + (b"\n" if seed % 2 else b"")
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    limit = 200
    long = next((i for i, line in enumerate(lines) if len(line) > limit), None)
    if long is None:
        got = scan(path, "csv", Limits(line=limit))
        assert got.newlines == data.count(b"\n") and got.size == len(data)
        assert got.sha256 == hashlib.sha256(data).hexdigest()
        assert got.ends_with_newline == data.endswith(b"\n")
    else:
        with pytest.raises(FileRefused, match=rf"f\.csv: line {long + 1} is longer than"):
            scan(path, "csv", Limits(line=limit))


def test_a_file_within_the_limit_is_counted(tmp_path, monkeypatch):
    monkeypatch.setattr(scan_mod, "_CHUNK", 7)
    path = tmp_path / "g.csv"
    path.write_bytes(b"a,b\n1,2\n\n333,4444444\n5")
    got = scan(path, "csv", Limits(line=11))
    assert (got.newlines, got.ends_with_newline) == (4, False)
    with pytest.raises(FileRefused, match=r"g\.csv: line 4 is longer than"):
        scan(path, "csv", Limits(line=10))
