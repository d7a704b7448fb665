"""sample_data/outputs/ is what scripts/generate-sample-outputs.sh makes from a fresh
database: the script is run into a temporary folder and its files compared with the
committed ones: the same names; journals byte for byte; email messages header for
header and body part for body part (the attached PDFs by their text); statements by
their text. A difference means the product's documents changed: regenerate the samples
(`scripts/generate-sample-outputs.sh`) and review the diff."""

from __future__ import annotations

import email
import email.policy
import io
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "sample_data" / "outputs"

pytestmark = pytest.mark.slow  # renders 26 statements and 18 messages


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def _message_parts(data: bytes) -> list[tuple[str, str | bytes]]:
    """Each part of a message: its headers and body as sent (bytes), except PDFs: their text."""
    msg = email.message_from_bytes(data, policy=email.policy.default)
    out: list[tuple[str, str | bytes]] = [("headers", "\n".join(f"{k}: {v}" for k, v in msg.items()))]
    for part in msg.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        name = f"{part.get_content_type()} {part.get_filename() or ''}".strip()
        out.append((name, _pdf_text(payload) if part.get_content_type() == "application/pdf" else payload))
    return out


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("samples") / "outputs"
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "generate-sample-outputs.sh"), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_same_files(regenerated):
    assert _files(COMMITTED), "sample_data/outputs is empty: run scripts/generate-sample-outputs.sh"
    assert _files(regenerated) == _files(COMMITTED)
    kinds = {Path(f).parts[1] for f in _files(COMMITTED)}
    assert kinds == {"statements", "email", "journals"}
    assert {Path(f).parts[0] for f in _files(COMMITTED)} == {"2025-01", "2025-12"}
    journals = [f for f in _files(COMMITTED) if "/journals/" in f]
    assert {Path(f).name.split("-")[3] for f in journals} == {"gl", "standard", "summary"}


def test_journals_byte_for_byte(regenerated):
    for name in _files(COMMITTED):
        if "/journals/" in name:
            assert (regenerated / name).read_bytes() == (COMMITTED / name).read_bytes(), name


def test_messages_part_for_part(regenerated):
    for name in _files(COMMITTED):
        if name.endswith(".eml"):
            got = _message_parts((regenerated / name).read_bytes())
            want = _message_parts((COMMITTED / name).read_bytes())
            assert got == want, name


def test_statements_by_text(regenerated):
    for name in _files(COMMITTED):
        if name.endswith(".pdf"):
            got = _pdf_text((regenerated / name).read_bytes())
            assert got == _pdf_text((COMMITTED / name).read_bytes()), name
            assert "Amount due" in got or "amount due" in got.lower(), name


def test_token_usage_source_is_billed():
    """The "other source" sample (token usage of a hosted language-model API) reaches the
    journal under its own recovery fund."""
    gl = (COMMITTED / "2025-01" / "journals" / "journal-2025-01-gl-001.csv").read_text()
    assert "OCB-2025-01-llm" in gl and "RC,AI-0005" in gl
