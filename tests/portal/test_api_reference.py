"""docs/user-guide/api-reference.md is what scripts/api_reference.py generates from the
API's OpenAPI document (run it after changing the API)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_reference_page_is_up_to_date():
    spec = importlib.util.spec_from_file_location("api_reference", ROOT / "scripts" / "api_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    doc = module.document()
    assert doc["openapi"].startswith("3.1")
    assert module.PAGE.read_text() == module.render(doc), "run: python scripts/api_reference.py"
