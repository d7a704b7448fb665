#!/usr/bin/env python3
"""Write sbom.json: the CycloneDX 1.6 Software Bill of Materials of OpenChargeback's
runtime dependencies, as installed in this interpreter's environment (`make sbom`).

cyclonedx-bom (``cyclonedx-py environment``) describes every distribution of the
environment, the development tools included; this keeps the root component and the
distributions the runtime needs: the closure of ``openchargeback``'s requirements
(without its extras, with the extras a requirement names, markers evaluated here), and
the dependency graph between them. The output is reproducible (no timestamp, no serial
number) and validated against the CycloneDX 1.6 schema before it is written.

    python scripts/sbom.py [-o sbom.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "openchargeback"


def runtime_closure(project: str = PROJECT) -> dict[str, set[str]]:
    """Canonical name -> the extras asked of it, for every distribution ``project``
    needs at run time (itself excluded)."""
    seen: dict[str, set[str]] = {}
    todo: list[tuple[str, frozenset[str]]] = [(project, frozenset())]
    while todo:
        name, extras = todo.pop()
        key = canonicalize_name(name)
        if key in seen and extras <= seen[key]:
            continue
        wanted = seen.setdefault(key, set())
        wanted |= extras
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            raise SystemExit(f"{name} is required but not installed: install the project first") from None
        environments = [{"extra": e} for e in sorted(wanted)] or [{"extra": ""}]
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is not None and not any(req.marker.evaluate(env) for env in environments):
                continue
            todo.append((req.name, frozenset(req.extras)))
    del seen[canonicalize_name(project)]
    return seen


def direct_requirements() -> list[str]:
    """The canonical names of pyproject.toml's [project].dependencies."""
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [canonicalize_name(Requirement(r).name) for r in data["project"]["dependencies"]]


def environment_bom() -> dict:
    """cyclonedx-bom's BOM of this interpreter's environment."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bom.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "cyclonedx_py",
                "environment",
                "--pyproject",
                str(ROOT / "pyproject.toml"),
                "--spec-version",
                "1.6",
                "--output-reproducible",
                "--output-format",
                "JSON",
                "-o",
                str(out),
                sys.executable,
            ],
            check=True,
        )
        return json.loads(out.read_text(encoding="utf-8"))


def runtime_bom(bom: dict) -> dict:
    """``bom`` cut down to the root component and the runtime closure."""
    keep = runtime_closure()
    components = [c for c in bom["components"] if canonicalize_name(c["name"]) in keep]
    found = {canonicalize_name(c["name"]) for c in components}
    missing = sorted(set(keep) - found)
    if missing:
        raise SystemExit(f"cyclonedx-py did not list {', '.join(missing)}")
    refs = {c["bom-ref"] for c in components}
    by_name: dict[str, str] = {canonicalize_name(c["name"]): c["bom-ref"] for c in components}
    root_ref = bom["metadata"]["component"]["bom-ref"]
    dependencies = []
    for dep in bom.get("dependencies", []):
        if dep["ref"] in refs:
            on = sorted(r for r in dep.get("dependsOn", []) if r in refs)
            dependencies.append({"ref": dep["ref"], **({"dependsOn": on} if on else {})})
    direct = sorted(by_name[name] for name in direct_requirements())
    dependencies.append({"ref": root_ref, "dependsOn": direct})
    out = dict(bom)
    out["components"] = sorted(components, key=lambda c: c["bom-ref"].lower())
    out["dependencies"] = sorted(dependencies, key=lambda d: d["ref"].lower())
    return out


def validate(text: str) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise SystemExit(f"the SBOM is not valid CycloneDX 1.6: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "sbom.json")
    args = parser.parse_args()
    text = json.dumps(runtime_bom(environment_bom()), indent=2, sort_keys=True) + "\n"
    validate(text)
    args.output.write_text(text, encoding="utf-8")
    bom = json.loads(text)
    print(f"{args.output}: CycloneDX {bom['specVersion']}, {len(bom['components'])} components")


if __name__ == "__main__":
    main()
