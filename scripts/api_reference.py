"""Write docs/user-guide/api-reference.md from the API's OpenAPI document (the same
document /api/v1/openapi.json serves). tests/portal/test_api_reference.py checks that
the committed page is up to date.

    python scripts/api_reference.py [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "user-guide" / "api-reference.md"


def document() -> dict:
    from fastapi import FastAPI

    from openchargeback.web.api import actions, reads

    api = FastAPI(title="OpenChargeback API", version="1", servers=[{"url": "/api/v1"}])
    api.include_router(reads.router)
    api.include_router(actions.router)
    return api.openapi()


def _type(schema: dict) -> str:
    if "anyOf" in schema:
        return " or ".join(_type(s) for s in schema["anyOf"] if s.get("type") != "null")
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    t = schema.get("type", "object")
    if "pattern" in schema:
        return f"{t} (`{schema['pattern']}`)".replace("|", "\\|")
    return t


def render(doc: dict) -> str:
    out = [
        "# REST API reference",
        "",
        "Generated from the OpenAPI document (`python scripts/api_reference.py`); the live",
        "document, for authenticated clients, is `/api/v1/openapi.json` (OpenAPI "
        f"{doc['openapi']}). How to use it: [REST API](api.md).",
        "",
    ]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            out += [f"## `{method.upper()} /api/v1{path}`", ""]
            if op.get("description"):
                out += [" ".join(op["description"].split()), ""]
            params = op.get("parameters", [])
            if params:
                out += ["| parameter | in | type | required |", "|---|---|---|---|"]
                for p in params:
                    req = "yes" if p.get("required") else ""
                    out.append(f"| `{p['name']}` | {p['in']} | {_type(p.get('schema', {}))} | {req} |")
                out.append("")
            body = op.get("requestBody", {}).get("content", {})
            if body:
                kinds = ", ".join(f"`{k}`" for k in body)
                ref = next(iter(body.values())).get("schema", {}).get("$ref", "")
                out += [f"Body: {kinds}" + (f" ({ref.rsplit('/', 1)[-1]})" if ref else ""), ""]
            codes = ", ".join(f"`{c}`" for c in op.get("responses", {}))
            out += [f"Answers: {codes}", ""]
    schemas = doc.get("components", {}).get("schemas", {})
    wanted = ("Decision", "Correction", "DisputeIn", "DisputeDecision", "StatementJob", "Problem")
    bodies = {k: v for k, v in schemas.items() if k in wanted}
    if bodies:
        out += ["## Bodies", ""]
        for name, schema in bodies.items():
            out += [f"### {name}", "", "| field | type | required |", "|---|---|---|"]
            required = set(schema.get("required", []))
            for field, s in schema.get("properties", {}).items():
                out.append(f"| `{field}` | {_type(s)} | {'yes' if field in required else ''} |")
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def main() -> None:
    text = render(document())
    if "--check" in sys.argv:
        sys.exit(0 if PAGE.read_text() == text else 1)
    PAGE.write_text(text)


if __name__ == "__main__":
    main()
