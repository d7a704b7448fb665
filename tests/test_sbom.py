"""sbom.json (`make sbom`, scripts/sbom.py) is a valid CycloneDX 1.6 document, checked
against the schema cyclonedx-python-lib ships (no network), and lists every runtime
dependency of pyproject.toml, at a version its requirement allows, and no development
tool."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
SBOM = ROOT / "sbom.json"


@pytest.fixture(scope="module")
def bom() -> dict:
    assert SBOM.is_file(), "sbom.json is missing: run `make sbom`"
    return json.loads(SBOM.read_text(encoding="utf-8"))


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_valid_cyclonedx_1_6():
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(SBOM.read_text(encoding="utf-8"))
    assert error is None, f"sbom.json: {error}"


def test_describes_this_project(bom):
    assert (bom["bomFormat"], bom["specVersion"]) == ("CycloneDX", "1.6")
    root = bom["metadata"]["component"]
    assert (root["name"], root["version"]) == (_project()["name"], _project()["version"])


def test_lists_every_runtime_dependency(bom):
    listed = {canonicalize_name(c["name"]): c for c in bom["components"]}
    for text in _project()["dependencies"]:
        req = Requirement(text)
        component = listed.get(canonicalize_name(req.name))
        assert component is not None, f"sbom.json lacks {req.name}: run `make sbom`"
        assert req.specifier.contains(component["version"], prereleases=True), (
            f"sbom.json: {req.name} {component['version']} does not satisfy {text}: run `make sbom`"
        )
        assert component["purl"].startswith(f"pkg:pypi/{canonicalize_name(req.name)}@")
    root_ref = bom["metadata"]["component"]["bom-ref"]
    (root,) = [d for d in bom["dependencies"] if d["ref"] == root_ref]
    assert len(root["dependsOn"]) == len(_project()["dependencies"])


def test_no_development_tool(bom):
    dev = {canonicalize_name(Requirement(r).name) for r in _project()["optional-dependencies"]["dev"]}
    runtime = {canonicalize_name(Requirement(r).name) for r in _project()["dependencies"]}
    listed = {canonicalize_name(c["name"]) for c in bom["components"]}
    assert not (dev - runtime) & listed


def test_dependency_graph_is_closed(bom):
    refs = {c["bom-ref"] for c in bom["components"]} | {bom["metadata"]["component"]["bom-ref"]}
    for dep in bom["dependencies"]:
        assert dep["ref"] in refs
        assert set(dep.get("dependsOn", [])) <= refs
